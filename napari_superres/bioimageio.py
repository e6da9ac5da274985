"""Export a model as a BioImage Model Zoo (bioimage.io) package, format 0.5, and test one.

The package holds the weights as a PyTorch state dict of plain tensors (loadable with
``torch.load(weights_only=True)``; nothing pickled beyond that) and the architecture as one source
file (:func:`~napari_superres.models.package.architecture_source`) with its keyword arguments; the
input and output axes (the output's pixel is 1/scale of the input's, the halo the model reads);
``scale_linear`` pre- and post-processing that are our ``normalize=(lo, hi)`` and its inverse; a test
input (a crop of the bundled photograph's luma, in ``lo..hi``) and the output our own pipeline makes
of it; a cover image; a README with the degradation, training and the measured figures from the
weights' metadata; the architecture's paper. TorchScript weights are added when a trace reproduces the
state-dict output within 1e-5 on a second, other-sized input (none of our architectures' bicubic
skips traces so; see docs/bioimageio.md).

Needs ``bioimageio.spec`` (and ``bioimageio.core`` for :func:`check_package`): ``pip install
'napari-superres[bioimageio]'``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import SuperResError, first_line, opt

TEST_SIZE = 64  # input pixels of the test tensor's side
CITE_SELF = "napari-superres: lazy, tiled CNN super-resolution for napari"
PROJECT_URL = "https://github.com/napari-superres/napari-superres"
METRIC_KEYS = ("set5_psnr", "set14_psnr", "b100_psnr", "val_psnr")


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SuperResError(
            f"bioimage.io export and tests need {module.split('.')[0]}.{module.split('.')[1]}: "
            "pip install 'napari-superres[bioimageio]'"
        ) from None


def _test_image(lo: float, hi: float, size: int) -> np.ndarray:
    """A crop of the bundled photograph's luma, mapped to ``lo..hi`` (float32)."""
    from importlib.resources import files

    from .io import read_image_file
    from .metrics import rgb_to_y

    y = (
        rgb_to_y(read_image_file(files("napari_superres") / "data" / "astronaut.png"))[
            80 : 80 + size, 180 : 180 + size
        ]
        / 255.0
    )
    return (lo + y * (hi - lo)).astype(np.float32)


def _cover(lr: np.ndarray, sr: np.ndarray, scale: int, path: Path) -> None:
    """Left: the input enlarged by pixel repetition; right: the model's output (2:1, 8-bit)."""
    from PIL import Image

    big = np.kron(lr, np.ones((scale, scale), np.float32))
    both = np.concatenate([big, sr], axis=1)
    lo, hi = np.percentile(both, [0.5, 99.5])
    img = np.clip((both - lo) / max(hi - lo, 1e-12) * 255, 0, 255).astype(np.uint8)
    Image.fromarray(img).resize((512, 256), Image.Resampling.NEAREST).save(path)


def _torchscript(module, x, path: Path, tol: float = 1e-5) -> str:
    """Save a trace of ``module`` when it reproduces it on another input size; the reason if not."""
    import warnings

    import torch

    other = torch.rand(1, x.shape[1], x.shape[2] + 7, x.shape[3] + 3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, x, check_trace=False)
        with torch.no_grad():
            diff = float((traced(other) - module(other)).abs().max())
    except Exception as e:  # noqa: BLE001  a trace that fails is left out, said in the README
        return f"not included: tracing failed on another input size ({first_line(e)})"
    if not diff <= tol:
        return f"not included: a trace differs by {diff:.2g} on another input size"
    traced.save(str(path))
    return ""


