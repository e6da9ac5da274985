"""Model registry: build any architecture by name, load shipped or user weights safely.

Every loaded model carries a descriptor (spandrel-style) with what the pipeline needs: scale,
channels, receptive-field radius (``halo``), size multiple, whether tiling is exact, and the
provenance of its weights.

>>> from napari_superres.models import load_model
>>> m = load_model("bicubic", scale=3)
>>> m.scale, m.halo, m.exact_tiling
(3, 2, True)
"""

from __future__ import annotations

import difflib
import importlib
import json
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SuperResError

WEIGHTS_DIR = Path(__file__).parent / "weights"
ENSEMBLE_SUFFIX = "+x8"  # NAME+x8: self-ensemble (models/ensemble.py), parsed here without importing torch
_ARCH_MODULES = (
    "bicubic",
    "ibp",
    "espcn",
    "axial",
    "srcnn",
    "fsrcnn",
    "vdsr",
    "drrn",
    "lapsrn",
    "edsr",
    "rdn",
    "rcan",
    "dbpn",
)

# Named models a user can pick: architecture, configuration, and whether weights are needed.
NAMED: dict[str, dict[str, Any]] = {
    "bicubic": {"arch": "bicubic", "config": {}, "trained": False},
    "ibp": {"arch": "ibp", "config": {"iterations": 10}, "trained": False},
    "espcn": {"arch": "espcn", "config": {}, "trained": True},
    # the deep-CNN family: published configurations and "lite" ones that train on a CPU
    "srcnn": {"arch": "srcnn", "config": {}, "trained": True},
    "fsrcnn": {"arch": "fsrcnn", "config": {}, "trained": True},
    "vdsr": {"arch": "vdsr", "config": {}, "trained": True},
    "vdsr-lite": {"arch": "vdsr", "config": {"layers": 10, "features": 32}, "trained": True},
    "drrn": {"arch": "drrn", "config": {}, "trained": True},
    "drrn-lite": {"arch": "drrn", "config": {"units": 9, "features": 32}, "trained": True},
    "lapsrn": {"arch": "lapsrn", "config": {}, "trained": True},
    "lapsrn-lite": {"arch": "lapsrn", "config": {"depth": 5, "features": 32}, "trained": True},
    "edsr-baseline": {"arch": "edsr", "config": {"blocks": 16, "features": 64}, "trained": True},
    "edsr": {"arch": "edsr", "config": {"blocks": 32, "features": 256, "res_scale": 0.1}, "trained": True},
    "edsr-lite": {"arch": "edsr", "config": {"blocks": 16, "features": 32, "skip": True}, "trained": True},
    "rdn": {"arch": "rdn", "config": {}, "trained": True},
    "rdn-lite": {"arch": "rdn", "config": {"d": 4, "c": 4, "g": 16, "g0": 32, "skip": True}, "trained": True},
    "rcan": {"arch": "rcan", "config": {}, "trained": True},
    "rcan-lite": {
        "arch": "rcan",
        "config": {"groups": 3, "blocks": 4, "features": 32, "skip": True},
        "trained": True,
    },
    "dbpn": {"arch": "dbpn", "config": {}, "trained": True},
    "dbpn-recursive": {"arch": "dbpn", "config": {"recursive": True}, "trained": True},
    "dbpn-lite": {
        "arch": "dbpn",
        "config": {"stages": 3, "features": 32, "entry": 64, "skip": True},
        "trained": True,
    },
}
DEFAULT = "espcn"

# Models a user trained or added in this session, by name: weights files (see :func:`register`).
USER: dict[str, Path] = {}
_LISTENERS: list = []


def register(path: str | Path, name: str | None = None) -> str:
    """Make a weights file pickable by ``name`` (its stem by default) everywhere; returns the name.

    Widgets listening with :func:`on_registry_change` refresh their model lists at once.
    """
    p = Path(path).expanduser().resolve()
    meta = read_metadata(p)
    if "arch" not in meta or "scale" not in meta:
        raise SuperResError(
            f"{p} has no napari-superres metadata (arch, scale); save it with train(..., out=)"
        )
    key = name or p.name.split(".")[0]
    if key in NAMED or key == "default":
        raise SuperResError(f"{key!r} is the name of a shipped model; choose another name")
    USER[key] = p
    for ref in list(_LISTENERS):
        listener = ref()
        if listener is None:
            _LISTENERS.remove(ref)
            continue
        try:
            listener()
        except RuntimeError:  # a widget whose Qt object is gone
            _LISTENERS.remove(ref)
    return key


