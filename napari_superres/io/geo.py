"""GeoTIFF georeferencing: read it with tifffile, and what it becomes after enlarging by ``s``.

The georeference is kept as a GDAL-order affine ``(a, b, c, d, e, f)``: ground
``x = c + a * col + b * row``, ``y = f + d * col + e * row``, where (col, row) = (0, 0) is the
*corner* of the first pixel for "area" rasters (GeoTIFF's default, RasterPixelIsArea) and its
*centre* for "point" rasters (RasterPixelIsPoint). Rotated and sheared grids (from a
ModelTransformation tag) are supported: enlarging divides the linear part by ``s``.

>>> enlarged_transform((10.0, 0.0, 500000.0, 0.0, -10.0, 4e6), 2, "area")
(5.0, 0.0, 500000.0, 0.0, -5.0, 4000000.0)
"""

from __future__ import annotations

from ..errors import SuperResError, opt

GEOKEY_RASTER_TYPE = 1025  # GTRasterTypeGeoKey: 1 = area, 2 = point
GEOKEY_MODEL_TYPE = 1024  # GTModelTypeGeoKey: 1 = projected, 2 = geographic (degrees), 3 = geocentric
GEOKEY_LINEAR_UNITS = 3076  # ProjLinearUnitsGeoKey: an EPSG unit code
LINEAR_UNITS = {9001: "meter", 9002: "foot", 9003: "foot", 9036: "kilometer"}  # EPSG codes -> OME-NGFF


def linear_unit(geo: dict | None) -> str | None:
    """The ground unit of a projected GeoTIFF's pixel size (OME-NGFF spelling: "meter", ...); None
    for a geographic CRS (degrees are no length) or when the GeoKeys do not say."""
    keys = (geo or {}).get("geokey_directory")
    if not keys:
        return None
    values = short_geokeys(keys)
    if GEOKEY_LINEAR_UNITS in values:
        return LINEAR_UNITS.get(values[GEOKEY_LINEAR_UNITS])
    return "meter" if values.get(GEOKEY_MODEL_TYPE) == 1 else None  # projected CRSs default to metres


def short_geokeys(directory: list[int]) -> dict[int, int]:
    """The GeoKeys of a GeoKeyDirectoryTag whose value is stored in the directory itself (location 0)."""
    out = {}
    for n in range(directory[3]):
        key, loc, _, value = directory[4 + 4 * n : 8 + 4 * n]
        if loc == 0:
            out[key] = value
    return out


def read_geotiff(page) -> dict | None:
    """The georeference of a TIFF page: transform, raster type, GeoKeys, nodata; None without one."""
    tags = page.tags
    scale = tags.get("ModelPixelScaleTag")
    tie = tags.get("ModelTiepointTag")
    matrix = tags.get("ModelTransformationTag")
    keys = tags.get("GeoKeyDirectoryTag")
    nodata_tag = tags.get("GDAL_NODATA")
    nodata = _parse_nodata(nodata_tag.value) if nodata_tag is not None else None
    if matrix is not None:
        m = [float(v) for v in matrix.value]
        transform = (m[0], m[1], m[3], m[4], m[5], m[7])
    elif scale is not None and tie is not None:
        sx, sy = float(scale.value[0]), float(scale.value[1])
        i, j, _, x, y, _ = (float(v) for v in tie.value[:6])
        transform = (sx, 0.0, x - i * sx, 0.0, -sy, y + j * sy)
    else:
        return None if nodata is None else {"nodata": nodata}
    geo = {"transform": transform, "raster_type": "area", "nodata": nodata}
    if keys is not None:
        k = [int(v) for v in keys.value]
        geo["geokey_directory"] = k
        if GEOKEY_RASTER_TYPE in (short := short_geokeys(k)):
            geo["raster_type"] = "point" if short[GEOKEY_RASTER_TYPE] == 2 else "area"
        for name in ("GeoDoubleParamsTag", "GeoAsciiParamsTag"):
            if tags.get(name) is not None:
                v = tags[name].value
                geo[name] = list(v) if not isinstance(v, str) else v
    return geo


def _parse_nodata(text) -> float:
    try:
        return float(str(text).strip().strip("\x00"))
    except ValueError:
        raise SuperResError(
            f"the GDAL_NODATA tag {text!r} is not a number; fix the file or give {opt('nodata')}"
        ) from None


def enlarged_transform(transform, s: float, raster_type: str = "area") -> tuple:
    """The affine of the image enlarged ``s`` times so that every output pixel sits where it should.

    Area rasters keep their outer corner; point rasters move the first pixel centre by
    ``-(s-1)/(2s)`` input pixels (where the first output pixel centre lies).
    """
    a, b, c, d, e, f = (float(v) for v in transform)
    if raster_type == "point":
        shift = -(s - 1) / (2 * s)
        c, f = c + (a + b) * shift, f + (d + e) * shift
    return (a / s, b / s, c, d / s, e / s, f)


def pixel_size(transform) -> tuple[float, float]:
    """Ground size of a pixel along rows (Y) and columns (X)."""
    a, b, _, d, e, _ = transform
    return float((b * b + e * e) ** 0.5), float((a * a + d * d) ** 0.5)


def enlarged(geo: dict | None, s: float) -> dict | None:
    """The georeference of the output (JSON-ready), or None."""
    if not geo or "transform" not in geo:
        return geo
    out = dict(geo)
    out["transform"] = list(enlarged_transform(geo["transform"], s, geo.get("raster_type", "area")))
    return out
