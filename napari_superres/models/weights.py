"""Weights files: safetensors with napari-superres metadata (never pickles), where the shipped ones
live, and reading / writing them.

Metadata (all strings, as safetensors requires): ``arch``, ``scale``, ``config`` (JSON),
``in_channels``, ``degradation`` (JSON), ``training_data``, ``set5_psnr`` and the commands that
made them; :func:`read_metadata` reads them from the JSON header alone (no torch).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from ..errors import SuperResError, first_line
from .spec import SRModel, build

WEIGHTS_DIR = Path(__file__).parent / "weights"
# metadata of the noise-robust bicubic weights: what ``degradation="auto"``, blending them, gained on the
# real validation images (``bench --real --record``); a figure of the blend, not of these weights alone
AUTO_REAL_GAIN = "real_gain_auto"


def weights_path(
    name: str, scale: int, family: str = "bicubic", sigma: float | None = None, noise_robust: bool = False
) -> Path:
    """The shipped weights of a named model at ``scale`` trained for a degradation ``family``.

    ``noise_robust``: the family's weights trained with Poisson-Gaussian noise where they are a
    separate file (``NAME_xS_bicubic_noise``: the bicubic weights stay the benchmark protocol's,
    trained on clean photographs; a noise-robust copy gives up 0.4 dB on Set5 and stops drawing
    texture over a noisy background). Every other family's weights are noise-robust already.

    A Gaussian PSF of width ``sigma`` (HR pixels) takes the weights trained for the widest PSF that
    is not wider than it (``NAME_xS_gaussian_sSIGMA``): a model told of more blur than there is
    over-sharpens (measured: -3 dB on real images with sigma 1.0 weights on a sigma 0.5 PSF), one
    told of less only restores less. Below every trained width it takes the binning weights (a PSF
    of no width), or the narrowest width without them; without per-width files, the family's file
    (``NAME_xS_gaussian``).
    """
    if family == "gaussian" and sigma is not None:
        widths = gaussian_widths(name, scale)
        fit = [w for w in widths if w <= sigma * 1.05]
        if fit:
            return weights_path(name, scale, f"gaussian_s{fit[-1]:g}")
        if widths:
            binned = weights_path(name, scale, "binning")
            return binned if binned.exists() else weights_path(name, scale, f"gaussian_s{widths[0]:g}")
    suffix = "" if family == "bicubic" else f"_{family}"
    robust = WEIGHTS_DIR / f"{name}_x{scale}_{family}_noise.safetensors"
    if noise_robust and robust.exists():
        return robust
    return WEIGHTS_DIR / f"{name}_x{scale}{suffix}.safetensors"


def gaussian_widths(name: str, scale: int) -> list[float]:
    """The Gaussian PSF widths (sigma, HR pixels) a named model ships weights for at ``scale``."""
    out = []
    for p in WEIGHTS_DIR.glob(f"{name}_x{scale}_gaussian_s*.safetensors"):
        try:
            out.append(float(p.name[: -len(".safetensors")].rpartition("_s")[2]))
        except ValueError:
            continue
    return sorted(out)


def shipped_scales(name: str, family: str = "bicubic") -> list[int]:
    """The scales a named model ships weights for, for a degradation family."""
    out = set()
    for p in WEIGHTS_DIR.glob(f"{name}_x*.safetensors"):
        tail = p.name[len(name) + 2 : -len(".safetensors")]
        s, _, fam = tail.partition("_")
        if s.isdigit() and not fam.endswith("_noise") and (fam.partition("_")[0] or "bicubic") == family:
            out.add(int(s))
    return sorted(out)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file, read from its JSON header (no torch needed)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError
            (n,) = struct.unpack("<Q", head)
            if n > 100_000_000:
                raise ValueError
            header = json.loads(fh.read(n))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SuperResError(
            f"{p} is not a safetensors file; give a .safetensors weights file saved by napari-superres"
        ) from exc
    except OSError as exc:
        raise SuperResError(f"cannot read weights file {p}: {exc.strerror or exc}") from exc
    return dict(header.get("__metadata__") or {})


def from_safetensors(path: Path, name: str | None = None) -> SRModel:
    meta = read_metadata(path)
    from safetensors.torch import load_file

    try:
        arch = meta["arch"]
        scale = int(meta["scale"])
        config = json.loads(meta.get("config", "{}"))
    except (KeyError, ValueError) as exc:
        raise SuperResError(
            f"{path} has no napari-superres metadata (arch, scale, config); "
            "save weights with napari_superres.train or load them into the architecture yourself"
        ) from exc
    if not isinstance(config, dict):
        raise SuperResError(
            f"{path} has a config that is not a set of named settings ({meta.get('config')}); the file is damaged or not ours"
        )
    config.setdefault("in_channels", int(meta.get("in_channels", 1)))
    try:
        model = build(arch, scale, config, name=name or path.stem)
    except SuperResError:
        raise
    except (TypeError, ValueError, KeyError) as exc:  # settings the architecture does not take
        raise SuperResError(
            f"{path} has a config that {arch} x{scale} does not accept ({exc}); the file is damaged or not ours"
        ) from None
    try:
        state = load_file(str(path))
    except Exception as exc:  # SafetensorError and OSError: truncated or damaged after its header
        raise SuperResError(
            f"cannot read the tensors of {path} ({first_line(exc)}); the file is truncated or damaged: copy it again"
        ) from None
    try:
        model.module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise SuperResError(f"weights in {path} do not match {arch} x{scale} ({first_line(exc)})") from exc
    model.metadata = meta
    model.degradation = trained_degradation(meta)
    return model


def trained_degradation(meta: dict) -> str:
    """The degradation family weights were trained for, from their metadata ("bicubic" when unsaid)."""
    try:
        rec = json.loads(meta.get("degradation") or "{}")
    except ValueError:
        return "bicubic"
    if not isinstance(rec, dict):
        return "bicubic"
    if rec.get("kind") == "bicubic" and rec.get("blur_sigma"):  # older files: a blur, then bicubic
        return f"bicubic after a blur of {rec['blur_sigma']} px"
    return str(rec.get("name") or rec.get("kind") or "bicubic")


def save_weights(model, path: str | Path, metadata: dict) -> Path:
    """Save a model's weights as safetensors with string metadata, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def update_metadata(path: str | Path, **entries) -> None:
    """Add or replace metadata entries of a safetensors file, keeping its tensors."""
    from safetensors.torch import load_file, save_file

    path = Path(path)
    meta = read_metadata(path)
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in entries.items()})
    tensors = load_file(str(path))
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