def _readme(model, scale: int, lo: float, hi: float, halo: int, ts_note: str, spec: dict) -> str:
    from .models import AUTO_REAL_GAIN

    meta = model.metadata or {}
    figures = [
        f"- {k.replace('_', ' ').replace('psnr', 'PSNR')}: {meta[k]} dB" for k in METRIC_KEYS if k in meta
    ]
    figures += [  # the real-data figures of these weights (auto's is its blend's, not theirs)
        f"- real data, {k[len('real_gain_') :].replace('_', ':')}: {v}"
        for k, v in sorted(meta.items())
        if k.startswith("real_gain_") and k != AUTO_REAL_GAIN
    ]
    lines = [
        f"# {model.name} x{scale} ({model.degradation}), exported by napari-superres",
        "",
        f"Single-image super-resolution by {spec.get('paper', model.arch)}; enlarges y and x by {scale}.",
        "",
        "## What it expects",
        f"- One channel (grey or luma), values in {lo:g}..{hi:g}: the preprocessing maps that range to [0, 1]"
        " as napari-superres's `normalize=(lo, hi)` does, and the postprocessing maps the output back.",
        f"- Degradation the weights were trained for: **{model.degradation}** (how the low-resolution image"
        " was made from the high-resolution one; see napari-superres docs/real-data.md).",
        f"- Halo: the network reads {halo} input pixels around each tile"
        f" ({'tiles are exact' if model.exact_tiling else 'tiles are not exactly seam-free'}).",
        "",
        "## Training",
        f"- Data: {meta.get('training_data', 'not recorded')}",
        f"- Steps: {meta.get('steps', 'not recorded')}; command: `{meta.get('command', 'not recorded')}`",
        "",
        "## Measured (napari-superres `bench`, recorded in the weights' metadata)",
        *(figures or ["- no figures were recorded for these weights"]),
        "",
        "## Weights",
        "- pytorch_state_dict: plain tensors (`torch.load(weights_only=True)`), architecture in"
        f" `architecture.py` (`{spec['build'].__name__}`).",
        f"- TorchScript: {ts_note or 'included (a trace that reproduces the state dict within 1e-5)'}.",
        "",
        "## Reproduce in napari-superres",
        f"`napari-superres upscale IMAGE OUT --model PACKAGE.zip --normalize {lo:g},{hi:g}`",
        "",
    ]
    return "\n".join(lines)


