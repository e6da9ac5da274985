"""``degradation="auto"``: how was this image made? Estimated from the image itself, and hedged.

Self-similarity across scales (the ZSSR idea): a fixed sample of windows of the input is shrunk
by each candidate degradation. The scene's statistics look alike at neighbouring scales, so the
candidate that made the input is the one whose shrunk copy has the input's own spectral shape
(log radial power spectrum, up to a constant): a detector's box filter leaves more fine detail and
aliasing than an antialiased bicubic.

That evidence is weak for single images (measured on the real data: the spectral check picked the
wrong sensor model for about a third of the images, and a wrong pick costs up to 0.4 dB), so the
result is not one candidate's model but the **mean of the candidates' models, weighted by how well
each fits** (weights proportional to the inverse spectral mismatch; a Bayesian model average over
the sensor models). On the real validation and training splits its worst image was better than
the best fit's in every case, its mean higher in 9 of 12 (scale x degradation) rows, and it never fell
more than 0.1 dB below bicubic interpolation (docs/real-data.md, docs/auto-blend.txt). One
global blend per image, never per tile, so tiling stays exact; cached per input.

The report names the likelier candidate (``choice``) with its weight (``confidence``, 0.5-1 for
two candidates). Scoring how well a model reconstructs the shrunk windows does not tell the
candidates apart (the lighter degradation always reconstructs better); it is kept as a check:
when the blend cannot even restore the image's own shrunk windows better than bicubic
enlargement, ``auto`` falls back to bicubic interpolation and says so. It does not predict the
real gain (measured on real images with known HR: rank correlation 0.0-0.3, errors of 1.1-1.5 dB,
larger than the benchmark's mean makes), so the **expected gain** reported is what ``bench --real``
measured for ``auto`` with this network and scale on the real validation images (mean and range,
recorded in the noise-robust bicubic weights it blends), and the check is reported as what it is.

>>> import numpy as np
>>> from napari_superres.engine.auto import estimate_degradation
>>> rng = np.random.default_rng(0)
>>> report = estimate_degradation([rng.random((96, 96))], "bicubic", 2)   # doctest: +SKIP
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import SuperResError

# Gaussian PSFs are not candidates: the spectral check cannot tell an image blurred by a PSF from one
# that is smooth at its pixel scale (a HeLa field at 0.05 um pixels looks like a sigma-1.5 PSF whatever
# made its LR), and a PSF model told of blur that is not there sharpens into artefacts (-8 to -15 dB
# against bicubic). Binning and bicubic are never far apart; give a PSF explicitly with
# degradation="gaussian:SIGMA" (docs/real-data.md has the figures).
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


def blend_weights(mismatch: dict[str, float]) -> dict[str, float]:
    """Each candidate's weight: the inverse of its spectral mismatch, normalised (3 decimals)."""
    inv = {c: 1.0 / max(m, 1e-9) for c, m in mismatch.items()}
    total = sum(inv.values())
    w = {c: round(v / total, 3) for c, v in inv.items()}
    return {c: v for c, v in w.items() if v > 0}


def candidates(model, scale: int) -> list[str]:
    """The :data:`CANDIDATES` ``model`` has weights of its own for at ``scale`` (the shipped default
    and edsr-lite: bicubic and binning; a network trained for one degradation, a weights file or an
    interpolation: at most one, and ``auto`` then leaves it as it is)."""
    from ..models import load_model

    names = []
    for name in CANDIDATES:
        try:
            m = load_model(model, scale, degradation=name, noise_robust=True)
        except SuperResError:
            continue
        if m.degradation == name and m.parameters > 0:
            names.append(name)
    return names


def auto_model(report: dict, model, scale: int):
    """The SRModel ``degradation="auto"`` enlarges with: bicubic interpolation when the report fell
    back, else the ``report["weights"]``-weighted blend of ``model``'s weights for each candidate,
    their noise-robust weights where those are a file of their own (real images are noisy; the
    plain bicubic weights, trained on clean photographs, draw texture over a noisy background)."""
    from ..models import load_model
    from ..models.wrappers import blended

    if report["fallback"]:
        return load_model("bicubic", scale)
    weights = report["weights"]
    models = [load_model(model, scale, degradation=c, noise_robust=True) for c in weights]
    return models[0] if len(models) == 1 else blended(models, list(weights.values()))


def internal_check(windows: list[np.ndarray], model, scale: int, deg, device="cpu") -> float:
    """Mean gain (dB) over bicubic of ``model`` enlarging the windows shrunk by ``deg``, scored
    against the windows (the image's own shrunk copy; optimistic, and no predictor of the real gain)."""
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


