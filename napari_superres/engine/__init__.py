"""The engine: a model applied lazily, chunk by chunk with a halo, to an array of any size.

:mod:`.options` (:class:`UpscaleOptions`, validated once), :mod:`.plan` (the dask graph and its
:class:`Plan`), :mod:`.run` (what each tile task does, the forward pass, batching, the per-process
cache), :mod:`.auto` (``degradation="auto"``). Imports models and io; never the writer or napari.
"""

from __future__ import annotations

from .options import PRECISIONS, UpscaleOptions, check_scale, model_scale
from .plan import (
    DEFAULT_TILE,
    STRIP_TILES,
    Plan,
    auto_report,
    band_bytes,
    build,
    default_tile,
    source_token,
    stream_order,
)
from .run import forward

__all__ = [
    "DEFAULT_TILE",
    "PRECISIONS",
    "STRIP_TILES",
    "Plan",
    "UpscaleOptions",
    "auto_report",
    "band_bytes",
    "build",
    "check_scale",
    "default_tile",
    "model_scale",
    "forward",
    "source_token",
    "stream_order",
]