def export_bioimageio(
    model="default",
    path: str | os.PathLike = "model.zip",
    scale: int | None = None,
    *,
    degradation=None,
    normalize=(0.0, 255.0),
    authors=None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` (a name, weights file or :class:`SRModel`) as a bioimage.io package ``path`` (.zip).

    ``normalize`` is the value range of the data the package will be given (``(0, 255)`` for 8-bit,
    ``(0, 65535)`` for 16-bit full range, or the range of your data); it becomes the package's
    pre- and post-processing. Returns the package's path.
    """
    spec_mod = _need("bioimageio.spec")
    v = _need("bioimageio.spec.model.v0_5")
    import torch

    from .api import upscale
    from .engine.options import check_normalize
    from .models import load_model
    from .models.package import architecture_source
    from .models.spec import architecture

    out = Path(path).expanduser()
    if out.suffix.lower() != ".zip":
        raise SuperResError(
            f"a bioimage.io package is a .zip file; give an output name ending in .zip, not {out.name}"
        )
    if out.exists() and not overwrite:
        raise SuperResError(f"{out} exists; choose another name or replace it: {opt('overwrite', True)}")
    m = load_model(model, scale, degradation=degradation)
    if m.arch not in _exportable() or type(m.module).__name__ != architecture(m.arch)["build"].__name__:
        raise SuperResError(
            f"model {m.name!r} ({m.arch}) cannot be exported: only trained networks of napari-superres's own "
            f"architectures can ({', '.join(_exportable())}); self-ensembles and back-projection wrap them"
        )
    lo, hi = check_normalize(normalize) if normalize is not None else (0.0, 1.0)
    spec = architecture(m.arch)
    s, halo = m.scale, m.halo
    kwargs = {"scale": s, "in_channels": m.in_channels, **json.loads(json.dumps(m.config))}
    with tempfile.TemporaryDirectory(prefix="superres-bioimageio-") as tmp:
        d = Path(tmp)
        state = {k: v_.detach().cpu().contiguous() for k, v_ in m.module.state_dict().items()}
        torch.save(state, d / "weights.pt")
        (d / "architecture.py").write_text(architecture_source(m.arch))
        test_in = _test_image(lo, hi, TEST_SIZE)
        test_out = np.asarray(
            upscale(test_in, m, s, normalize=(lo, hi), device="cpu", degradation=None)
        ).astype(np.float32)
        np.save(d / "test_input.npy", test_in[None, None])
        np.save(d / "test_output.npy", test_out[None, None])
        _cover(test_in, test_out, s, d / "cover.png")
        unit = torch.from_numpy((test_in[None, None] - lo) / (hi - lo))
        ts_note = _torchscript(m.module.eval(), unit, d / "weights_torchscript.pt")
        (d / "README.md").write_text(_readme(m, s, lo, hi, halo, ts_note, spec))
        weights = {
            "pytorch_state_dict": v.PytorchStateDictWeightsDescr(
                source=d / "weights.pt",
                architecture=v.ArchitectureFromFileDescr(
                    source=d / "architecture.py", callable=spec["build"].__name__, kwargs=kwargs
                ),
                pytorch_version=v.Version(torch.__version__.split("+")[0]),
            )
        }
        if not ts_note:
            weights["torchscript"] = v.TorchscriptWeightsDescr(
                source=d / "weights_torchscript.pt",
                pytorch_version=v.Version(torch.__version__.split("+")[0]),
                parent="pytorch_state_dict",
            )
        descr = _description(v, m, s, halo, lo, hi, d, weights, spec, authors)
        tmp_out = out.with_name(f".{out.name}.partial")
        try:
            spec_mod.save_bioimageio_package(descr, output_path=tmp_out)
        except Exception as e:  # noqa: BLE001  say what the spec library objected to, in one line
            tmp_out.unlink(missing_ok=True)
            raise SuperResError(f"the bioimage.io package could not be written ({first_line(e)})") from None
        os.replace(tmp_out, out)
    return out


def _exportable() -> tuple[str, ...]:
    from .models.spec import NAMED, architectures

    untrained = {e["arch"] for e in NAMED.values() if not e["trained"]}
    return tuple(a for a in architectures() if a not in untrained and a != "axial")


def _description(v, m, s, halo, lo, hi, d, weights, spec, authors):
    """The ModelDescr (format 0.5) of an export."""
    from ._version import __version__

    ch = v.ChannelAxis(channel_names=[v.Identifier("intensity")])
    size = v.ParameterizedSize(min=max(m.min_size, 2 * halo + 1, 8), step=max(1, m.size_multiple))
    inp = v.InputTensorDescr(
        id=v.TensorId("input"),
        description=f"one channel, values in {lo:g}..{hi:g}",
        axes=[
            v.BatchAxis(),
            ch,
            v.SpaceInputAxis(id=v.AxisId("y"), size=size, scale=float(s)),
            v.SpaceInputAxis(id=v.AxisId("x"), size=size, scale=float(s)),
        ],
        test_tensor=v.FileDescr(source=d / "test_input.npy"),
        data=v.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=[
            v.ScaleLinearDescr(kwargs=v.ScaleLinearKwargs(gain=1.0 / (hi - lo), offset=-lo / (hi - lo)))
        ],
    )
    out_axes = [
        v.BatchAxis(),
        ch,
        *(
            v.SpaceOutputAxisWithHalo(
                id=v.AxisId(a),
                size=v.SizeReference(tensor_id=v.TensorId("input"), axis_id=v.AxisId(a)),
                scale=1.0,
                halo=halo * s,
            )
            for a in ("y", "x")
        ),
    ]
    outp = v.OutputTensorDescr(
        id=v.TensorId("output"),
        description=f"the input enlarged x{s} in y and x, in the input's units",
        axes=out_axes,
        test_tensor=v.FileDescr(source=d / "test_output.npy"),
        data=v.IntervalOrRatioDataDescr(type="float32"),
        postprocessing=[v.ScaleLinearDescr(kwargs=v.ScaleLinearKwargs(gain=hi - lo, offset=lo))],
    )
    people = [v.Author(**a) if isinstance(a, dict) else v.Author(name=str(a)) for a in (authors or [])]
    return v.ModelDescr(
        name=f"napari-superres {m.name} x{s} {m.degradation.replace(':', ' sigma ')}",
        description=f"Super-resolution x{s} ({spec.get('paper', m.arch).split(',')[0]}), trained for the "
        f"{m.degradation} degradation; exported by napari-superres {__version__}.",
        authors=people or [v.Author(name="napari-superres contributors")],
        cite=[
            v.CiteEntry(text=spec["paper"], url=v.HttpUrl(spec["paper_url"])),
            v.CiteEntry(text=CITE_SELF, url=v.HttpUrl(PROJECT_URL)),
        ],
        license=v.LicenseId("BSD-3-Clause"),
        documentation=v.FileDescr(source=d / "README.md"),
        covers=[v.FileDescr(source=d / "cover.png")],
        tags=["super-resolution", "2d", "pytorch", m.arch, f"x{s}", "napari-superres"],
        inputs=[inp],
        outputs=[outp],
        weights=v.WeightsDescr(**weights),
        config={
            "napari_superres": {
                "arch": m.arch,
                "config": json.loads(json.dumps(m.config)),
                "scale": s,
                "halo": halo,
                "exact_tiling": m.exact_tiling,
                "degradation": m.degradation,
                "normalize": [lo, hi],
                "version": __version__,
                "metadata": {k: str(val) for k, val in (m.metadata or {}).items() if k != "command"},
            }
        },
    )


def check_package(path: str | os.PathLike) -> tuple[bool, str]:
    """``bioimageio test`` of a package (bioimageio.core): whether it passed and the summary's text."""
    core = _need("bioimageio.core")
    summary = core.test_model(str(path))
    text = summary.format() if hasattr(summary, "format") else str(summary)
    return summary.status == "passed", text
