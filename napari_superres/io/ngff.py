"""OME-Zarr (NGFF 0.5, zarr v3) layout: ``ome`` attributes, where the enlarged image and each pyramid
level sit in physical space, the pyramid itself, and a non-resumable writer for arrays that are
cheap to recompute (a layer, the isotropic result). The resumable writer of enlarged images is
:mod:`napari_superres.writer`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..normalize import cast_back

PYRAMID_MIN = 512  # add levels while the larger side exceeds this


def _axis_meta(letter: str, units: dict) -> dict:
    kind = {"T": "time", "C": "channel"}.get(letter, "space")
    entry = {"name": letter.lower(), "type": kind}
    if letter in units:
        entry["unit"] = units[letter]
    return entry


def ome_attrs(axes, level_scales, level_translations, units, name, channel_names=None) -> dict:
    """NGFF 0.5 ``ome`` attributes for a multiscale image."""
    datasets = [
        {
            "path": str(i),
            "coordinateTransformations": [
                {"type": "scale", "scale": [float(v) for v in sc]},
                {"type": "translation", "translation": [float(v) for v in tr]},
            ],
        }
        for i, (sc, tr) in enumerate(zip(level_scales, level_translations))
    ]
    ome = {
        "version": "0.5",
        "multiscales": [{"name": name, "axes": [_axis_meta(a, units) for a in axes], "datasets": datasets}],
    }
    if channel_names:
        ome["omero"] = {"channels": [{"label": str(c)} for c in channel_names]}
    return ome


def output_geometry(src, scale: float, axes_out: str):
    """Level-0 scale and translation of the output, per output axis (pixel centres aligned)."""
    sc, tr = [], []
    for a in axes_out:
        i = src.axes.index(a)
        s_in, t_in = float(src.scale[i]), float(src.translation[i])
        if a in "YX":
            sc.append(s_in / scale)
            tr.append(t_in - s_in * (scale - 1) / (2 * scale))
        else:
            sc.append(s_in)
            tr.append(t_in)
    return sc, tr


def _coarsen_mean(block, y_ax, x_ax, dtype):
    """2x2 mean over Y and X (odd edges dropped), cast back to ``dtype``."""
    hy, hx = block.shape[y_ax] // 2, block.shape[x_ax] // 2
    keep = tuple(
        slice(0, 2 * hy) if d == y_ax else slice(0, 2 * hx) if d == x_ax else slice(None)
        for d in range(block.ndim)
    )
    b = block[keep].astype(np.float64)
    shape, reduce = [], []
    for d, n in enumerate(b.shape):
        if d in (y_ax, x_ax):
            shape += [n // 2, 2]
            reduce.append(len(shape) - 1)
        else:
            shape.append(n)
    return cast_back(b.reshape(shape).mean(axis=tuple(reduce)), dtype)


def pyramid_shapes(shape, y_ax: int, x_ax: int) -> list[tuple]:
    """Level shapes: halve Y and X while the larger side exceeds PYRAMID_MIN (and both stay >= 4)."""
    shapes = [tuple(shape)]
    while (
        max(shapes[-1][y_ax], shapes[-1][x_ax]) > PYRAMID_MIN and min(shapes[-1][y_ax], shapes[-1][x_ax]) >= 4
    ):
        sh = list(shapes[-1])
        sh[y_ax] //= 2
        sh[x_ax] //= 2
        shapes.append(tuple(sh))
    return shapes


def level_geometry(scale0, trans0, n_levels: int, y_ax: int, x_ax: int):
    """Per-level scale and translation lists: 2**k coarser on Y and X, pixel centres kept aligned."""
    level_scales, level_trans = [], []
    for k in range(n_levels):
        f = 2**k
        level_scales.append([v * f if d in (y_ax, x_ax) else v for d, v in enumerate(scale0)])
        level_trans.append(
            [t + v * (f - 1) / 2 if d in (y_ax, x_ax) else t for d, (t, v) in enumerate(zip(trans0, scale0))]
        )
    return level_scales, level_trans


def build_pyramid(group, shapes, chunk0, y_ax: int, x_ax: int, workers: int):
    """Fill levels 1.. of ``group`` by 2x2 means of the level before; yields each level number."""
    import dask.array as da

    dtype = group["0"].dtype
    for k in range(1, len(shapes)):
        prev = da.from_zarr(
            group[str(k - 1)], chunks=tuple(2 * c if d in (y_ax, x_ax) else c for d, c in enumerate(chunk0))
        )
        lvl = prev.map_blocks(
            _coarsen_mean,
            y_ax,
            x_ax,
            dtype,
            dtype=dtype,
            chunks=tuple(
                tuple(v // 2 for v in ch) if d in (y_ax, x_ax) else ch for d, ch in enumerate(prev.chunks)
            ),
        )
        lvl = lvl[tuple(slice(0, n) for n in shapes[k])]
        da.store(lvl, group[str(k)], lock=False, scheduler="threads", num_workers=max(workers, 1))
        yield k


def create_levels(group, out: Path, shapes, chunk0, dtype, axes: str) -> None:
    """The pyramid's arrays that do not exist yet (a resumed run keeps the ones it has)."""
    for k, sh in enumerate(shapes):
        if not (out / str(k) / "zarr.json").exists():
            group.create_array(
                str(k),
                shape=sh,
                chunks=chunk0,
                dtype=dtype,
                fill_value=0,
                dimension_names=[a.lower() for a in axes],  # NGFF 0.5 requires them
            )


def write_ome(arr, out, axes, scale, translation, units, name, channel_names=None, attrs=None):
    """Write a (dask) array in OME axis order to a new OME-Zarr at ``out`` with a pyramid; not resumable.

    For arrays that are cheap to recompute (a layer, the isotropic result); the enlarged images of
    :func:`iter_write` go through its resumable path instead.
    """
    import dask.array as da
    import zarr

    y_ax, x_ax = axes.index("Y"), axes.index("X")
    chunk0 = tuple(min(n, 256) if d in (y_ax, x_ax) else 1 for d, n in enumerate(arr.shape))
    arr = da.asarray(arr).rechunk(chunk0)
    shapes = pyramid_shapes(arr.shape, y_ax, x_ax)
    sc, tr = level_geometry(list(scale), list(translation), len(shapes), y_ax, x_ax)
    attributes = {"ome": ome_attrs(axes, sc, tr, units, name, channel_names)}
    if attrs:
        attributes["napari_superres"] = attrs
    group = zarr.open_group(str(out), mode="w-", zarr_format=3, attributes=attributes)
    create_levels(group, Path(out), shapes, chunk0, arr.dtype, axes)
    da.store(arr, group["0"], lock=False)
    for _ in build_pyramid(group, shapes, chunk0, y_ax, x_ax, workers=os.cpu_count() or 1):
        pass
    return group["0"]


def read_levels(path_or_group, axes_out: str | None = None) -> list:
    """Every pyramid level of an OME-Zarr (a path, or its open group) as lazy dask arrays, level 0 first;
    transposed from the file's axis order to ``axes_out`` when given. NGFF 0.4 and 0.5 attributes."""
    import dask.array as da
    import zarr

    from .readers import ome_multiscale_attrs

    group = path_or_group
    if not isinstance(group, zarr.Group):
        group = zarr.open_group(str(path_or_group), mode="r")
    ms, _ = ome_multiscale_attrs(dict(group.attrs))
    levels = [da.from_zarr(group[d["path"]]) for d in ms["datasets"]]
    if axes_out is not None:
        written = "".join(a["name"] for a in ms["axes"]).upper()
        levels = [lv.transpose([written.index(a) for a in axes_out]) for lv in levels]
    return levels
