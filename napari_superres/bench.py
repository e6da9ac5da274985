"""The benchmark protocol of ``../shared/PROTOCOL.md``: what ``napari-superres bench`` measures.

1. HR read as RGB (grey replicated), cropped to a multiple of the scale.
2. LR = MATLAB-style bicubic downscale of the uint8 HR, rounded back to uint8.
3. The model enlarges the LR luma (BT.601, 16-235, scaled to [0, 1]); SR luma is rounded to 8 bits.
4. HR luma is rounded to integers, as MATLAB's ``rgb2ycbcr`` on uint8 gives it.
5. ``scale`` pixels cropped from every border, PSNR (peak 255) and SSIM, averaged per image.

Also reported: consistency, the PSNR between the degraded SR (bicubic downscale) and the LR
luma it came from, which says how well the output agrees with what was measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SuperResError


@dataclass
class BenchResult:
    dataset: str
    model: str
    scale: int
    psnr: float
    ssim: float
    consistency: float
    images: int
    seconds: float


def hr_images(folder: Path) -> list[tuple[str, np.ndarray]]:
    from .io import IMAGE_SUFFIXES, read_image_file

    if not folder.is_dir():
        raise SuperResError(f"benchmark folder {folder} does not exist; give a folder of HR images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SuperResError(f"no images in {folder}; give a folder of HR images (PNG, BMP, ...)")
    out = []
    for f in files:
        img = read_image_file(f)
        if img.dtype != np.uint8:
            raise SuperResError(f"{f} is not an 8-bit image; the benchmark protocol needs 8-bit RGB or grey")
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        out.append((f.name, img[..., :3]))
    return out


def evaluate_image(
    model, hr_rgb: np.ndarray, device=None, precision: str = "fp32"
) -> tuple[float, float, float]:
    """(PSNR, SSIM, consistency PSNR) of ``model`` on one 8-bit RGB HR image (``precision``: autocast)."""
    import torch

    from .degradation import imresize, resize
    from .metrics import psnr, rgb_to_y, shave, ssim

    s = model.scale
    h, w = hr_rgb.shape[:2]
    hr = hr_rgb[: h - h % s, : w - w % s]
    lr = imresize(hr, 1.0 / s)
    lr_y = rgb_to_y(lr) / 255.0
    x = torch.from_numpy(lr_y.astype(np.float32))[None, None]
    if device is not None:
        x = x.to(device)
    from .engine import forward

    sr = forward(model, x, model.halo, precision)[0, 0].double().cpu().numpy() * 255.0
    sr_y = np.clip(np.rint(sr), 0, 255)
    hr_y = np.rint(rgb_to_y(hr))
    p = psnr(shave(sr_y, s), shave(hr_y, s))
    q = ssim(shave(sr_y, s), shave(hr_y, s))
    back = resize(torch.from_numpy(sr_y)[None], 1.0 / s, lr_y.shape)[0].numpy()
    c = psnr(back, lr_y * 255.0)
    return p, q, c


def evaluate(
    dirs,
    models=("bicubic", "default"),
    scales=(2,),
    device: str = "cpu",
    precision: str = "fp32",
    progress=None,
) -> list[BenchResult]:
    """Run the benchmark protocol for every folder x model x scale and return the averages.

    ``progress(text)``, if given, is called before each image (``"x2 Set5 espcn: image 3 of 5"``).

    >>> rows = evaluate(["Set5"], ["bicubic", "espcn"], [2])   # doctest: +SKIP
    >>> [(r.model, round(r.psnr, 2)) for r in rows]            # doctest: +SKIP
    """
    from .device import resolve_device
    from .models import load_model

    dev = resolve_device(device)
    dirs = [dirs] if isinstance(dirs, (str, Path)) else list(dirs)
    models = [models] if isinstance(models, (str, Path)) else list(models)
    scales = [scales] if isinstance(scales, int) else list(scales)
    rows = []
    for d in dirs:
        folder = Path(d)
        images = hr_images(folder)
        for s in scales:
            for name in models:
                model = load_model(name, s).to(dev)
                t0 = time.perf_counter()
                vals = []
                for i, (_, img) in enumerate(images, 1):
                    if progress:
                        progress(f"x{s} {folder.name} {name}: image {i} of {len(images)}")
                    vals.append(evaluate_image(model, img, dev, precision))
                vals = np.array(vals)
                rows.append(
                    BenchResult(
                        dataset=folder.name,
                        model=str(name),
                        scale=s,
                        psnr=float(vals[:, 0].mean()),
                        ssim=float(vals[:, 1].mean()),
                        consistency=float(vals[:, 2].mean()),
                        images=len(images),
                        seconds=time.perf_counter() - t0,
                    )
                )
    return rows


def format_table(rows: list[BenchResult]) -> str:
    """A Markdown table of results, each model beside bicubic on the same set and scale."""
    base = {(r.dataset, r.scale): r.psnr for r in rows if r.model == "bicubic"}
    lines = [
        "| set | scale | model | PSNR (dB) | vs bicubic | SSIM | consistency (dB) | images | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b = base.get((r.dataset, r.scale))
        gain = f"{r.psnr - b:+.2f}" if b is not None and r.model != "bicubic" else "-"
        lines.append(
            f"| {r.dataset} | x{r.scale} | {r.model} | {r.psnr:.2f} | {gain} | {r.ssim:.4f} | "
            f"{r.consistency:.2f} | {r.images} | {r.seconds:.1f} |"
        )
    return "\n".join(lines)


def _has_weights(name, scale: int, deg) -> bool:
    """Whether model ``name`` can be told ``deg`` (it has weights for it, or needs none)."""
    from .models import load_model

    try:
        load_model(name, scale, degradation=deg)
    except SuperResError:
        return False
    return True


def compare(
    hr: np.ndarray, scale: int = 2, methods=("bicubic", "ibp", "default"), **kwargs
) -> tuple[list[dict], np.ndarray, dict]:
    """Degrade a 2D ground-truth plane, enlarge it back with each method and score each result: the
    last message of :func:`iter_compare` (see there), as ``(rows, lr, results)``."""
    *_, last = iter_compare(hr, scale, methods, **kwargs)
    return last["rows"], last["lr"], last["results"]


def iter_compare(
    hr: np.ndarray,
    scale: int = 2,
    methods=("bicubic", "ibp", "default"),
    *,
    degradation="bicubic",
    noise_sigma: float = 0.0,
    seed: int = 0,
    device: str = "auto",
):
    """Degrade a 2D ground-truth plane, enlarge it back with each method and score each result.

    ``hr`` (any numeric type) is mapped to [0, 1] by its robust range (uint8: /255), cropped to a
    multiple of ``scale``, degraded (``degradation``: bicubic, binning, gaussian:SIGMA, a PSF) and
    given Gaussian noise (``noise_sigma``, in [0, 1] units). Every method enlarges that LR plane,
    told the same degradation (so models load their weights for it where they have them).

    Yields a message before each method (``stage`` "method", ``done`` of ``total``, ``method``) and a
    last one (``stage`` "done") with ``rows``: per method a dict of ``psnr`` and ``ssim`` (peak 1.0,
    ``scale`` pixels shaved), ``consistency`` (PSNR between the result downscaled again and the LR
    plane) and ``seconds``; ``lr`` and ``results``: the LR plane and each result in the units of ``hr``
    (float32). Stopping the iteration between methods drops the rest.
    """
    import torch

    from .api import upscale
    from .degradation import add_noise, parse_degradation
    from .metrics import psnr, shave, ssim
    from .normalize import fixed_range, robust_range

    plane = np.asarray(hr)
    if plane.ndim != 2:
        raise SuperResError(f"compare needs one 2D plane, got shape {plane.shape}; pick a plane first")
    if min(plane.shape) < 4 * scale:
        raise SuperResError(
            f"the plane is {plane.shape[0]}x{plane.shape[1]}; x{scale} needs at least {4 * scale} pixels a side"
        )
    lo, hi = fixed_range(plane.dtype) or robust_range(plane)
    h, w = plane.shape
    unit = (plane[: h - h % scale, : w - w % scale].astype(np.float64) - lo) / (hi - lo)
    deg = parse_degradation(degradation)
    lr_t = deg.downsample(torch.from_numpy(unit)[None], scale)
    if noise_sigma:
        lr_t = add_noise(lr_t, noise_sigma, generator=torch.Generator().manual_seed(seed))
    lr = lr_t[0].numpy().astype(np.float32)
    rows, results = [], {}
    for i, name in enumerate(methods):
        yield {"stage": "method", "done": i, "total": len(methods), "method": str(name)}
        t0 = time.perf_counter()
        told = deg if _has_weights(name, scale, deg) else None
        sr = np.asarray(
            upscale(lr, name, scale, normalize=None, device=device, degradation=told).compute(), np.float64
        )
        seconds = time.perf_counter() - t0
        back = deg.downsample(torch.from_numpy(sr)[None], scale, lr.shape)[0].numpy()
        rows.append(
            {
                "method": str(name),
                "psnr": float(psnr(shave(sr, scale), shave(unit, scale), peak=1.0)),
                "ssim": float(ssim(shave(sr, scale), shave(unit, scale), peak=1.0)),
                "consistency": float(psnr(back, lr, peak=1.0)),
                "seconds": seconds,
            }
        )
        results[str(name)] = (sr * (hi - lo) + lo).astype(np.float32)
    lr_out = (lr * (hi - lo) + lo).astype(np.float32)
    yield {
        "stage": "done",
        "done": len(methods),
        "total": len(methods),
        "rows": rows,
        "lr": lr_out,
        "results": results,
    }


# ----------------------------------------------------------------------------- the real-data benchmark
@dataclass
class RealResult:
    degradation: str  # of the HR, made here
    method: str  # what enlarged the LR, and with which degradation it was told
    scale: int
    gain: float  # mean over images of PSNR gain over bicubic enlargement of the same LR (dB)
    worst: float
    psnr: float
    noise_ratio: float | None  # background high-pass std over bicubic's, mean over fluorescence images
    flat_noise_ratio: float | None  # the same on the flat background only (FLAT_MARGIN from any object)
    images: int
    seconds: float
    per_image: dict


def _highpass_std(x: np.ndarray, mask: np.ndarray) -> float:
    from scipy.ndimage import gaussian_filter

    return float(np.std((x - gaussian_filter(x, 2.0))[mask]))


FLAT_MARGIN = 6  # HR pixels: the reach (3 sigma) of the high-pass filter, so no edge counts as background
FLAT_MIN_PIXELS = 500  # fewer flat-background pixels than this: no figure (a dense image has no background)


def noise_ratio(sr: np.ndarray, bic: np.ndarray, hr: np.ndarray, margin: int = 0) -> float | None:
    """High-pass std (minus a Gaussian blur of 2 px) of ``sr`` over bicubic's, on the background
    (HR at or below its 40th percentile, 4-pixel border left out); None where that is flat.

    ``margin``: only background at least that many pixels from any object (the *flat* background,
    :data:`FLAT_MARGIN`; objects: the HR, smoothed by 2 px, a tenth of its range above the background
    level): there a ratio above 1 is texture the method drew, not the sharper edge of an object next
    to it, which the plain background mask also takes in."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    bg = hr <= np.percentile(hr, 40)
    if margin:
        smooth = gaussian_filter(hr, 2.0)
        lo, hi = np.percentile(smooth, [40, 99.5])
        objects = smooth > lo + 0.1 * (hi - lo)
        bg &= distance_transform_edt(~objects) >= margin
    bg[:4], bg[-4:], bg[:, :4], bg[:, -4:] = False, False, False, False
    ref = _highpass_std(bic, bg) if bg.sum() >= (FLAT_MIN_PIXELS if margin else 100) else 0.0
    if ref <= 1e-9 * (float(hr.max() - hr.min()) or 1.0):
        return None
    return _highpass_std(sr, bg) / ref


