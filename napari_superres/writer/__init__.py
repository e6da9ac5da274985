"""Writing the enlarged image: resumable OME-Zarr (:mod:`.ome_zarr`), TIFF through a partial OME-Zarr
(:mod:`.tiff`), and where the tasks run (:mod:`.schedule`: local threads or a dask.distributed cluster).
"""

from __future__ import annotations

from ..engine import UpscaleOptions
from .ome_zarr import MARKERS, auto_summary, iter_write, same_place
from .tiff import iter_write_tiff

TIFF_SUFFIXES = (".tif", ".tiff")

__all__ = [
    "MARKERS",
    "TIFF_SUFFIXES",
    "auto_summary",
    "iter_output",
    "iter_write",
    "iter_write_tiff",
    "same_place",
    "write",
]


def iter_output(image, out, options: UpscaleOptions | None = None, **kwargs):
    """:func:`iter_write` for OME-Zarr outputs, or :func:`iter_write_tiff` for ``.tif`` / ``.tiff`` ones."""
    if str(out).lower().endswith(TIFF_SUFFIXES):
        return iter_write_tiff(image, out, options, **kwargs)
    return iter_write(image, out, options, **kwargs)


def write(image, out, options: UpscaleOptions | None = None, *, progress=None, **kwargs):
    """Run :func:`iter_output` to the end and return the level-0 array (zarr, or the TIFF's zarr view)."""
    last = None
    for event in iter_output(image, out, options, **kwargs):
        last = event
        if progress is not None:
            progress(event)
    return last.array
