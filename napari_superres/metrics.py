"""Quality metrics on the standard SR protocol (see PROTOCOL.md): luma, border crop, PSNR, SSIM.

>>> import numpy as np
>>> a = np.full((8, 8), 100.0)
>>> round(float(psnr(a, a + 1.0)), 2)
48.13
"""

from __future__ import annotations

import numpy as np


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma in the 16-235 range from RGB in [0, 255] (grey is replicated)."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.shape[-1] == 4:
        img = img[..., :3]
    return 16.0 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255.0


def shave(image: np.ndarray, border: int) -> np.ndarray:
    """Crop ``border`` pixels from every side of the last two axes."""
    if border <= 0:
        return image
    return image[..., border:-border, border:-border]


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB, computed in float64."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = float(np.mean(diff**2))
    if mse == 0:
        return float("inf")
    return 10.0 * np.log10(peak**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """SSIM with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, valid region only."""
    from scipy.signal import fftconvolve

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    w = _gaussian_window()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def filt(z):
        return fftconvolve(z, w, mode="valid")

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx**2
    syy = filt(y * y) - my**2
    sxy = filt(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx**2 + my**2 + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))