def real_score(sr, hr, bic, border: int = 4) -> tuple[float, float]:
    from .metrics import psnr, shave

    rng = float(hr.max() - hr.min()) or 1.0
    p = psnr(shave(sr, border), shave(hr, border), peak=rng)
    return p, p - psnr(shave(bic, border), shave(hr, border), peak=rng)


def real_methods(models, adapt: float | None = None) -> list[tuple[str, str, str, float | None]]:
    """``(label, model, degradation told, adapt seconds)`` rows: each model with its bicubic weights
    and with the true degradation, ``auto`` (the default model, degradation estimated from the
    image; with ``auto`` also each other named network that ships weights for more than one
    degradation, as a user who picks it gets it), and with ``adapt`` each model adapted to each
    image for that many seconds."""
    from .models import degradation_models

    out = []
    for m in models:
        if m in ("bicubic", "auto"):
            continue
        out.append((f"{m} (bicubic-trained)", m, "bicubic", None))
        out.append((f"{m} (true degradation)", m, "true", None))
        if adapt:
            out.append((f"{m} adapted ({adapt:g} s, true degradation)", m, "true", adapt))
    if "auto" in models:
        out.append(("auto (default model)", "default", "auto", None))
        blending = set(degradation_models("binning"))
        for m in models:
            if m not in ("bicubic", "auto", "default") and m in blending:
                out.append((f"auto ({m})", m, "auto", None))
    return out


