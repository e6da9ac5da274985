"""xarray in and out: ``upscale(DataArray)`` returns a lazy DataArray with enlarged coordinates.

The dims name the axes (``y``/``x``, ``lat``/``lon``, ``band``, ``z``, ``time``, ...). A regularly
spaced ``y`` / ``x`` coordinate becomes the output's pixel centres under the placement rule of the
whole project: the outer edges of the image stay where they were and each output pixel is
1/scale of an input pixel (so the first centre moves half an output pixel inwards from the old
edge). Other coordinates, the dims and the attrs are kept. When rioxarray is installed and the input
has a CRS, the output gets the CRS, the enlarged transform and the nodata value.

xarray and rioxarray are imported only when a DataArray is given; nothing here imports them.
"""

from __future__ import annotations

import numpy as np

from .errors import SuperResError, opt

DIM_LETTERS = {
    "y": "Y",
    "x": "X",
    "lat": "Y",
    "latitude": "Y",
    "lon": "X",
    "longitude": "X",
    "row": "Y",
    "col": "X",
    "rows": "Y",
    "cols": "X",
    "band": "C",
    "bands": "C",
    "c": "C",
    "channel": "C",
    "channels": "C",
    "z": "Z",
    "t": "T",
    "time": "T",
}


def is_data_array(obj) -> bool:
    """Whether ``obj`` is an xarray DataArray (checked by type name: xarray is not imported)."""
    return any(c.__name__ == "DataArray" and c.__module__.startswith("xarray") for c in type(obj).__mro__)


def axes_of(da, axes: str | None) -> str:
    """Axis letters for the DataArray's dims: ``axes`` when given, else from the dim names."""
    if axes is not None:
        if len(axes) != da.ndim:
            raise SuperResError(
                f"{opt('axes', axes)} has {len(axes)} letters for the DataArray's dims {da.dims}"
            )
        return axes.upper()
    letters = []
    for d in da.dims:
        letter = DIM_LETTERS.get(str(d).lower())
        if letter is None:
            raise SuperResError(
                f"the DataArray's dim {d!r} is not one napari-superres knows (y, x, lat, lon, band, z, time); "
                f"name the axes: {opt('axes', 'ZYX')}"
            )
        letters.append(letter)
    if len(set(letters)) != len(letters) or not {"Y", "X"} <= set(letters):
        raise SuperResError(
            f"the DataArray's dims {da.dims} need one y and one x; name the axes: {opt('axes', 'YX')}"
        )
    return "".join(letters)


def nodata_of(da):
    """The DataArray's nodata value: rioxarray's, else a ``_FillValue`` / ``nodata`` attribute."""
    rio = getattr(da, "rio", None) if _has_rioxarray() else None
    value = rio.nodata if rio is not None else None
    if value is None:
        value = da.attrs.get("_FillValue", da.attrs.get("nodata"))
    return (
        None
        if value is None or (isinstance(value, float) and np.isnan(value) and da.dtype.kind != "f")
        else value
    )


def crs_of(da):
    """The DataArray's CRS (rioxarray), or None without one or without rioxarray."""
    return da.rio.crs if _has_rioxarray() else None


def _has_rioxarray() -> bool:
    import importlib.util

    if importlib.util.find_spec("rioxarray") is None:
        return False
    import rioxarray  # noqa: F401  registers the .rio accessor

    return True


def _enlarged_coord(values: np.ndarray, n_out: int):
    """Pixel centres of ``n_out`` outputs covering the extent of the input centres ``values``, or None
    when they are not evenly spaced (then the coordinate is dropped rather than guessed)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return None
    step = np.diff(v)
    if not np.allclose(step, step[0], rtol=1e-6, atol=0):
        return None
    edge = v[0] - step[0] / 2
    out_step = step[0] * v.size / n_out
    return edge + out_step * (np.arange(n_out) + 0.5)


def wrap(result, da, axes: str, scale: float, nodata, provenance: dict):
    """The lazy ``result`` array as a DataArray like ``da``: dims, enlarged y/x coordinates, attrs, CRS."""
    import xarray as xr

    coords = {}
    dropped = []
    for i, d in enumerate(da.dims):
        if d not in da.coords:
            continue
        if axes[i] in "YX":
            new = _enlarged_coord(da.coords[d].values, result.shape[i])
            if new is None:
                dropped.append(d)
                continue
            coords[d] = (
                d,
                new.astype(da.coords[d].dtype if da.coords[d].dtype.kind == "f" else np.float64),
                da.coords[d].attrs,
            )
        else:
            coords[d] = da.coords[d]
    for name, c in da.coords.items():  # scalar coordinates (a selected band, spatial_ref, ...)
        if name not in coords and name not in da.dims and c.ndim == 0:
            coords[name] = c
    attrs = dict(da.attrs)
    attrs["napari_superres"] = str(provenance)
    if dropped:
        attrs["napari_superres_dropped_coords"] = ", ".join(map(str, dropped))
    out = xr.DataArray(result, dims=da.dims, coords=coords, attrs=attrs, name=da.name)
    if crs_of(da) is not None:
        from affine import Affine

        from .io.geo import enlarged_transform

        t = da.rio.transform()
        out = out.rio.write_crs(da.rio.crs)
        out = out.rio.write_transform(Affine(*enlarged_transform(tuple(t)[:6], scale)))
        if nodata is not None:
            out = out.rio.write_nodata(nodata)
    return out
