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


def _hr_images(folder: Path) -> list[tuple[str, np.ndarray]]:
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
    from .engine import _forward

    sr = _forward(model, x, model.halo, precision)[0, 0].double().cpu().numpy() * 255.0
    sr_y = np.clip(np.rint(sr), 0, 255)
    hr_y = np.rint(rgb_to_y(hr))
    p = psnr(shave(sr_y, s), shave(hr_y, s))
    q = ssim(shave(sr_y, s), shave(hr_y, s))
    back = resize(torch.from_numpy(sr_y)[None], 1.0 / s, lr_y.shape)[0].numpy()
    c = psnr(back, lr_y * 255.0)
    return p, q, c


def evaluate(
    dirs, models=("bicubic", "default"), scales=(2,), device: str = "cpu", precision: str = "fp32"
) -> list[BenchResult]:
    """Run the benchmark protocol for every folder x model x scale and return the averages.

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
        images = _hr_images(folder)
        for s in scales:
            for name in models:
                model = load_model(name, s).to(dev)
                t0 = time.perf_counter()
                vals = np.array([evaluate_image(model, img, dev, precision) for _, img in images])
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


def compare(
    hr: np.ndarray,
    scale: int = 2,
    methods=("bicubic", "ibp", "default"),
    *,
    blur_sigma: float = 0.0,
    noise_sigma: float = 0.0,
    seed: int = 0,
    device: str = "auto",
) -> tuple[list[dict], np.ndarray, dict]:
    """Degrade a 2D ground-truth plane, enlarge it back with each method and score each result.

    ``hr`` (any numeric type) is mapped to [0, 1] by its robust range (uint8: /255), cropped to a
    multiple of ``scale``, blurred (``blur_sigma``, HR pixels), bicubic-downsampled and given
    Gaussian noise (``noise_sigma``, in [0, 1] units). Every method enlarges that LR plane.

    Returns ``(rows, lr, results)``: per method a dict of ``psnr`` and ``ssim`` (peak 1.0, ``scale``
    pixels shaved), ``consistency`` (PSNR between the result downscaled again and the LR plane) and
    ``seconds``; the LR plane and each result in the units of ``hr`` (float32).
    """
    import torch

    from .degradation import add_noise, degrade, resize
    from .engine import upscale
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
    lr_t = degrade(torch.from_numpy(unit)[None], scale, blur_sigma=blur_sigma)
    if noise_sigma:
        lr_t = add_noise(lr_t, noise_sigma, generator=torch.Generator().manual_seed(seed))
    lr = lr_t[0].numpy().astype(np.float32)
    rows, results = [], {}
    for name in methods:
        t0 = time.perf_counter()
        sr = np.asarray(upscale(lr, name, scale, normalize=None, device=device).compute(), np.float64)
        seconds = time.perf_counter() - t0
        back = resize(torch.from_numpy(sr)[None], 1.0 / scale, lr.shape)[0].numpy()
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
    return rows, (lr * (hi - lo) + lo).astype(np.float32), results
