"""napari layers in and out, without Qt: what the widgets and napari's console share.

A napari image layer becomes a :class:`~napari_superres.io.SourceImage` (level 0 of a multiscale
layer, its axes, scale, translate and units), and an enlarged result becomes layer keyword
arguments that place it exactly over its input: ``scale / s`` and ``translate - scale (s-1)/(2s)``
on Y and X, so pixel centres overlay.

>>> import napari, napari_superres as nsr                        # doctest: +SKIP
>>> viewer = napari.Viewer()                                     # doctest: +SKIP
>>> layer = viewer.add_image(cells, scale=(2.0, 0.3, 0.3))        # doctest: +SKIP
>>> big = nsr.add_upscaled(viewer, layer, scale=2)               # doctest: +SKIP
>>> big.scale                                                    # doctest: +SKIP
array([2.  , 0.15, 0.15])
"""

from __future__ import annotations

import numpy as np

from .io import OME_ORDER, SourceImage, layer_axes, open_input, source_from_layer
from .io.ngff import output_geometry, read_levels

__all__ = [
    "add_upscaled",
    "displayed_plane",
    "layer_axes",
    "layer_kwargs",
    "placement",
    "plane_placement",
    "preview_levels",
    "source_from_layer",
    "upscale_layer",
    "written_levels",
]


def placement(src: SourceImage, scale: float, rgb: bool = False) -> tuple[list[float], list[float]]:
    """Layer ``scale`` and ``translate`` of the enlarged image, in the source's axis order.

    ``rgb``: the source's trailing C is napari's RGB axis, which has no scale of its own.
    """
    return output_geometry(src, scale, src.axes[:-1] if rgb else src.axes)


def layer_kwargs(layer, scale: float, model_name: str) -> dict:
    """Keyword arguments for ``viewer.add_image`` that place an enlarged ``layer`` over it."""
    src = source_from_layer(layer)
    sc, tr = placement(src, scale, bool(getattr(layer, "rgb", False)))
    kw = {
        "name": f"{layer.name} x{scale:g} ({model_name})",
        "scale": sc,
        "translate": tr,
        "rgb": bool(getattr(layer, "rgb", False)),
        "blending": str(getattr(layer.blending, "value", layer.blending)),
        "metadata": {"napari_superres": {"source_layer": layer.name, "scale": scale, "model": model_name}},
    }
    if not kw["rgb"]:
        kw["colormap"] = layer.colormap.name
        kw["contrast_limits"] = tuple(float(v) for v in layer.contrast_limits)
    units = getattr(layer, "units", None)
    if units is not None:
        kw["units"] = tuple(str(u) for u in units)
    labels = getattr(layer, "axis_labels", None)
    if labels is not None:
        kw["axis_labels"] = tuple(labels)
    return kw


def preview_levels(layer, result) -> list:
    """A multiscale pyramid for a lazy result: the result itself, then the input's own levels.

    napari then computes only the visible part of the finest level it shows; zoomed out it shows
    the input, which is what the enlarged image looks like at that size anyway.
    """
    inputs = list(layer.data) if getattr(layer, "multiscale", False) else [layer.data]
    return [result, *inputs]


def upscale_layer(layer, model="default", scale=2, *, options=None, **kwargs):
    """The lazy enlarged array of a napari image layer (what ``napari_superres.upscale(layer)`` does).

    ``options``: an :class:`~napari_superres.engine.UpscaleOptions` (the widget's), instead of
    ``model``, ``scale`` and ``kwargs``."""
    if options is not None:
        from .engine import build

        return build(source_from_layer(layer), options)[0]
    from .api import upscale

    return upscale(source_from_layer(layer), model, scale, **kwargs)


def add_upscaled(viewer, layer, model="default", scale=2, *, preview: bool = True, options=None, **kwargs):
    """Add the enlarged ``layer`` to ``viewer``, placed over its input, and return the new layer.

    Lazy: only what napari displays is computed (a multiscale layer whose finest level is the
    result). ``kwargs`` go to :func:`napari_superres.upscale` (``tile``, ``device``, ...); or give
    ``options`` (an :class:`~napari_superres.engine.UpscaleOptions`) instead of all three.
    """
    if isinstance(layer, str):
        layer = viewer.layers[layer]
    if options is not None:
        model, scale = options.model, options.scale
    result = upscale_layer(layer, model, scale, options=options, **kwargs)
    name = model if isinstance(model, str) else getattr(model, "name", "model")
    kw = layer_kwargs(layer, float(scale), name)
    data = preview_levels(layer, result) if preview else result
    return viewer.add_image(data, multiscale=preview, **kw)


def written_levels(layer, path) -> list:
    """A written result (OME-Zarr: every level; TIFF: level 0) read back lazily, in ``layer``'s axis
    order (outputs are written in OME order), ready to be added over ``layer``."""
    from pathlib import Path

    import dask.array as da

    axes = layer_axes(layer)
    written = "".join(a for a in OME_ORDER if a in axes)
    perm = [written.index(a) for a in axes]
    if Path(path).suffix.lower() == ".zarr":
        return [lv.transpose(perm) for lv in read_levels(path)]
    return [da.from_zarr(open_input(path).data).transpose(perm)]


def displayed_plane(layer, current_step) -> np.ndarray:
    """The YX plane of ``layer`` napari shows at the viewer's ``dims.current_step`` (luma for RGB), as numpy.

    The layer's axes line up with the viewer's last ones; positions outside the layer are clipped.
    """
    from .metrics import rgb_to_y

    src = source_from_layer(layer)
    axes = layer_axes(layer)
    step = tuple(current_step)
    nd = layer.ndim
    index = []
    for i, a in enumerate(axes):
        if a in "YX" or (a == "C" and layer.rgb):
            index.append(slice(None))
        else:  # the displayed position along T, C, Z
            world = step[len(step) - nd + i] if len(step) >= nd else 0
            index.append(int(np.clip(world, 0, src.shape[i] - 1)))
    plane = np.asarray(src.data[tuple(index)])
    if layer.rgb:  # luma, on the 0-255 scale whatever the type (floats are taken as 0-1)
        peak = np.iinfo(plane.dtype).max if plane.dtype.kind in "iu" else 1.0
        plane = rgb_to_y(plane[..., :3].astype(np.float64) * (255.0 / peak))
    return plane


def plane_placement(layer, scale: float) -> dict:
    """``scale`` and ``translate`` (Y, X) of a 2-D image made from ``layer``'s displayed plane and
    enlarged ``scale`` times (below 1: shrunk, e.g. 1/2 for the LR input of an x2 evaluation), pixel
    centres aligned as for every result."""
    src = SourceImage(
        np.empty((1, 1)), "YX", [float(v) for v in layer.scale[-2:]], [float(v) for v in layer.translate[-2:]]
    )
    sc, tr = output_geometry(src, scale, "YX")
    return {"scale": tuple(sc), "translate": tuple(tr)}