def evaluate_real(
    root=None,
    models=("default", "auto"),
    degradations=("bicubic", "binning", "gaussian:1.0"),
    scales=(2,),
    device: str = "cpu",
    progress=None,
    adapt: float | None = None,
) -> list[RealResult]:
    """Score models on the real validation split (:mod:`napari_superres.realdata`), per degradation.

    Each HR plane (its own units) is degraded here; every method enlarges that LR through
    :func:`~napari_superres.engine.upscale` (robust normalisation, as a user gets it) and is scored
    by PSNR over the HR's data range, 4-pixel border crop, as a gain over bicubic enlargement of
    the same LR. ``adapt``: also each model adapted to each LR image for that many seconds
    (:mod:`napari_superres.adapt`; it sees only the LR). On fluorescence, ``noise_ratio`` is the high-pass std of the result's background
    (HR below its 40th percentile) over bicubic's, and ``flat_noise_ratio`` the same on the background
    at least :data:`FLAT_MARGIN` pixels from any object: above 1, the method draws texture there
    (the first also counts the sharper edges of bright objects next to the background).
    """
    import torch

    from .adapt import adapt as adapt_to
    from .api import upscale
    from .degradation import parse_degradation
    from .realdata import validation_images

    images = validation_images(root)
    rows = []
    for s in scales:
        for dname in degradations:
            deg = parse_degradation(dname)
            lrs = []
            for item, hr in images:
                h, w = hr.shape[0] // s * s, hr.shape[1] // s * s
                hr = hr[:h, :w]
                lr = deg.downsample(torch.from_numpy(hr)[None], s)[0].numpy().astype(np.float32)
                bic = np.asarray(upscale(lr, "bicubic", s, device=device).compute(), np.float64)
                lrs.append((item, hr, lr, bic))
            for label, model, told, seconds in real_methods(models, adapt):
                t0 = time.perf_counter()
                per, ratios, flats = {}, [], []
                for item, hr, lr, bic in lrs:
                    if progress:
                        progress(f"x{s} {dname}: {label} on {item.name}")
                    use = dname if told == "true" else told
                    try:
                        mdl = model
                        if seconds:
                            mdl = adapt_to(
                                lr, model, s, degradation=use, seconds=seconds, device=device
                            ).model
                        sr = np.asarray(
                            upscale(lr, mdl, s, degradation=use, device=device).compute(), np.float64
                        )
                    except SuperResError as exc:  # no weights for it (the whole row), or too small for auto
                        per[item.name] = {"skipped": str(exc)}
                        continue
                    p, g = real_score(sr, hr, bic)
                    per[item.name] = {"psnr": round(p, 3), "gain": round(g, 3)}
                    ratio = noise_ratio(sr, bic, hr) if item.kind == "fluorescence" else None
                    if ratio is not None:
                        ratios.append(ratio)
                        per[item.name]["noise_ratio"] = round(ratio, 3)
                        flat = noise_ratio(sr, bic, hr, margin=FLAT_MARGIN)
                        if flat is not None:
                            flats.append(flat)
                            per[item.name]["flat_noise_ratio"] = round(flat, 3)
                scored = {k: v for k, v in per.items() if "skipped" not in v}
                if not scored:
                    continue
                gains = [v["gain"] for v in scored.values()]
                rows.append(
                    RealResult(
                        degradation=str(deg),
                        method=label,
                        scale=s,
                        gain=float(np.mean(gains)),
                        worst=float(np.min(gains)),
                        psnr=float(np.mean([v["psnr"] for v in scored.values()])),
                        noise_ratio=float(np.mean(ratios)) if ratios else None,
                        flat_noise_ratio=float(np.mean(flats)) if flats else None,
                        images=len(scored),
                        seconds=time.perf_counter() - t0,
                        per_image=per,
                    )
                )
    return rows


