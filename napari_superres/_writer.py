"""napari writer: an image layer to OME-Zarr (NGFF 0.5) with its scale, translation, units and axes."""

from __future__ import annotations

from pathlib import Path

from .errors import SuperResError


def _axes(meta: dict, ndim: int) -> str:
    """Axis letters of the layer data (RGB last as C), as :func:`napari_superres.layers.layer_axes` gives them."""
    from types import SimpleNamespace

    from .layers import layer_axes

    rgb = bool(meta.get("rgb"))
    fake = SimpleNamespace(
        ndim=ndim - rgb, axis_labels=meta.get("axis_labels"), rgb=rgb, name=meta.get("name")
    )
    return layer_axes(fake)


def write_ome_zarr(path: str, data, meta: dict) -> list[str]:
    """Write one image layer (level 0; a pyramid is rebuilt) to ``path``; never replaces an existing path."""
    import dask.array as da
    import zarr

    from .io import OME_ORDER
    from .layers import _unit_text
    from .store import build_pyramid, level_geometry, ome_attrs, pyramid_shapes

    out = Path(path)
    if out.exists():
        raise SuperResError(f"{out} already exists; choose another name or remove it first")
    if not out.parent.exists():
        raise SuperResError(f"the folder {out.parent} does not exist; create it first")
    level0 = data[0] if meta.get("multiscale") else data
    arr = da.asarray(level0)
    axes = _axes(meta, arr.ndim)
    rgb = bool(meta.get("rgb"))
    spatial = axes[:-1] if rgb else axes
    scale = dict(zip(spatial, (float(v) for v in meta.get("scale", [1.0] * len(spatial)))))
    trans = dict(zip(spatial, (float(v) for v in meta.get("translate", [0.0] * len(spatial)))))
    units = {a: t for a, u in zip(spatial, meta.get("units") or ()) if (t := _unit_text(u))}
    order = "".join(a for a in OME_ORDER if a in axes)
    arr = arr.transpose([axes.index(a) for a in order])
    y_ax, x_ax = order.index("Y"), order.index("X")
    chunk0 = tuple(min(n, 256) if d in (y_ax, x_ax) else 1 for d, n in enumerate(arr.shape))
    arr = arr.rechunk(chunk0)
    shapes = pyramid_shapes(arr.shape, y_ax, x_ax)
    sc, tr = level_geometry(
        [scale.get(a, 1.0) for a in order], [trans.get(a, 0.0) for a in order], len(shapes), y_ax, x_ax
    )
    name = meta.get("name") or out.name.split(".")[0]
    channels = ["red", "green", "blue", "alpha"][: arr.shape[order.index("C")]] if rgb else None
    group = zarr.open_group(
        str(out),
        mode="w-",
        zarr_format=3,
        attributes={"ome": ome_attrs(order, sc, tr, units, name, channels)},
    )
    for k, sh in enumerate(shapes):
        group.create_array(
            str(k),
            shape=sh,
            chunks=chunk0,
            dtype=arr.dtype,
            fill_value=0,
            dimension_names=[a.lower() for a in order],
        )
    da.store(arr, group["0"], lock=False)
    for _ in build_pyramid(group, shapes, chunk0, y_ax, x_ax, workers=2):
        pass
    return [str(out)]
