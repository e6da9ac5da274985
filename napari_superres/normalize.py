"""Global intensity normalisation into the [0, 1] range the networks were trained on, and back.

Never per tile: per-tile statistics would make every tile a different brightness (seams).

>>> import numpy as np
>>> lo, hi = robust_range(np.arange(1000, dtype=np.uint16))
>>> round(lo, 3), round(hi, 3)
(0.999, 998.001)
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


def training_range(a: np.ndarray) -> tuple[float, float]:
    """The range training maps an array's values to [0, 1] with: the type's for 8-bit, else the robust
    percentiles of every (size // 512)-th value along each axis."""
    return fixed_range(a.dtype) or robust_range(
        a[tuple(slice(None, None, max(1, s // 512)) for s in a.shape)]
    )


def work_dtype(dtype) -> np.dtype:
    """The float type that holds every value of ``dtype`` closely enough to normalise and restore it:
    float64 for 32- and 64-bit integers and float64 (float32 keeps only 24 bits), else float32."""
    dt = np.dtype(dtype)
    if (dt.kind in "iu" and dt.itemsize >= 4) or dt == np.float64:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def cast_back(values: np.ndarray, dtype) -> np.ndarray:
    """Round and clip float ``values`` into an integer ``dtype``; floats are cast unchanged.

    Clipping happens in float64 for wide integers, and values at or beyond a limit become exactly that
    limit (``float(2**63 - 1)`` rounds up to ``2**63``, which a plain cast would wrap to the minimum).

    >>> cast_back(np.array([-1.0, 7.4, 5e9], np.float32), np.uint32).tolist()
    [0, 7, 4294967295]
    >>> cast_back(np.array([1e30, -1e30]), np.int64).tolist()
    [9223372036854775807, -9223372036854775808]
    """
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return values >= 0.5
    if not np.issubdtype(dt, np.integer):
        return values.astype(dt, copy=False)
    info = np.iinfo(dt)
    v = np.rint(np.asarray(values, dtype=work_dtype(dt)))
    v = np.where(np.isnan(v), 0, v)  # NaN has no integer: 0, never the garbage of an invalid cast
    top, bottom = v >= float(info.max), v <= float(info.min)
    inside = np.clip(v, np.nextafter(float(info.min), 0.0), np.nextafter(float(info.max), 0.0))
    out = inside.astype(dt)
    out[top] = info.max
    out[bottom] = info.min
    return out
