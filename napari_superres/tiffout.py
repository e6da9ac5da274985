"""TIFF outputs: OME-TIFF, or GeoTIFF for georeferenced inputs; tiled, BigTIFF, deflate, streamed.

The enlarged image is first written, resumably, to ``OUT.partial.zarr`` beside the output (see
:mod:`napari_superres.store`); then it is streamed into ``OUT`` one row of 256 x 256 tiles at a time
(memory holds one row of tiles), written under a temporary name and renamed when complete, and the
partial zarr is removed. A run killed at any point resumes: the zarr chunks already done are kept,
and the TIFF is written again from the finished zarr.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .errors import SuperResError

TIFF_TILE = 256
TIFF_SUFFIXES = (".tif", ".tiff")


def _tiles(arr, tile: int):
    """Tiles of a zarr array (..., Y, X) in TIFF order: plane by plane, row by row; one row read at a time."""
    *lead, h, w = arr.shape
    for idx in np.ndindex(*lead):
        for y in range(0, h, tile):
            band = np.asarray(arr[idx + (slice(y, min(h, y + tile)), slice(None))])
            for x in range(0, w, tile):
                yield band[:, x : x + tile]


def _geotiff_tags(geo: dict, nodata) -> list:
    """extratags for tifffile: the enlarged transform, the GeoKeys verbatim, GDAL_NODATA."""
    tags = []
    if geo and "transform" in geo:
        a, b, c, d, e, f = geo["transform"]
        if b == 0 and d == 0 and a > 0 and e < 0:
            tags += [(33550, "d", 3, (a, -e, 0.0)), (33922, "d", 6, (0.0, 0.0, 0.0, c, f, 0.0))]
        else:  # rotated or sheared grid: the full transformation matrix
            tags.append(
                (34264, "d", 16, (a, b, 0.0, c, d, e, 0.0, f, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0))
            )
        if geo.get("geokey_directory"):
            keys = geo["geokey_directory"]
            tags.append((34735, "H", len(keys), tuple(keys)))
        if geo.get("GeoDoubleParamsTag"):
            tags.append((34736, "d", len(geo["GeoDoubleParamsTag"]), tuple(geo["GeoDoubleParamsTag"])))
        if geo.get("GeoAsciiParamsTag"):
            tags.append((34737, "s", 0, geo["GeoAsciiParamsTag"]))
    if nodata is not None:
        tags.append((42113, "s", 0, f"{nodata:g}"))
    return tags


def _ome_metadata(axes: str, scale: list, units: dict, channel_names) -> dict:
    meta = {"axes": axes}
    for a, v in zip(axes, scale):
        if a in "XYZ":
            meta[f"PhysicalSize{a}"] = float(v)
            if units.get(a):
                meta[f"PhysicalSize{a}Unit"] = {
                    "micrometer": "µm",
                    "nanometer": "nm",
                    "millimeter": "mm",
                }.get(units[a], units[a])
        elif a == "T":
            meta["TimeIncrement"] = float(v)
    if channel_names:
        meta["Channel"] = {"Name": list(channel_names)}
    return meta


def iter_write_tiff(image, out, *, overwrite=False, **kwargs):
    """Like :func:`napari_superres.store.iter_write`, for a ``.tif`` output; yields progress dicts."""
    import tifffile
    import zarr

    from .io import open_input
    from .store import _same_place, iter_write

    out = Path(out).expanduser()
    src = open_input(image, kwargs.get("axes"))
    if src.path and _same_place(out, Path(src.path)):
        raise SuperResError(f"output {out} is the input or inside it; choose another output path")
    if out.exists() and not overwrite:
        raise SuperResError(
            f"output {out} exists; pass overwrite=True (--overwrite) to replace it, or choose another"
        )
    if out.exists() and out.is_dir():
        raise SuperResError(f"output {out} is a folder; choose a file name ending in .tif")
    partial = out.with_name(out.name + ".partial.zarr")
    last = {}
    for msg in iter_write(src, partial, overwrite=overwrite, **kwargs):
        if msg.get("stage") == "done":
            last = msg
            break
        yield msg
    group = zarr.open_group(str(partial), mode="r")
    level0 = group["0"]
    ms = group.attrs["ome"]["multiscales"][0]
    axes = "".join(a["name"] for a in ms["axes"]).upper()
    units = {a["name"].upper(): a["unit"] for a in ms["axes"] if a.get("unit")}
    scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
    prov = group.attrs["napari_superres"]["provenance"]
    geo, nodata = prov.get("georeference"), prov.get("nodata")
    channels = [c["label"] for c in group.attrs["ome"].get("omero", {}).get("channels", [])] or None
    yield {
        "stage": "tiff",
        "done": last.get("total", 0),
        "total": last.get("total", 0),
        "message": f"writing {out.name}",
    }
    tmp = out.with_name(out.name + ".tmp")
    shape, dtype = tuple(level0.shape), level0.dtype
    common = {
        "shape": shape,
        "dtype": dtype,
        "tile": (TIFF_TILE, TIFF_TILE),
        "bigtiff": True,
        "compression": "zlib",
        "photometric": "minisblack",
    }
    if geo and "transform" in geo:  # GeoTIFF: bands as samples of one image, as GDAL expects
        if set(axes) - {"C", "Y", "X"}:
            raise SuperResError(
                f"a GeoTIFF output holds YX or CYX images, not {axes}; write OME-Zarr instead"
            )
        tifffile.imwrite(
            tmp,
            _tiles(level0, TIFF_TILE),
            planarconfig="separate" if "C" in axes else None,
            extratags=_geotiff_tags(geo, nodata),
            metadata=None,
            **common,
        )
    else:
        tifffile.imwrite(
            tmp,
            _tiles(level0, TIFF_TILE),
            ome=True,
            metadata=_ome_metadata(axes, scale, units, channels),
            **common,
        )
    os.replace(tmp, out)
    shutil.rmtree(partial, ignore_errors=True)
    result = zarr.open(tifffile.imread(out, aszarr=True), mode="r")
    last.pop("already_complete", None)  # the zarr was finished by an earlier run; the TIFF is new
    last.setdefault("source", src)
    yield {**last, "stage": "done", "array": result, "levels": 1}
