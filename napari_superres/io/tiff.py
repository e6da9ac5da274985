"""TIFF outputs: OME-TIFF with sub-IFD pyramids, or GeoTIFF (Cloud-Optimized) for georeferenced inputs;
tiled, BigTIFF, deflate, streamed.

:func:`zarr_to_tiff` streams a finished OME-Zarr (the writer's ``OUT.partial.zarr``, see
:mod:`napari_superres.writer`) into ``OUT`` one row of 256 x 256 tiles at a time (memory holds one
row of tiles), under a temporary name renamed when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import SuperResError

TIFF_TILE = 256


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
            # OME-XML reads a size without a unit as micrometres: an uncalibrated image's pixel
            # scale is written in pixels (of the input), so no physical size is invented
            unit = units.get(a) or "pixel"
            meta[f"PhysicalSize{a}Unit"] = {
                "micrometer": "µm",
                "nanometer": "nm",
                "millimeter": "mm",
                "meter": "m",
                "kilometer": "km",
            }.get(unit, unit)
        elif a == "T":
            meta["TimeIncrement"] = float(v)
    if channel_names:
        meta["Channel"] = {"Name": list(channel_names)}
    return meta


def cog_available() -> bool:
    """Whether Cloud-Optimized GeoTIFFs can be written here (GDAL's COG driver, through rasterio)."""
    import importlib.util

    return importlib.util.find_spec("rasterio") is not None


def zarr_to_tiff(zarr_path, out, cog: bool | None = None) -> bool:
    """Write a finished OME-Zarr (ours: its provenance gives the georeference and nodata) to the TIFF
    ``out``: a GeoTIFF when georeferenced, else an OME-TIFF with the physical pixel sizes. Both carry the
    zarr's pyramid: an OME-TIFF as sub-IFDs of each plane (QuPath, Bio-Formats), a GeoTIFF as reduced-
    resolution images. ``cog`` (default: georeferenced and rasterio installed) rewrites the result as a
    Cloud-Optimized GeoTIFF with GDAL's COG driver: 512 x 512 tiles, deflate with a predictor, the
    pyramid's levels as internal overviews (averaged with nodata left out, as the pyramid was made).
    Returns whether the output is a COG."""
    import tifffile
    import zarr

    out = Path(out)
    group = zarr.open_group(str(zarr_path), mode="r")
    ms = group.attrs["ome"]["multiscales"][0]
    levels = [group[d["path"]] for d in ms["datasets"]]
    level0 = levels[0]
    axes = "".join(a["name"] for a in ms["axes"]).upper()
    units = {a["name"].upper(): a["unit"] for a in ms["axes"] if a.get("unit")}
    scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
    prov = group.attrs["napari_superres"]["provenance"]
    geo, nodata = prov.get("georeference"), prov.get("nodata")
    georeferenced = bool(geo and "transform" in geo)
    if cog is None:
        cog = georeferenced and cog_available()
    elif cog and not cog_available():
        raise SuperResError("a Cloud-Optimized GeoTIFF needs rasterio (GDAL): pip install rasterio")
    channels = [c["label"] for c in group.attrs["ome"].get("omero", {}).get("channels", [])] or None
    tmp = out.with_name(out.name + ".tmp")
    dtype = level0.dtype
    common = {
        "dtype": dtype,
        "tile": (TIFF_TILE, TIFF_TILE),
        "compression": "zlib",
        "photometric": "minisblack",
    }
    if georeferenced or cog:  # GeoTIFF: bands as samples of one image, as GDAL expects
        if set(axes) - {"C", "Y", "X"}:
            raise SuperResError(
                f"a GeoTIFF output holds YX or CYX images, not {axes}; write OME-Zarr instead"
            )
        sep = "separate" if "C" in axes else None
        with tifffile.TiffWriter(tmp, bigtiff=True) as tw:
            tw.write(
                _tiles(level0, TIFF_TILE),
                shape=level0.shape,
                planarconfig=sep,
                extratags=_geotiff_tags(geo, nodata) if georeferenced else (),
                metadata=None,
                **common,
            )
            for lev in levels[1:]:  # reduced-resolution images: GDAL's internal overviews
                tw.write(
                    _tiles(lev, TIFF_TILE),
                    shape=lev.shape,
                    planarconfig=sep,
                    subfiletype=1,
                    metadata=None,
                    **common,
                )
        if cog:
            try:
                _to_cog(tmp, out, dtype)
            finally:  # the partial zarr stays until the TIFF is done: a rerun writes it again
                tmp.unlink(missing_ok=True)
                out.with_name(out.name + ".cog.tmp").unlink(missing_ok=True)
            return True
    else:
        with tifffile.TiffWriter(tmp, bigtiff=True, ome=True) as tw:
            tw.write(
                _tiles(level0, TIFF_TILE),
                shape=level0.shape,
                subifds=len(levels) - 1,
                metadata=_ome_metadata(axes, scale, units, channels),
                **common,
            )
            for lev in levels[1:]:  # each plane's sub-resolutions, in the order tifffile assigns them
                tw.write(_tiles(lev, TIFF_TILE), shape=lev.shape, subfiletype=1, metadata=None, **common)
    os.replace(tmp, out)
    return False


def _to_cog(src: Path, out: Path, dtype) -> None:
    """GDAL's COG driver: IFDs first, smallest overview's tiles first, level 0's last; streamed by GDAL."""
    import rasterio
    import rasterio.shutil

    part = out.with_name(out.name + ".cog.tmp")
    predictor = 3 if np.dtype(dtype).kind == "f" else 2
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
        rasterio.shutil.copy(
            str(src),
            str(part),
            driver="COG",
            BLOCKSIZE=512,
            COMPRESS="DEFLATE",
            PREDICTOR=predictor,
            OVERVIEWS="FORCE_USE_EXISTING",
            BIGTIFF="IF_SAFER",
        )
    os.replace(part, out)
