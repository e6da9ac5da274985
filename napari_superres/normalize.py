"""Global intensity normalisation into the [0, 1] range the networks were trained on, and back.

Never per tile: per-tile statistics would make every tile a different brightness (seams).

>>> import numpy as np
>>> lo, hi = robust_range(np.arange(1000, dtype=np.uint16))
>>> float(lo), float(hi)
(1.0, 998.0)
"""

from __future__ import annotations

import numpy as np

LOW_PERCENTILE = 0.1
HIGH_PERCENTILE = 99.9


def robust_range(sample: np.ndarray, low: float = LOW_PERCENTILE, high: float = HIGH_PERCENTILE):
    """Percentile range of the finite values of ``sample`` (float64 pair); never an empty range."""
    vals = np.asarray(sample, dtype=np.float64).ravel()
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(vals, [low, high])
    if hi <= lo:  # flat image: keep values, avoid division by zero
        hi = lo + 1.0
    return float(lo), float(hi)


def fixed_range(dtype) -> tuple[float, float] | None:
    """The range that maps a dtype to [0, 1] without statistics (uint8 and bool), else None."""
    dt = np.dtype(dtype)
    if dt == np.uint8:
        return 0.0, 255.0
    if dt == np.bool_:
        return 0.0, 1.0
    return None


def cast_back(values: np.ndarray, dtype) -> np.ndarray:
    """Round and clip float ``values`` into an integer ``dtype``; floats are cast unchanged."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return values >= 0.5
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return np.clip(np.rint(values), info.min, info.max).astype(dt)
    return values.astype(dt, copy=False)
