"""Writing the enlarged image: resumable OME-Zarr (:mod:`.ome_zarr`), TIFF through a partial OME-Zarr
(:mod:`.tiff`), ordinary image files when the result fits one (:mod:`.image`), and where the tasks
run (:mod:`.schedule`: local threads or a dask.distributed cluster).
"""

from __future__ import annotations

from ..engine import UpscaleOptions
from .image import SUFFIXES as IMAGE_SUFFIXES
from .image import iter_write_image
from .ome_zarr import MARKERS, auto_summary, iter_write, same_place
from .tiff import iter_write_tiff

TIFF_SUFFIXES = (".tif", ".tiff")

__all__ = [
    "IMAGE_SUFFIXES",
    "MARKERS",
    "TIFF_SUFFIXES",
    "auto_summary",
    "iter_output",
    "iter_write",
    "iter_write_image",
    "iter_write_tiff",
    "same_place",
    "write",
]


def iter_output(image, out, options: UpscaleOptions | None = None, **kwargs):
    """:func:`iter_write` for OME-Zarr outputs, :func:`iter_write_tiff` for ``.tif`` / ``.tiff`` ones,
    :func:`iter_write_image` for ``.png``, ``.jpg``, ``.bmp`` and ``.webp``."""
    if str(out).lower().endswith(TIFF_SUFFIXES):
        return iter_write_tiff(image, out, options, **kwargs)
    if str(out).lower().endswith(IMAGE_SUFFIXES):
        return iter_write_image(image, out, options, **kwargs)
    return iter_write(image, out, options, **kwargs)


def write(image, out, options: UpscaleOptions | None = None, *, progress=None, **kwargs):
    """Run :func:`iter_output` to the end and return the level-0 array (zarr, or the TIFF's zarr view)."""
    last = None
    for event in iter_output(image, out, options, **kwargs):
        last = event
        if progress is not None:
            progress(event)
    return last.array
