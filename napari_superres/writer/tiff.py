"""TIFF outputs (OME-TIFF, or GeoTIFF for georeferenced inputs) through a resumable partial OME-Zarr."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from ..engine import UpscaleOptions
from ..errors import SuperResError, opt
from ..events import Progress
from ..io.tiff import cog_available, zarr_to_tiff
from .ome_zarr import guarded, iter_write, refuse_file, start


def iter_write_tiff(
    image,
    out,
    options: UpscaleOptions | None = None,
    *,
    overwrite=False,
    workers=None,
    scheduler=None,
    cog: bool | None = None,
    **kwargs,
):
    """Like :func:`iter_write`, for a ``.tif`` output: OME-TIFF, or GeoTIFF for georeferenced inputs.

    ``cog`` (default: for georeferenced inputs, when rasterio is installed) writes a Cloud-Optimized
    GeoTIFF; ``cog=True`` without rasterio is refused before anything is computed.

    The enlarged image is first written, resumably, to ``OUT.partial.zarr`` beside the output; then
    it is streamed into ``OUT`` (:func:`napari_superres.io.tiff.zarr_to_tiff`) and the partial zarr is
    removed. A run killed at any point resumes: the zarr chunks already done are kept, and the TIFF is
    written again from the finished zarr. The TIFF's lock is held from start to end (the partial
    zarr has its own), so a second writer is refused even while the TIFF itself is being written.
    """
    options, out, src = start(image, out, options, kwargs)
    if cog and not cog_available():
        raise SuperResError(
            f"a Cloud-Optimized GeoTIFF ({opt('cog', True)}) needs rasterio (GDAL): pip install rasterio"
        )
    if cog and set(src.axes.replace("S", "C")) - set("CYX"):
        raise SuperResError(
            f"a Cloud-Optimized GeoTIFF ({opt('cog', True)}) holds YX or CYX images, not {src.axes}; "
            "write OME-Zarr or OME-TIFF instead"
        )
    yield from guarded(out, _write_tiff(src, out, options, overwrite, workers, scheduler, cog))


def _write_tiff(src, out: Path, options, overwrite, workers, scheduler, cog=None):
    import tifffile
    import zarr

    refuse_file(out, overwrite, ".tif")
    partial = out.with_name(out.name + ".partial.zarr")
    last = None
    for event in iter_write(src, partial, options, overwrite=overwrite, workers=workers, scheduler=scheduler):
        if event.stage == "done":
            last = event
            break
        yield event
    yield Progress("tiff", last.total, last.total, message=f"writing {out.name}")
    zarr_to_tiff(partial, out, cog)
    shutil.rmtree(partial, ignore_errors=True)
    result = zarr.open(tifffile.imread(out, aszarr=True), mode="r")
    # a zarr finished by an earlier run still gives a new TIFF: not "already complete"
    yield dataclasses.replace(last, array=result, levels=1, already_complete=False)
