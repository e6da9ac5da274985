"""The options of one upscale, validated once: :class:`UpscaleOptions` is what the API, the CLI and
the widget build and what the plan and the writer read.

>>> from napari_superres.engine import UpscaleOptions
>>> UpscaleOptions(scale="2.5", tile=128).model_scale
3
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..degradation import Degradation, parse_degradation
from ..errors import SuperResError, opt
from ..models import DEFAULT_ITERATIONS, MAX_ITERATIONS

PRECISIONS = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}


@dataclass(frozen=True)
class UpscaleOptions:
    """Everything that decides an upscale's result, checked on creation (one-line :class:`SuperResError`).

    ``scale`` becomes a float above 1 and at most 8; ``normalize`` ``"auto"``, None or a ``(lo, hi)``
    tuple; ``consistency`` a number of back-projection steps (True: 5); ``degradation`` ``"auto"``
    (the default), None (the weights' own) or a :class:`~napari_superres.degradation.Degradation`. ``nodata`` is
    checked against the image's type by the plan. See :func:`napari_superres.upscale` for each one.
    """

    model: Any = "default"
    scale: float = 2.0
    axes: str | None = None
    normalize: Any = "auto"
    tile: int | None = None
    device: str = "auto"
    consistency: int = 0
    nodata: float | None = None
    precision: str = "fp32"
    batch: int | None = None
    degradation: Any = "auto"

    def __post_init__(self):
        def put(key, value):  # frozen: each field is set once, here
            object.__setattr__(self, key, value)

        put("scale", check_scale(self.scale))
        put("normalize", check_normalize(self.normalize))
        put("tile", check_tile(self.tile))
        put("consistency", check_consistency(self.consistency))
        put("nodata", check_nodata(self.nodata))
        if self.precision not in PRECISIONS:
            raise SuperResError(
                f"{opt('precision')} must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        b = self.batch
        if b is not None and (isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1):
            raise SuperResError(f"{opt('batch')} must be a whole number of tiles (1 or more), got {b!r}")
        put("degradation", check_degradation(self.degradation))

    @property
    def model_scale(self) -> int:
        """The network's own (integer) scale: the next whole number at or above ``scale``."""
        return model_scale(self.scale)

    def replace(self, **changes) -> UpscaleOptions:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)


def model_scale(scale: float) -> int:
    """The integer scale of the network that enlarges by ``scale`` (then resampled down when not whole)."""
    return math.ceil(scale - 1e-9)


def check_scale(scale) -> float:
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise SuperResError(f"{opt('scale')} must be a number above 1 and at most 8, got {scale!r}") from None
    if not (1 < s <= 8) or not math.isfinite(s):
        raise SuperResError(f"{opt('scale')} must be above 1 and at most 8, got {scale!r}")
    return s


def check_nodata(nodata, dtype=None):
    """``nodata`` as a number (of the image's type, when ``dtype`` is given), or None (NaN pixels are
    always missing)."""
    if nodata is None:
        return None
    try:
        v = float(nodata)
    except (TypeError, ValueError):
        raise SuperResError(f"{opt('nodata')} must be a number, got {nodata!r}") from None
    if math.isnan(v):
        return None  # NaN pixels are always treated as missing
    if dtype is None:
        return v
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if not (info.min <= v <= info.max) or not v.is_integer():
            raise SuperResError(
                f"{opt('nodata')} {nodata!r} cannot occur in {dt} data (values {info.min} to {info.max}); "
                "give the value the file uses for missing pixels"
            )
        return int(v)
    return v


def check_normalize(normalize):
    if normalize is None or (isinstance(normalize, str) and normalize.lower() == "none"):
        return None
    if isinstance(normalize, str):
        if normalize.lower() != "auto":
            parts = normalize.split(",")
            if len(parts) == 2:
                return check_normalize(tuple(parts))
            raise SuperResError(f"{opt('normalize')} must be auto, none or a LO,HI pair, got {normalize!r}")
        return "auto"
    try:
        lo, hi = (float(v) for v in normalize)
    except (TypeError, ValueError):
        raise SuperResError(
            f"{opt('normalize')} must be auto, none or a LO,HI pair, got {normalize!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise SuperResError(f"{opt('normalize')} range needs finite LO < HI, got {lo:g},{hi:g}")
    return (lo, hi)


def check_tile(tile) -> int | None:
    """A tile size in input pixels (a positive whole number), or None for the model's default."""
    if tile is None:
        return None
    try:
        t = int(tile)
    except (TypeError, ValueError):
        t = 0
    if t < 1 or t != tile or isinstance(tile, bool):
        raise SuperResError(f"{opt('tile')} must be a positive number of input pixels, got {tile!r}")
    return t


def check_consistency(consistency) -> int:
    """Back-projection steps: False / 0 none, True the default 5, or a whole number."""
    if consistency is True:
        return DEFAULT_ITERATIONS
    if consistency is None or consistency is False:
        return 0
    try:
        n = int(consistency)
    except (TypeError, ValueError):
        n = -1
    if n < 0 or n != consistency or n > MAX_ITERATIONS:
        raise SuperResError(
            f"{opt('consistency')} must be a number of back-projection steps from 0 to {MAX_ITERATIONS}, "
            f"got {consistency!r}"
        )
    return n


def check_degradation(degradation):
    """None (the weights' own), ``"auto"``, or a parsed :class:`Degradation`."""
    if degradation is None or isinstance(degradation, Degradation):
        return degradation
    if isinstance(degradation, str) and degradation.strip().lower() == "auto":
        return "auto"
    return parse_degradation(degradation)
