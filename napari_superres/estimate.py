"""``degradation="auto"``: which degradation made this image, estimated from the image itself.

ZSSR-style internal check: a fixed sample of windows of the input is shrunk by each candidate
degradation, enlarged back with the model trained for it, and scored against the input. The
candidate whose model reconstructs the input best wins (one global choice per image, never per
tile, so tiling stays exact). The same check gives a quality estimate without ground truth: the
winner's gain over bicubic enlargement of the same shrunk windows, an estimate of the gain to
expect on the image itself. When no model is expected to beat bicubic, ``auto`` falls back to
bicubic interpolation and says so.

>>> import numpy as np
>>> from napari_superres.estimate import estimate_degradation
>>> rng = np.random.default_rng(0)
>>> report = estimate_degradation([rng.random((96, 96))], "bicubic", 2)   # doctest: +SKIP
"""

from __future__ import annotations

import threading

import numpy as np

from .errors import SuperResError

CANDIDATES = ("bicubic", "binning", "gaussian:0.75", "gaussian:1.0", "gaussian:1.5", "gaussian:2.0")
WINDOW = 128  # input pixels a side of each sampled window
WINDOWS = 8
BORDER = 4  # pixels left out of every score (the windows' own borders)
_CACHE: dict = {}
_LOCK = threading.Lock()


def sample_windows(data, axes: str, n: int = WINDOWS, size: int = WINDOW) -> list[np.ndarray]:
    """A fixed spread of ``size``-pixel YX windows of the middle plane of the first channel, float64.

    The same image always gives the same windows (a grid, no randomness); a small image is used whole.
    """
    shape = data.shape
    y_ax, x_ax = axes.index("Y"), axes.index("X")
    H, W = shape[y_ax], shape[x_ax]
    lead = [s // 2 if a not in "YXC" else 0 for a, s in zip(axes, shape)]
    hs, ws = min(size, H), min(size, W)
    rows = max(1, int(round(np.sqrt(n))))
    cols = max(1, -(-n // rows))
    ys = np.linspace(0, H - hs, rows).round().astype(int)
    xs = np.linspace(0, W - ws, cols).round().astype(int)
    out = []
    for y in sorted(set(ys.tolist())):
        for x in sorted(set(xs.tolist())):
            idx = list(lead)
            idx[y_ax], idx[x_ax] = slice(y, y + hs), slice(x, x + ws)
            out.append(np.asarray(data[tuple(idx)], dtype=np.float64))
    return out


def _unit(windows: list[np.ndarray], nodata=None) -> list[np.ndarray]:
    from .normalize import robust_range

    vals = np.concatenate([w.ravel() for w in windows])
    if nodata is not None:
        vals = vals[vals != nodata]
    lo, hi = robust_range(vals)
    return [(w - lo) / (hi - lo) for w in windows]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    from .metrics import psnr, shave

    return psnr(shave(a, BORDER), shave(b, BORDER), peak=1.0)


def score_candidates(windows: list[np.ndarray], model: str, scale: int, candidates=CANDIDATES, device="cpu"):
    """Per candidate: mean PSNR of the model's reconstruction of the windows from their shrunk
    copies, and its gain over bicubic enlargement of the same copies (dB). Candidates whose family
    the model has no weights for are left out."""
    import torch

    from .degradation import parse_degradation
    from .models import load_model

    out = {}
    bic = load_model("bicubic", scale)
    for name in candidates:
        deg = parse_degradation(name)
        try:
            mdl = load_model(model, scale, degradation=deg).to(device)
        except SuperResError:
            continue
        psnrs, gains = [], []
        for w in windows:
            h, wd = (w.shape[0] // scale) * scale, (w.shape[1] // scale) * scale
            if min(h, wd) < 8 * scale:
                continue
            hr = torch.from_numpy(np.ascontiguousarray(w[:h, :wd]))[None, None]
            lr = deg.downsample(hr, scale).float().to(device)
            sr = mdl(lr)[0, 0].double().cpu().numpy()
            base = bic(lr.cpu())[0, 0].double().numpy()
            p = _psnr(sr, w[:h, :wd])
            psnrs.append(p)
            gains.append(p - _psnr(base, w[:h, :wd]))
        if psnrs:
            out[name] = {"psnr": float(np.mean(psnrs)), "gain": float(np.mean(gains)), "worst": float(np.min(gains))}
    return out


def estimate_degradation(windows, model: str, scale: int, device="cpu", key=None, nodata=None) -> dict:
    """Choose the degradation for ``model`` at ``scale`` from windows of the input (own units).

    Returns a JSON-ready report: ``choice`` (a degradation name, or ``"bicubic interpolation"``
    after a fallback), ``confidence`` (the winner's margin over the runner-up, dB),
    ``expected_gain_db`` (over bicubic enlargement), ``scores`` and ``fallback``. Cached by ``key``.
    """
    if key is not None:
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]
    wins = _unit([np.asarray(w, np.float64) for w in windows], nodata)
    scores = score_candidates(wins, model, scale, device=device)
    if not scores:
        raise SuperResError(
            f"no window of the image is large enough to estimate its degradation at x{scale}; "
            "name a degradation instead of 'auto'"
        )
    ranked = sorted(scores, key=lambda k: scores[k]["psnr"], reverse=True)
    best = ranked[0]
    margin = scores[best]["psnr"] - scores[ranked[1]]["psnr"] if len(ranked) > 1 else float("inf")
    gain = scores[best]["gain"]
    report = {
        "choice": best,
        "confidence_db": round(float(margin), 3),
        "expected_gain_db": round(gain, 3),
        "scores": {k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in scores.items()},
        "fallback": gain <= 0.0,
        "method": f"{len(wins)} windows of up to {WINDOW} px shrunk by each candidate and enlarged back "
        "with its model; best reconstruction PSNR wins",
    }
    if report["fallback"]:
        report["message"] = (
            f"model {model!r} is expected to do worse than bicubic on this image "
            f"({gain:+.2f} dB in the internal check); using bicubic interpolation instead"
        )
    if key is not None:
        with _LOCK:
            _CACHE[key] = report
    return report
