"""napari reader: OME-Zarr (ours or any NGFF 0.4/0.5 image), opened lazily as a multiscale layer."""

from __future__ import annotations

from pathlib import Path


def _multiscales(path: Path):
    """The group's (multiscales[0], ome attrs), or None when ``path`` is not an OME-Zarr image."""
    import zarr

    from .io import ome_multiscale_attrs

    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception:  # not a zarr group: another reader's file
        return None
    ms, ome = ome_multiscale_attrs(dict(group.attrs))
    return None if ms is None else (group, ms, ome)


def get_reader(path):
    """napari's hook: a reader function for an OME-Zarr folder, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if not p.is_dir() or _multiscales(p) is None:
        return None
    return read_ome_zarr


def read_ome_zarr(path) -> list[tuple]:
    """Layer data for an OME-Zarr image: every level lazily (dask), placed by its metadata.

    8-bit images with 3 or 4 channels become one RGB layer; other channel axes give one layer
    per channel, named after the channel labels.
    """
    import dask.array as da
    import numpy as np

    from .io import open_input
    from .io.ngff import read_levels

    p = Path(path[0] if isinstance(path, list) else path)
    group, ms, _ = _multiscales(p)
    src = open_input(p)  # level 0 with axes, scale, translation, units, channel names
    levels = read_levels(group)
    axes = src.axes
    kwargs = {
        "name": src.name,
        "scale": list(src.scale),
        "translate": list(src.translation),
        "units": [src.units.get(a, "pixel") for a in axes],
        "axis_labels": [a.lower() for a in axes],
        "metadata": {"napari_superres": dict(group.attrs.get("napari_superres", {})), "path": str(p)},
    }
    if "C" in axes:
        c = axes.index("C")
        n = src.shape[c]
        drop = [i for i in range(len(axes)) if i != c]
        if np.dtype(src.dtype) == np.uint8 and n in (3, 4):
            levels = [da.moveaxis(lv, c, -1) for lv in levels]
            kwargs["rgb"] = True
        else:
            kwargs["channel_axis"] = c
            if src.channel_names:
                kwargs["name"] = [f"{src.name} {label}" for label in src.channel_names]
        for key in ("scale", "translate", "units", "axis_labels"):
            kwargs[key] = [kwargs[key][i] for i in drop]
    data = levels if len(levels) > 1 else levels[0]
    kwargs["multiscale"] = len(levels) > 1
    return [(data, kwargs, "image")]
