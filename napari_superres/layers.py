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

from .errors import SuperResError
from .io import OME_ORDER, SourceImage

_BY_NDIM = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX"}


def layer_axes(layer) -> str:
    """Axis letters of an image layer's data: its axis labels when they are T/C/Z/Y/X, else by ndim.

    RGB(A) layers get a trailing ``C``: ``YXC``, ``ZYXC``.
    """
    nd = int(layer.ndim)
    labels = [str(a).upper() for a in (getattr(layer, "axis_labels", None) or ())]
    if len(labels) == nd and all(len(a) == 1 and a in OME_ORDER for a in labels) and len(set(labels)) == nd:
        axes = "".join(labels)
    elif nd in _BY_NDIM:
        axes = _BY_NDIM[nd]
    else:
        raise SuperResError(
            f"a {nd}-D layer has no standard axis order; give it axis labels such as t, c, z, y, x"
        )
    if "Y" not in axes or "X" not in axes:
        raise SuperResError(f"layer {layer.name!r} has no y and x axes (axis labels {labels}); relabel them")
    return axes + ("C" if getattr(layer, "rgb", False) else "")


def _unit_text(unit) -> str | None:
    text = str(unit) if unit is not None else ""
    return None if text in ("", "pixel", "None", "dimensionless") else text


def source_from_layer(layer) -> SourceImage:
    """A napari image layer as a lazily sliceable :class:`SourceImage` (level 0 when multiscale)."""
    kind = getattr(layer, "_type_string", type(layer).__name__.lower())
    if kind != "image":
        raise SuperResError(f"layer {layer.name!r} is a {kind} layer; choose an image layer to enlarge")
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    if 0 in tuple(data.shape):
        raise SuperResError(f"layer {layer.name!r} is empty (shape {tuple(data.shape)}); nothing to enlarge")
    axes = layer_axes(layer)
    spatial = axes.rstrip("C") if getattr(layer, "rgb", False) else axes
    scale = [float(v) for v in layer.scale]
    translate = [float(v) for v in layer.translate]
    units = {}
    for a, u in zip(spatial, getattr(layer, "units", None) or ()):
        text = _unit_text(u)
        if text:
            units[a] = text
    if getattr(layer, "rgb", False):
        scale, translate = scale + [1.0], translate + [0.0]
    path = getattr(getattr(layer, "source", None), "path", None)  # the file it was opened from, if any
    return SourceImage(data, axes, scale, translate, units, path=path, name=layer.name or "image")


def placement(src: SourceImage, scale: float, rgb: bool = False) -> tuple[list[float], list[float]]:
    """Layer ``scale`` and ``translate`` of the enlarged image, in the source's axis order.

    ``rgb``: the source's trailing C is napari's RGB axis, which has no scale of its own.
    """
    from .store import output_geometry

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


def upscale_layer(layer, model="default", scale=2, **kwargs):
    """The lazy enlarged array of a napari image layer (what ``napari_superres.upscale(layer)`` does)."""
    from .engine import upscale

    return upscale(source_from_layer(layer), model, scale, **kwargs)


def add_upscaled(viewer, layer, model="default", scale=2, *, preview: bool = True, **kwargs):
    """Add the enlarged ``layer`` to ``viewer``, placed over its input, and return the new layer.

    Lazy: only what napari displays is computed (a multiscale layer whose finest level is the
    result). ``kwargs`` go to :func:`napari_superres.upscale` (``tile``, ``device``, ...).
    """
    if isinstance(layer, str):
        layer = viewer.layers[layer]
    result = upscale_layer(layer, model, scale, **kwargs)
    name = model if isinstance(model, str) else getattr(model, "name", "model")
    kw = layer_kwargs(layer, float(scale), name)
    data = preview_levels(layer, result) if preview else result
    return viewer.add_image(data, multiscale=preview, **kw)
