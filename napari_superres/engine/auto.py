"""``degradation="auto"``: which degradation made this image, estimated from the image itself.

Self-similarity across scales (the ZSSR idea): a fixed sample of windows of the input is shrunk
by each candidate degradation. The scene's statistics look alike at neighbouring scales, so the
candidate that made the input is the one whose shrunk copy has the input's own spectral shape
(log radial power spectrum, up to a constant): a detector's box filter leaves more fine detail and
aliasing than an antialiased bicubic, a PSF takes more away. One global choice per image, never
per tile, so tiling stays exact; cached per input.

Scoring which model reconstructs the windows best from their shrunk copies does not tell the
candidates apart (measured on the real validation split: the ranking was the same whatever the
true degradation), but it is a quality estimate without ground truth: the chosen model's gain
over bicubic enlargement of the same shrunk windows, the gain to expect on the image itself.
When it is not positive, ``auto`` falls back to bicubic interpolation and says so.

>>> import numpy as np
>>> from napari_superres.engine.auto import estimate_degradation
>>> rng = np.random.default_rng(0)
>>> report = estimate_degradation([rng.random((96, 96))], "bicubic", 2)   # doctest: +SKIP
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import SuperResError

# Gaussian PSFs are not candidates: on the real validation split the spectral check chose a wide PSF
# for images that are oversampled (a HeLa field at 0.05 um pixels is smooth at the pixel level
# whatever made its LR), and the PSF model then sharpened them into artefacts (-8 dB against bicubic).
# Binning and bicubic are never worse than the bicubic-trained default there; give a PSF explicitly
# with degradation="gaussian:SIGMA" (docs/real-data.md has the figures).
CANDIDATES = ("bicubic", "binning")
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
    from ..normalize import robust_range

    vals = np.concatenate([w.ravel() for w in windows])
    if nodata is not None:
        vals = vals[vals != nodata]
    lo, hi = robust_range(vals)
    return [(w - lo) / (hi - lo) for w in windows]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    from ..metrics import psnr, shave

    return psnr(shave(a, BORDER), shave(b, BORDER), peak=1.0)


SPECTRUM_EDGES = np.linspace(0.05, 0.5, 10)  # radial frequency bands, cycles per pixel


def log_spectrum(w: np.ndarray) -> np.ndarray:
    """Log of the mean power in each radial band of :data:`SPECTRUM_EDGES` (Hann-windowed)."""
    w = w - w.mean()
    h, wd = w.shape
    power = np.abs(np.fft.fft2(w * np.outer(np.hanning(h), np.hanning(wd)))) ** 2
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(wd)[None, :])
    bands = zip(SPECTRUM_EDGES[:-1], SPECTRUM_EDGES[1:])
    return np.array([np.log(power[(f >= a) & (f < b)].mean() + 1e-20) for a, b in bands])


def spectral_mismatch(windows: list[np.ndarray], scale: int, candidates=CANDIDATES) -> dict[str, float]:
    """Per candidate: how far the shrunk windows' spectral shape is from the windows' own (lower: closer)."""
    import torch

    from ..degradation import parse_degradation

    out = {}
    for name in candidates:
        deg = parse_degradation(name)
        dists = []
        for w in windows:
            h, wd = (w.shape[0] // scale) * scale, (w.shape[1] // scale) * scale
            if min(h, wd) < 16 * scale:
                continue
            small = deg.downsample(torch.from_numpy(np.ascontiguousarray(w[:h, :wd]))[None], scale)[0].numpy()
            diff = log_spectrum(w[:h, :wd]) - log_spectrum(small)
            dists.append(float(np.sum((diff - diff.mean()) ** 2)))
        if dists:
            out[name] = float(np.mean(dists))
    return out


def expected_gain(windows: list[np.ndarray], model, scale: int, deg, device="cpu") -> float:
    """Mean gain (dB) over bicubic of ``model`` enlarging the windows shrunk by ``deg``, scored
    against the windows: the quality estimate without ground truth."""
    import torch

    from ..models import load_model

    bic = load_model("bicubic", scale)
    mdl = model.to(device)
    gains = []
    for w in windows:
        h, wd = (w.shape[0] // scale) * scale, (w.shape[1] // scale) * scale
        if min(h, wd) < 8 * scale:
            continue
        lr = deg.downsample(torch.from_numpy(np.ascontiguousarray(w[:h, :wd]))[None, None], scale).float()
        sr = mdl(lr.to(device))[0, 0].double().cpu().numpy()
        base = bic(lr)[0, 0].double().numpy()
        gains.append(_psnr(sr, w[:h, :wd]) - _psnr(base, w[:h, :wd]))
    return float(np.mean(gains)) if gains else 0.0


def estimate_degradation(windows, model: str, scale: int, device="cpu", key=None, nodata=None) -> dict:
    """Choose the degradation for ``model`` at ``scale`` from windows of the input (own units).

    Returns a JSON-ready report: ``choice`` (a degradation name), ``confidence`` (the runner-up's
    spectral mismatch over the winner's; 1 is a tie), ``expected_gain_db`` (over bicubic
    enlargement), ``mismatch`` per candidate, and ``fallback`` (with a ``message``) when the gain is
    not positive. Cached by ``key``.
    """
    if key is not None:
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]
    from ..degradation import parse_degradation
    from ..models import load_model

    wins = _unit([np.asarray(w, np.float64) for w in windows], nodata)
    models = {}  # candidates the model has weights for (a network trained for bicubic only: bicubic)
    for name in CANDIDATES:
        try:
            models[name] = load_model(model, scale, degradation=name)
        except SuperResError:
            continue
    mismatch = spectral_mismatch(wins, scale, list(models))
    if not mismatch:
        raise SuperResError(
            f"no window of the image is large enough (at least {16 * scale} pixels) to estimate its "
            f"degradation at x{scale}; name a degradation instead of 'auto'"
        )
    ranked = sorted(mismatch, key=mismatch.get)
    best = ranked[0]
    gain = expected_gain(wins, models[best], scale, parse_degradation(best), device=device)
    # confidence: how much worse the runner-up fits, as a ratio of mismatches (1: a tie)
    ratio = mismatch[ranked[1]] / max(mismatch[best], 1e-9) if len(ranked) > 1 else float("inf")
    report = {
        "choice": best,
        "confidence": round(float(min(ratio, 1e6)), 3),
        "expected_gain_db": round(float(gain), 3),
        "mismatch": {k: round(v, 3) for k, v in mismatch.items()},
        "fallback": gain <= 0.0,
        "method": f"{len(wins)} windows of up to {WINDOW} px shrunk by each candidate; the one keeping "
        "the input's spectral shape wins; expected gain from its model's reconstruction of the windows",
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
