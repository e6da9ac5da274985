"""napari writer: an image layer to OME-Zarr (NGFF 0.5) with its scale, translation, units and axes."""

from __future__ import annotations

from pathlib import Path

from .errors import SuperResError


def _axes(meta: dict, ndim: int) -> str:
    """Axis letters of the layer data (RGB last as C), as :func:`napari_superres.layers.layer_axes` gives them."""
    from types import SimpleNamespace

    from .io import layer_axes

    rgb = bool(meta.get("rgb"))
    fake = SimpleNamespace(
        ndim=ndim - rgb, axis_labels=meta.get("axis_labels"), rgb=rgb, name=meta.get("name")
    )
    return layer_axes(fake)


def write_ome_zarr(path: str, data, meta: dict) -> list[str]:
    """Write one image layer (level 0; a pyramid is rebuilt) to ``path``; never replaces an existing path."""
    import dask.array as da

    from .io import OME_ORDER, unit_text
    from .io.ngff import write_ome

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
    units = {a: t for a, u in zip(spatial, meta.get("units") or ()) if (t := unit_text(u))}
    order = "".join(a for a in OME_ORDER if a in axes)
    arr = arr.transpose([axes.index(a) for a in order])
    channels = ["red", "green", "blue", "alpha"][: arr.shape[order.index("C")]] if rgb else None
    write_ome(
        arr,
        out,
        order,
        [scale.get(a, 1.0) for a in order],
        [trans.get(a, 0.0) for a in order],
        units,
        meta.get("name") or out.name.split(".")[0],
        channels,
    )
    return [str(out)]
