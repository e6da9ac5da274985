"""Image-file outputs (PNG, JPEG, BMP, WebP): written when the result fits an ordinary image, refused
in one line otherwise (never a zarr folder with an image's name).

An image file holds one 2-D plane, grey or RGB(A), in 8 bits (PNG also 16); it has no place for
physical pixel sizes, a pyramid or a resume, so it is computed in memory (up to ``MAX_PIXELS`` output
pixels, strip by strip with progress) and written through a temporary file that replaces the output
only when complete.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..engine import UpscaleOptions, build
from ..errors import SuperResError
from ..events import Progress
from .ome_zarr import guarded, refuse_file, start

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MAX_PIXELS = 200_000_000  # output pixels (a 14000 x 14000 image); larger results go to .ome.zarr or .tif
SIXTEEN_BIT = (".png",)


def _check(out: Path, shape, axes: str, dtype) -> None:
    kind = out.suffix.lower()
    other = "write .ome.zarr or .tif instead"
    if axes not in ("YX", "YXC") or (axes == "YXC" and shape[-1] not in (3, 4)):
        raise SuperResError(
            f"a {kind} file holds one grey or RGB plane; this result has axes {axes} {tuple(shape)}: {other}"
        )
    if axes == "YXC" and shape[-1] == 4 and kind in (".jpg", ".jpeg"):
        raise SuperResError(
            f"a {kind} file has no transparency; this result is RGBA: write .png, .ome.zarr or .tif"
        )
    allowed = [np.uint8, np.uint16] if kind in SIXTEEN_BIT and axes == "YX" else [np.uint8]
    if np.dtype(dtype) not in [np.dtype(t) for t in allowed]:
        bits = "8- or 16-bit" if kind in SIXTEEN_BIT else "8-bit"
        raise SuperResError(f"a {kind} file holds {bits} values; this result is {np.dtype(dtype)}: {other}")
    if np.prod(shape[:2]) > MAX_PIXELS:
        mp = np.prod(shape[:2]) / 1e6
        raise SuperResError(
            f"the result ({mp:.0f} MP) is too large for a {kind} file (at most {MAX_PIXELS / 1e6:.0f} MP): {other}"
        )


def iter_write_image(
    image,
    out,
    options: UpscaleOptions | None = None,
    *,
    overwrite=False,
    workers=None,
    scheduler=None,
    **kwargs,
):
    """Like :func:`~napari_superres.writer.iter_write`, for an image-file output (see the module).
    ``scheduler`` is not used: the image is assembled in this process."""
    options, out, src = start(image, out, options, kwargs)
    yield from guarded(out, _write_image(src, out, options, overwrite, workers))


def _write_image(src, out: Path, options, overwrite, workers):
    from dask.threaded import get
    from PIL import Image

    refuse_file(out, overwrite, out.suffix)
    lazy, plan = build(src, options, streaming=True)
    _check(out, lazy.shape, src.axes, lazy.dtype)
    result = np.empty(lazy.shape, lazy.dtype)
    rows = np.concatenate([[0], np.cumsum(lazy.chunks[0])])
    t0 = time.perf_counter()
    yield Progress("level0", 0, len(rows) - 1, message="starting")
    for i in range(len(rows) - 1):  # strip by strip: the source chunks in use stay a band
        strip = lazy[rows[i] : rows[i + 1]]
        result[rows[i] : rows[i + 1]] = strip.compute(scheduler=get, num_workers=workers)
        el = time.perf_counter() - t0
        done = rows[i + 1] * np.prod(lazy.shape[1:])
        yield Progress(
            "level0",
            i + 1,
            len(rows) - 1,
            el,
            mp_per_s=done / 1e6 / max(el, 1e-9),
            eta=el / (i + 1) * (len(rows) - 2 - i),
        )
    partial = out.with_name(f".{out.name}.partial{out.suffix}")
    try:
        quality = {"quality": 95} if out.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
        Image.fromarray(result).save(partial, **quality)  # uint16 grey becomes a 16-bit PNG
        os.replace(partial, out)  # complete or not there: never half an image under the output's name
    finally:
        partial.unlink(missing_ok=True)
    yield Progress(
        "done",
        len(rows) - 1,
        len(rows) - 1,
        time.perf_counter() - t0,
        array=result,
        levels=1,
        source=src,
        degradation=plan.degradation,
        auto=plan.auto,
    )
