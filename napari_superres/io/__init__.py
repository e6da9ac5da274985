"""Reading and writing images, with no knowledge of models or the engine.

:mod:`.readers`: whatever the user gives (arrays, zarr, OME-Zarr, TIFF / OME-TIFF / ImageJ / GeoTIFF,
PNG / JPEG, napari layers by duck typing) as a lazily sliceable :class:`SourceImage` with axes and
physical metadata, and a chunk cache. :mod:`.ngff`: OME-Zarr attributes, output geometry, pyramid.
:mod:`.tiff`: TIFF / OME-TIFF / GeoTIFF writing. :mod:`.geo`: GeoTIFF georeferencing.
"""

from __future__ import annotations

from .readers import (
    IMAGE_SUFFIXES,
    OME_ORDER,
    PIL_SUFFIXES,
    TIFF_SUFFIXES,
    ChunkCache,
    SourceImage,
    check_axes,
    infer_axes,
    layer_axes,
    ome_multiscale_attrs,
    open_input,
    read_image_file,
    source_from_layer,
    unit_text,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "OME_ORDER",
    "PIL_SUFFIXES",
    "TIFF_SUFFIXES",
    "ChunkCache",
    "SourceImage",
    "check_axes",
    "infer_axes",
    "layer_axes",
    "ome_multiscale_attrs",
    "open_input",
    "read_image_file",
    "source_from_layer",
    "unit_text",
]
