"""Isotropic restoration of anisotropic volumes: enlarge Z until it matches the XY pixel size.

Light-sheet and confocal stacks are often sampled several times more coarsely in Z than in XY.
The XY planes show what the sample looks like at full resolution, so a network can learn, from
the stack itself, to undo the Z sampling (Weigert et al. 2017, self-supervised):

1. **Train** an axial network (:mod:`napari_superres.models.arch.axial`) on the stack's own XY planes,
   degraded along one axis as Z is: blurred along that axis (``blur_sigma``, the axial PSF in
   XY pixels, optional), then subsampled by the factor. Patches are taken in both orientations.
2. **Apply** it to every XZ and every YZ plane (rows along Z) and average the two results.

Lazily and seam-free: the volume is processed in slabs along Y, each read with a halo as wide as
the network's reach along Y, so the result equals the whole-volume result. The Z scale becomes
``sz / factor`` and the Z origin moves by ``-sz (factor - 1) / (2 factor)`` (centres overlay).

Limits: it restores what the XY planes teach; structures that only exist along Z, or an axial
PSF far wider than the lateral one and not given as ``blur_sigma``, are not recovered. It needs
a Z spacing coarser than XY (it refuses otherwise).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from .errors import SuperResError, opt


def _factor(src, factor) -> int:
    axes = src.axes
    if "Z" not in axes:
        raise SuperResError(f"the isotropic mode needs a Z axis; the image has axes {axes}")
    sz, sy, sx = (float(src.scale[axes.index(a)]) for a in "ZYX")
    if factor is None:
        if sz <= max(sy, sx) * 1.01:
            raise SuperResError(
                f"the Z spacing ({sz:g}) is not coarser than XY ({sy:g} x {sx:g}): nothing to restore; "
                f"give {opt('factor')} if the metadata is wrong"
            )
        factor = round(sz / max(sy, sx))
    try:
        f = int(factor)
    except (TypeError, ValueError):
        raise SuperResError(f"factor must be an integer from 2 to 8, got {factor!r}") from None
    if f != factor or not 2 <= f <= 8:
        raise SuperResError(
            f"the Z/XY spacing ratio gives a factor of {factor}; the isotropic mode enlarges Z 2 to 8 times"
        )
    return f


def _sample_range(data, axes) -> tuple[float, float]:
    """Robust (0.1-99.9 %) range of up to 8 evenly spaced XY planes."""
    from .normalize import fixed_range, robust_range

    rng = fixed_range(data.dtype)
    if rng is not None:
        return rng
    z = axes.index("Z")
    picks = np.unique(np.linspace(0, data.shape[z] - 1, min(8, data.shape[z])).astype(int))
    lead = tuple(0 if a not in "ZYX" else slice(None) for a in axes)
    planes = [np.asarray(data[tuple(int(p) if i == z else s for i, s in enumerate(lead))]) for p in picks]
    return robust_range(np.stack(planes))


def train_axial(
    planes,
    factor: int,
    *,
    blur_sigma: float = 0.0,
    steps: int = 300,
    batch_size: int = 16,
    patch_size: int = 24,
    lr: float = 1e-3,
    config: dict | None = None,
    checkpoint=None,
    seed: int = 0,
    progress=None,
):
    """Train an axial model on 2D planes in [0, 1] degraded along one axis; returns the SRModel."""
    import torch

    from .degradation import blur, gaussian_kernel, resize_axis
    from .models import build
    from .models.arch.axial import TRAIN_CONFIG
    from .training.checkpoint import load_checkpoint, save_checkpoint

    planes = [np.asarray(p, np.float32) for p in planes]
    side = min(min(p.shape) for p in planes) if planes else 0
    patch_size = min(patch_size, side // factor)  # small volumes: smaller patches
    if patch_size < 6:
        raise SuperResError(
            f"the XY planes ({side} pixels a side) are too small to learn a x{factor} restoration from; "
            f"they need at least {6 * factor} pixels a side"
        )
    torch.manual_seed(seed)
    model = build("axial", factor, {**TRAIN_CONFIG, **(config or {})})
    model.module.train()
    opt = torch.optim.Adam(model.module.parameters(), lr=lr)
    start, info = 0, {"wall_time_s": 0.0}
    if checkpoint is not None and Path(checkpoint).exists():
        start, info = load_checkpoint(Path(checkpoint), model, opt, torch.device("cpu"))
    kernel = gaussian_kernel((blur_sigma, 1e-6)) if blur_sigma > 0 else None
    t0 = time.perf_counter() - float(info.get("wall_time_s", 0.0))
    hp, wp = patch_size * factor, patch_size * factor
    for step in range(start, steps):
        for g in opt.param_groups:
            g["lr"] = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))
        rng = np.random.default_rng([seed, step])
        hr = []
        for _ in range(batch_size):
            p = planes[int(rng.integers(len(planes)))]
            if rng.integers(2):  # both in-plane directions play the part of Z
                p = p.T
            y, x = int(rng.integers(p.shape[0] - hp + 1)), int(rng.integers(p.shape[1] - wp + 1))
            hr.append(p[y : y + hp, x : x + wp])
        hr_t = torch.from_numpy(np.stack(hr))[:, None]
        lr_t = hr_t.double()
        if kernel is not None:
            lr_t = blur(lr_t, kernel)
        lr_t = resize_axis(lr_t, 2, patch_size, 1.0 / factor).float()
        loss = torch.nn.functional.l1_loss(model.module(lr_t), hr_t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        if checkpoint is not None and (done % 100 == 0 or done == steps):
            save_checkpoint(Path(checkpoint), model, opt, done, {"wall_time_s": time.perf_counter() - t0})
        if progress is not None and (done == start + 1 or done % 25 == 0 or done == steps):
            progress({"stage": "train", "step": done, "steps": steps, "loss": float(loss.detach())})
    model.module.eval()
    model.metadata = {
        "arch": "axial",
        "scale": str(factor),
        "config": json.dumps(model.config),
        "training_data": "the volume's own XY planes, degraded along one axis",
        "blur_sigma": str(blur_sigma),
        "steps": str(steps),
        "wall_time_s": f"{time.perf_counter() - t0:.0f}",
    }
    return model


def _restore_block(block, model, lo, hi, z_ax, y_ax, x_ax, dtype):
    """Enlarge Z of a (possibly multi-axis) block: XZ and YZ planes through the axial model, averaged."""
    import torch

    from .normalize import cast_back

    other = [i for i in range(block.ndim) if i not in (z_ax, y_ax, x_ax)]
    vol = np.moveaxis(block, other + [z_ax, y_ax, x_ax], list(range(block.ndim)))
    lead = vol.shape[:-3]
    vols = (vol.reshape(-1, *vol.shape[-3:]).astype(np.float32) - lo) / (hi - lo)
    outs = []
    with torch.inference_mode():
        for v in vols:  # (Z, Y, X)
            xz = model.module(torch.from_numpy(np.ascontiguousarray(v.transpose(1, 0, 2)))[:, None])[:, 0]
            yz = model.module(torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)))[:, None])[:, 0]
            outs.append(((xz.permute(1, 0, 2) + yz.permute(1, 2, 0)) / 2).numpy())
    out = np.stack(outs) * (hi - lo) + lo
    out = out.reshape(*lead, *out.shape[-3:])
    out = np.moveaxis(out, list(range(block.ndim)), other + [z_ax, y_ax, x_ax])
    return cast_back(out, dtype)


def isotropic(
    image,
    *,
    axes: str | None = None,
    factor: int | None = None,
    model=None,
    blur_sigma: float = 0.0,
    steps: int = 300,
    slab: int = 64,
    out=None,
    overwrite: bool = False,
    progress=None,
    **train_kwargs,
):
    """Enlarge Z of an anisotropic volume ``factor`` times (default: Z spacing / XY spacing, rounded).

    ``model``: an axial SRModel or weights file to reuse; otherwise one is trained on the volume's
    XY planes (``steps``, ``blur_sigma`` = the axial blur in XY pixels). Returns a lazy dask array,
    or, with ``out``, writes an OME-Zarr with the new Z scale and returns its level-0 array.
    To keep the trained model (to save it, or reuse it on other stacks), train it first with
    :func:`axial_model` and pass it as ``model=``.
    """
    from .engine import source_token
    from .io import OME_ORDER, open_input
    from .models import load_model
    from .models.arch.axial import row_halo

    src = open_input(image, axes)
    f = _factor(src, factor)
    z_ax, y_ax, x_ax = (src.axes.index(a) for a in "ZYX")
    lo, hi = _sample_range(src.data, src.axes)
    if model is None:
        model = _train_on(
            src, f, lo, hi, blur_sigma=blur_sigma, steps=steps, progress=progress, **train_kwargs
        )
    else:
        model = load_model(model, f)
        if not model.axial:
            raise SuperResError(
                f"model {model.name!r} is not an axial model; train one with axial_model(...)"
            )
    halo = model.halo + row_halo(model.config, f)
    dtype = np.dtype(np.float32) if src.dtype.kind == "f" else src.dtype
    token = source_token(src)
    result = _lazy(src.data, token, model, lo, hi, (z_ax, y_ax, x_ax), dtype, halo, f, slab)
    if out is None:
        return result
    from .io.ngff import write_ome

    outp = Path(out).expanduser()
    if outp.exists():
        if not overwrite:
            raise SuperResError(f"output {outp} exists; to replace it: {opt('overwrite', True)}")
        if not (outp / "zarr.json").exists():
            raise SuperResError(f"output {outp} is not a zarr store; will not delete it")
        import shutil

        shutil.rmtree(outp)
    order = "".join(a for a in OME_ORDER if a in src.axes)
    perm = [src.axes.index(a) for a in order]
    scale = [float(v) for v in src.scale]
    trans = [float(v) for v in src.translation]
    trans[z_ax] -= scale[z_ax] * (f - 1) / (2 * f)
    scale[z_ax] /= f
    attrs = {
        "isotropic": {"factor": f, "model": dict(model.metadata), "input": src.path or "array in memory"}
    }
    args = (
        result.transpose(perm),
        outp,
        order,
        [scale[i] for i in perm],
        [trans[i] for i in perm],
        src.units,
        src.name,
        src.channel_names,
        attrs,
    )
    if progress is None:
        return write_ome(*args)
    with _task_progress(progress):
        return write_ome(*args)


def _task_progress(progress):
    """A dask callback that reports finished tasks as ``{"stage": "write", "done", "total"}`` (at most
    every half second, and at the end)."""
    from dask.callbacks import Callback

    count = {"done": 0, "total": 0, "shown": 0.0}

    def report(done):
        progress({"stage": "write", "done": done, "total": count["total"]})

    def start_state(dsk, state):
        count["total"] = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
        report(0)

    def posttask(key, result, dsk, state, worker_id):
        count["done"] += 1
        now = time.perf_counter()
        if now - count["shown"] >= 0.5:
            count["shown"] = now
            report(count["done"])

    def finish(dsk, state, errored):
        if not errored:
            report(count["total"])

    return Callback(start_state=start_state, posttask=posttask, finish=finish)


def axial_model(
    image,
    *,
    axes: str | None = None,
    factor: int | None = None,
    blur_sigma: float = 0.0,
    steps: int = 300,
    progress=None,
    **train_kwargs,
):
    """The axial model :func:`isotropic` trains on a volume's own XY planes (to save with
    :func:`napari_superres.models.save_weights`, or reuse with ``isotropic(..., model=)``)."""
    from .io import open_input

    src = open_input(image, axes)
    f = _factor(src, factor)
    lo, hi = _sample_range(src.data, src.axes)
    return _train_on(src, f, lo, hi, blur_sigma=blur_sigma, steps=steps, progress=progress, **train_kwargs)


def _train_on(src, f: int, lo: float, hi: float, **train_kwargs):
    """:func:`train_axial` on the first stack of ``src``, its planes mapped to [0, 1] by ``(lo, hi)``."""
    lead = tuple(0 if a not in "ZYX" else slice(None) for a in src.axes)
    spatial = "".join(a for a in src.axes if a in "ZYX")
    vol = np.moveaxis(np.asarray(src.data[lead]), [spatial.index(a) for a in "ZYX"], [0, 1, 2])
    planes = [(p.astype(np.float32) - lo) / (hi - lo) for p in vol]
    return train_axial(planes, f, **train_kwargs)


def _lazy(source, source_token, model, lo, hi, zyx, dtype, halo, f, slab):
    """One task per Y slab (and per T/C plane): the slab plus ``halo`` rows each side through the model,
    the centre kept, so slabs join without seams."""
    import dask.array as da
    from dask.base import tokenize

    z_ax, y_ax, x_ax = zyx
    shape = tuple(source.shape)
    chunks = [
        (n,)
        if d in (z_ax, x_ax)
        else tuple(min(slab, n - a) for a in range(0, n, slab))
        if d == y_ax
        else (1,) * n
        for d, n in enumerate(shape)
    ]
    bounds = [np.concatenate([[0], np.cumsum(c)]) for c in chunks]
    name = "isotropic-" + tokenize(source_token, model.token, lo, hi, halo, f, slab)
    dsk = {}
    for idx in np.ndindex(*[len(c) for c in chunks]):
        region = [(int(bounds[d][i]), int(bounds[d][i + 1])) for d, i in enumerate(idx)]
        dsk[(name, *idx)] = (_slab, source, region, model, lo, hi, zyx, dtype, halo)
    out_chunks = tuple(tuple(c * f for c in ch) if d == z_ax else ch for d, ch in enumerate(chunks))
    return da.Array(dsk, name, chunks=out_chunks, dtype=dtype)


def _slab(source, region, model, lo, hi, zyx, dtype, halo):
    z_ax, y_ax, x_ax = zyx
    y0, y1 = region[y_ax]
    a, b = max(0, y0 - halo), min(source.shape[y_ax], y1 + halo)
    index = tuple(slice(a, b) if d == y_ax else slice(r0, r1) for d, (r0, r1) in enumerate(region))
    res = _restore_block(np.asarray(source[index]), model, lo, hi, z_ax, y_ax, x_ax, dtype)
    keep = tuple(slice(y0 - a, y1 - a) if d == y_ax else slice(None) for d in range(res.ndim))
    return res[keep]