def on_registry_change(callback) -> None:
    """Call ``callback()`` whenever :func:`register` adds a model (held weakly: widgets can close)."""
    import weakref

    _LISTENERS.append(
        weakref.WeakMethod(callback) if hasattr(callback, "__self__") else weakref.ref(callback)
    )


def _arch(name: str) -> dict:
    if name not in _ARCH_MODULES:
        raise SuperResError(f"unknown architecture {name!r}; known: {', '.join(_ARCH_MODULES)}")
    return importlib.import_module(f"{__name__}.{name}").ARCH


def weights_path(name: str, scale: int, family: str = "bicubic") -> Path:
    """The shipped weights of a named model at ``scale`` trained for a degradation ``family``."""
    suffix = "" if family == "bicubic" else f"_{family}"
    return WEIGHTS_DIR / f"{name}_x{scale}{suffix}.safetensors"


def _degradation(value):
    """A parsed :class:`~napari_superres.degradation.Degradation`; bad values become a SuperResError."""
    from ..degradation import DegradationError, parse_degradation

    if isinstance(value, str) and value.strip().lower() == "auto":
        raise SuperResError(
            "degradation='auto' is estimated from an image; pass it to upscale(), or name a degradation here"
        )
    try:
        return parse_degradation(value)
    except DegradationError as exc:
        raise SuperResError(str(exc)) from None


def degradation_models(family: str, scale: int | None = None) -> list[str]:
    """Named models with shipped weights for a degradation family (at ``scale``, if given)."""
    return [
        name
        for name, entry in NAMED.items()
        if entry["trained"]
        and (shipped_scales(name, family) if scale is None else weights_path(name, scale, family).exists())
    ]


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


_FORMAT_LOCK = threading.Lock()