def benchmark_gain(model, scale: int) -> dict | None:
    """What ``bench --real`` measured for ``auto`` with the named network ``model`` at ``scale``
    (``mean``, ``worst``, ``best`` gain over bicubic in dB, ``images``, ``degradations``), recorded in
    the noise-robust bicubic weights ``auto`` blends; None where nothing was measured."""
    import json

    from ..models import AUTO_REAL_GAIN, DEFAULT, NAMED, read_metadata, weights_path

    name = DEFAULT if model == "default" else model
    if not isinstance(name, str) or name not in NAMED or not NAMED[name]["trained"]:
        return None
    path = weights_path(name, scale, "bicubic", noise_robust=True)
    text = read_metadata(path).get(AUTO_REAL_GAIN) if path.exists() else None
    return json.loads(text) if text else None


def estimate_degradation(windows, model: str, scale: int, device="cpu", key=None, nodata=None) -> dict:
    """How ``model`` at ``scale`` should enlarge an image, from windows of it (own units).

    Returns a JSON-ready report: ``weights`` (per candidate degradation, summing to 1: the blend
    :func:`auto_model` builds), ``choice`` (the likelier candidate), ``confidence`` (its weight),
    ``internal_check_db`` (the blend's gain over bicubic enlargement of the image's own shrunk
    windows), ``expected_gain_db`` and ``expected_range_db`` (what ``bench --real`` measured for
    ``auto`` with this network and scale: :func:`benchmark_gain`; None where not measured; 0 when
    falling back), ``mismatch`` per candidate, and ``fallback`` (with a ``message``) when the
    internal check is not positive. Cached by ``key``.
    """
    if key is not None:
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]
    from ..degradation import parse_degradation
    from ..models import load_model

    wins = _unit([np.asarray(w, np.float64) for w in windows], nodata)
    names = candidates(model, scale) or [load_model(model, scale).degradation]
    mismatch = spectral_mismatch(wins, scale, names)
    mismatch = {c: m for c, m in mismatch.items() if np.isfinite(m)}  # NaN windows say nothing
    bench = benchmark_gain(model, scale)
    expected = {
        "expected_gain_db": bench["mean"] if bench else None,
        "expected_range_db": [bench["worst"], bench["best"]] if bench else None,
        "expected_from": _benchmark_source(bench, scale),
    }
    if not mismatch:  # too small (or no valid pixel) to look at: every candidate in equal parts
        weights = {c: round(1.0 / len(names), 3) for c in names}
        best = names[0]
        return _remember(
            key,
            {
                "choice": best,
                "confidence": weights[best],
                "weights": weights,
                "internal_check_db": None,
                **expected,
                "mismatch": {},
                "fallback": False,
                "method": f"no window of at least {16 * scale} valid pixels a side to estimate the "
                "degradation from: the candidates' models in equal parts",
            },
        )
    weights = blend_weights(mismatch)
    best = max(weights, key=weights.get)
    mdl = auto_model({"fallback": False, "weights": weights}, model, scale)
    gain = sum(w * internal_check(wins, mdl, scale, parse_degradation(c), device) for c, w in weights.items())
    report = {
        "choice": best,
        "confidence": weights[best],
        "weights": weights,
        "internal_check_db": round(float(gain), 3),
        **expected,
        "mismatch": {k: round(v, 3) for k, v in mismatch.items()},
        "fallback": gain <= 0.0,
        "method": f"{len(wins)} windows of up to {WINDOW} px shrunk by each candidate; each candidate's model "
        "weighted by the inverse of its spectral mismatch; internal check: the blend's reconstruction "
        "of the windows shrunk by each candidate",
    }
    if report["fallback"]:
        report.update(
            expected_gain_db=0.0, expected_range_db=[0.0, 0.0], expected_from="bicubic interpolation"
        )
        report["message"] = (
            f"model {model!r} may do worse than bicubic on this image (it did on the image's own "
            f"shrunk copy: {gain:+.2f} dB); using bicubic interpolation instead"
        )
    return _remember(key, report)


def _benchmark_source(bench: dict | None, scale: int) -> str:
    if not bench:
        return "not measured on real images for this network and scale"
    return (
        f"bench --real: auto on {bench['images']} real validation images at x{scale} "
        f"({' / '.join(bench['degradations'])}), gain over bicubic"
    )


def _remember(key, report: dict) -> dict:
    if key is not None:
        with _LOCK:
            _CACHE[key] = report
    return report