def confocal_sted(root=None, models=("default",), device: str = "cpu") -> list[dict]:
    """The real x4 pair: SR of the 4x4-binned confocal scored against STED of the same field.

    No synthetic degradation and no target figure: the two microscopes see different things (STED
    resolves what confocal cannot), so this says how far each method moves toward STED.
    """
    from .api import upscale
    from .realdata import confocal_sted_pair

    lr, hr = confocal_sted_pair(root)
    lr = lr.astype(np.float32)
    bic = np.asarray(upscale(lr, "bicubic", 4, device=device).compute(), np.float64)
    out = []
    for label, model, told, _ in [("bicubic", "bicubic", "bicubic", None), *real_methods(models)]:
        use = "binning" if told == "true" else told
        try:
            sr = np.asarray(upscale(lr, model, 4, degradation=use, device=device).compute(), np.float64)
        except SuperResError:
            continue
        # the two acquisitions differ in brightness: compare after matching mean and std to STED's
        sr_m = (sr - sr.mean()) / (sr.std() or 1) * hr.std() + hr.mean()
        bic_m = (bic - bic.mean()) / (bic.std() or 1) * hr.std() + hr.mean()
        p, g = real_score(sr_m, hr, bic_m)
        out.append({"method": label, "psnr": p, "gain": g})
    return out


def format_real_table(rows: list[RealResult]) -> str:
    """A Markdown table of the real-data benchmark."""
    lines = [
        "| HR degradation | scale | method | gain over bicubic, mean (dB) | worst image (dB) | PSNR (dB) | "
        "noise amplification (fluorescence) | flat background | images | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        nr = f"{r.noise_ratio:.2f}" if r.noise_ratio is not None else "-"
        flat = f"{r.flat_noise_ratio:.2f}" if r.flat_noise_ratio is not None else "-"
        lines.append(
            f"| {r.degradation} | x{r.scale} | {r.method} | {r.gain:+.2f} | {r.worst:+.2f} | {r.psnr:.2f} | "
            f"{nr} | {flat} | {r.images} | {r.seconds:.1f} |"
        )
    return "\n".join(lines)