@dataclass
class SRModel:
    """A ready-to-run model and its descriptor.

    Call it on a float tensor ``(N, C, H, W)`` scaled to [0, 1] to get ``(N, C, H*s, W*s)``.
    """

    name: str
    arch: str
    scale: int
    in_channels: int
    halo: int
    exact_tiling: bool
    size_multiple: int
    module: Any
    config: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    min_size: int = 3
    axial: bool = False  # enlarges rows only (isotropic mode), not Y and X
    origin: str | None = None  # the registry name or weights file it was loaded from (None: built in memory)
    degradation: str = "bicubic"  # the degradation the weights were trained for (or the one given)
    _channels_last: bool = field(default=False, repr=False, compare=False)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    @property
    def token(self) -> str:
        """A hash of architecture, configuration and weights: the same model gives the same token."""
        import hashlib

        h = hashlib.sha256(json.dumps([self.arch, self.scale, self.config], sort_keys=True).encode())
        for k, v in sorted(self.module.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def to(self, device) -> SRModel:
        import torch

        dev = torch.device(device)
        if dev.type == "cuda":
            # TF32 convolutions (cuDNN's default on Ampere and later) differ by ~1e-3 between tile sizes,
            # which breaks "tiled == whole"; full fp32 keeps tiles exact.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        self.module.to(dev)
        return self

    def __call__(self, x):
        import torch

        with torch.inference_mode():
            if x.device.type == "cpu" and x.ndim == 4:
                # channels-last convolutions run ~1.4x faster on CPUs (scripts/cpu_options.py,
                # docs/benchmarks.md); the same values, another memory layout
                if not self._channels_last:
                    with _FORMAT_LOCK:
                        self.module.to(memory_format=torch.channels_last)
                        self._channels_last = True
                x = x.contiguous(memory_format=torch.channels_last)
            return self.module(x)

    def __repr__(self) -> str:
        return (
            f"SRModel({self.name!r}, arch={self.arch!r}, scale={self.scale}, halo={self.halo}, "
            f"exact_tiling={self.exact_tiling}, parameters={self.parameters})"
        )


def build(arch: str, scale: int, config: dict | None = None, name: str | None = None) -> SRModel:
    """A freshly initialised model of architecture ``arch``."""
    spec = _arch(arch)
    config = dict(config or {})
    in_channels = int(config.pop("in_channels", 1))
    if scale not in spec["scales"]:
        raise SuperResError(
            f"{arch} has no x{scale} variant; available scales: {', '.join(map(str, spec['scales']))}"
        )
    module = spec["build"](scale=scale, in_channels=in_channels, **config)
    module.eval()
    return SRModel(
        name=name or arch,
        arch=arch,
        scale=scale,
        in_channels=in_channels,
        halo=int(spec["halo"](config, scale)),
        exact_tiling=bool(
            spec["exact_tiling"](config) if callable(spec["exact_tiling"]) else spec["exact_tiling"]
        ),
        size_multiple=int(spec["size_multiple"]),
        module=module,
        config=config,
        axial=bool(spec.get("axial", False)),
    )


def _from_safetensors(path: Path, name: str | None = None) -> SRModel:
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
    config.setdefault("in_channels", int(meta.get("in_channels", 1)))
    model = build(arch, scale, config, name=name or path.stem)
    state = load_file(str(path))
    try:
        model.module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise SuperResError(f"weights in {path} do not match {arch} x{scale} ({first})") from exc
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


def load_model(
    name_or_path: str | Path | SRModel = "default",
    scale: int = 2,
    config: dict | None = None,
    degradation=None,
) -> SRModel:
    """A model by registry name (``"default"``, ``"espcn"``, ``"bicubic"``, ...) or weights file.

    A file is a ``.safetensors`` saved by napari-superres, or a state dict from elsewhere
    (``.safetensors``, ``.pt``, ``.pth``, ``.ckpt``, ``.bin``; never unpickled): the architecture and
    configuration are detected from its tensors (``scale`` is used only where they do not show it:
    SRCNN, FSRCNN, VDSR, DRRN), and other networks load through ``spandrel`` if it is installed.
    ``config`` states the options such a state dict cannot show (``{"skip": True}``, ``{"act":
    "tanh"}``, DRRN's ``{"units": 9}``, ...); the model is then held in memory (``origin`` None).

    ``NAME+x8`` averages the model over the 8 flips and turns of its input (self-ensemble, 8x the
    time); ``NAME+bpN`` adds N steps of back-projection onto the input after the model (consistency).

    ``degradation`` says how the image was made (``"bicubic"``, the default; ``"binning"``;
    ``"gaussian:SIGMA"``; a PSF kernel array or file): a named model then loads its weights trained
    for that family (``espcn``, ``edsr-lite``), ``ibp`` and back-projection use it as their
    operator. A weights file keeps the degradation it was trained for.

    Raises :class:`SuperResError` with the close names for an unknown name, and the available
    scales for a scale the model lacks.
    """
    if isinstance(name_or_path, SRModel):
        return name_or_path
    deg = _degradation(degradation)
    key = str(name_or_path)
    if key.endswith(ENSEMBLE_SUFFIX) and len(key) > len(ENSEMBLE_SUFFIX):  # "edsr-lite+x8": self-ensemble
        from .ensemble import with_self_ensemble

        return with_self_ensemble(
            load_model(key[: -len(ENSEMBLE_SUFFIX)], scale, config=config, degradation=deg)
        )
    if config is not None:  # options for a state dict from elsewhere: checked here, used below
        if not isinstance(config, dict):
            raise SuperResError(f"config must be a dict of architecture options, got {type(config).__name__}")
        if not Path(key).expanduser().is_file():
            raise SuperResError(
                f"config= applies to a weights file from elsewhere; {key!r} is not a file "
                "(named models and our own files record their configuration)"
            )
    base, sep, steps = key.rpartition("+bp")
    if sep and steps.isdigit() and base:  # "espcn+bp5": the model, then 5 back-projection steps
        from .consistency import with_consistency

        told = deg if degradation is not None else None  # unsaid: the weights' own degradation
        return with_consistency(load_model(base, scale, degradation=deg), int(steps), told)
    if key == "default":
        key = DEFAULT
    if key in NAMED:
        entry = NAMED[key]
        scale = _check_scale(scale)
        if not entry["trained"]:
            config = dict(entry["config"])
            if entry["arch"] == "ibp" and deg.kind != "bicubic":  # back-projection under this degradation
                config["degradation"] = str(deg) if deg.kind != "kernel" else [list(r) for r in deg.kernel]
            model = build(entry["arch"], scale, config, name=key)
            model.metadata = {"arch": entry["arch"], "training": "none (classical method)"}
            model.origin = key if len(config) == len(entry["config"]) else None
            model.degradation = str(deg)
            return model
        path = weights_path(key, scale, deg.family)
        if not path.exists():
            if deg.family != "bicubic" and weights_path(key, scale).exists():
                have = degradation_models(deg.family, scale)
                raise SuperResError(
                    f"model {key!r} has no x{scale} weights for degradation {deg}; models trained for "
                    f"{deg.family} at x{scale}: {', '.join(have) or 'none'} (or degradation 'bicubic')"
                )
            have = shipped_scales(key)
            raise SuperResError(
                f"model {key!r} has no x{scale} weights; it has "
                f"{', '.join(f'x{s}' for s in have) or 'none'} (use one of those or the 'ibp' model)"
            )
        model = _from_safetensors(path, name=key)
        # a registry name reloads the bicubic weights; other families load from their file
        model.origin = key if deg.family == "bicubic" else str(path)
        model.degradation = str(deg) if deg.family != "bicubic" else "bicubic"
        return model
    if key in USER:
        model = _from_safetensors(USER[key], name=key)
        model.origin = str(USER[key])
        if model.scale != _check_scale(scale):
            raise SuperResError(
                f"model {key!r} enlarges x{model.scale}, not x{scale}; pass scale={model.scale}"
            )
        return model
    path = Path(key).expanduser()
    from .foreign import STATE_DICT_SUFFIXES, load_state_dict_file

    if path.suffix.lower() in STATE_DICT_SUFFIXES or path.exists():
        if not path.exists():
            raise SuperResError(f"weights file {path} does not exist; check the path")
        if path.suffix.lower() == ".safetensors" and "arch" in read_metadata(path):
            if config is not None:
                raise SuperResError(f"{path.name} records its own configuration; load it without config=")
            model = _from_safetensors(path)
        else:  # a state dict from elsewhere: architecture and configuration from its tensors
            model = load_state_dict_file(path, _check_scale(scale), config)
        # stated options live only in this object (workers get it whole); else reload from the file
        model.origin = str(path.resolve()) if config is None else None
        return model
    close = difflib.get_close_matches(key, [*NAMED, "default"], n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise SuperResError(
        f"unknown model {key!r}.{hint} Known models: {', '.join(['default', *NAMED])}, or a weights file path"
    )


def _check_scale(scale) -> int:
    try:
        s = int(scale)
    except (TypeError, ValueError):
        raise SuperResError(f"scale must be an integer from 2 to 8 for a model, got {scale!r}") from None
    if s != scale or not 2 <= s <= 8:
        raise SuperResError(f"scale must be an integer from 2 to 8 for a model, got {scale!r}")
    return s


def shipped_scales(name: str, family: str = "bicubic") -> list[int]:
    """The scales a named model ships weights for, for a degradation family."""
    out = []
    for p in WEIGHTS_DIR.glob(f"{name}_x*.safetensors"):
        tail = p.name[len(name) + 2 : -len(".safetensors")]
        s, _, fam = tail.partition("_")
        if s.isdigit() and (fam or "bicubic") == family:
            out.append(int(s))
    return sorted(out)


def list_models() -> list[dict]:
    """Every named model: architecture, scales, whether weights ship, and their measured quality.

    Reads only file headers: no torch import.
    """
    out = []
    for name, entry in NAMED.items():
        row = {"name": name, "arch": entry["arch"], "default": name == DEFAULT, "trained": entry["trained"]}
        if entry["trained"]:
            row["trainable_scales"] = list(_arch(entry["arch"])["scales"])
            row["scales"] = shipped_scales(name)
            row["shipped"] = bool(row["scales"])
            row["quality"] = {
                s: read_metadata(weights_path(name, s)).get("set5_psnr", "") for s in row["scales"]
            }
            from ..degradation import FAMILIES

            row["degradations"] = {
                fam: shipped_scales(name, fam) for fam in FAMILIES if shipped_scales(name, fam)
            }
        else:
            row["scales"] = list(range(2, 9))
            row["shipped"] = True
            row["quality"] = {}
        out.append(row)
    for name, path in USER.items():
        meta = read_metadata(path)
        s = int(meta["scale"])
        quality = {
            s: meta.get("set5_psnr", "") or (f"val {meta['val_psnr']}" if meta.get("val_psnr") else "")
        }
        out.append(
            {
                "name": name,
                "arch": meta["arch"],
                "default": False,
                "trained": True,
                "scales": [s],
                "shipped": True,
                "quality": quality,
                "path": str(path),
            }
        )
    return out
