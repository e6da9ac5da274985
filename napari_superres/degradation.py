"""The image degradation model: blur kernel, MATLAB-compatible bicubic resizing, noise.

HR -> blur -> downsample -> noise -> LR. Everything here works on the last two axes (Y, X) of a
``torch.Tensor`` of any leading shape, so the same code makes training pairs, runs inside models
(bicubic skip, back-projection) and degrades benchmark images.

Resizing follows MATLAB ``imresize(..., 'bicubic')``: Keys cubic kernel with a = -0.5, the kernel
widened by the scale when shrinking (antialiasing), each row of weights normalised to sum 1, and
"symmetric" mirroring of indices at the borders.

Example
-------
>>> import torch
>>> from napari_superres.degradation import resize
>>> resize(torch.ones(1, 8, 8), 0.5).shape
torch.Size([1, 4, 4])
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


@lru_cache(maxsize=256)
def contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights and (0-based, mirrored) source indices of each output sample along one axis.

    Returns ``(weights, indices)``, both of shape ``(out_len, taps)``; output ``i`` is
    ``sum_k weights[i, k] * x[indices[i, k]]``. Identical to MATLAB's ``imresize`` contributions.
    """
    kernel_width = 4.0
    shrink = scale < 1
    if shrink:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]  # 1-based, may fall outside
    dist = u[:, None] - indices
    weights = scale * cubic(dist * scale) if shrink else cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    # symmetric mirroring of out-of-range indices, as MATLAB does
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx0 = aux[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)
    return np.ascontiguousarray(weights[:, keep]), np.ascontiguousarray(idx0[:, keep])


def _resize_axis(x, axis: int, out_len: int, scale: float):
    import torch

    in_len = x.shape[axis]
    w, idx = contributions(in_len, out_len, scale)
    idx_t = torch.as_tensor(idx, device=x.device)
    w_t = torch.as_tensor(w, dtype=x.dtype, device=x.device)
    x = x.movedim(axis, -1)
    gathered = x.index_select(-1, idx_t.reshape(-1)).reshape(*x.shape[:-1], *idx.shape)
    out = (gathered * w_t).sum(-1)
    return out.movedim(-1, axis)


def resize(x, scale: float, out_shape: tuple[int, int] | None = None):
    """Resize the last two axes of a float tensor by ``scale`` the way MATLAB ``imresize`` does.

    Parameters
    ----------
    x : torch.Tensor
        Float tensor ``(..., H, W)``.
    scale : float
        Factor; < 1 shrinks with antialiasing, > 1 enlarges.
    out_shape : (int, int), optional
        Output (H, W); default ``ceil(H * scale), ceil(W * scale)`` like MATLAB.
    """
    h, w = x.shape[-2:]
    if out_shape is None:
        out_shape = (math.ceil(h * scale), math.ceil(w * scale))
    x = _resize_axis(x, x.ndim - 2, out_shape[0], scale)
    return _resize_axis(x, x.ndim - 1, out_shape[1], scale)


def imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(image, scale, 'bicubic')`` for numpy arrays (YX or YXC).

    Integer images are resized in float64 and rounded back to their dtype with clipping, as
    MATLAB does for uint8.
    """
    import torch

    arr = np.asarray(image)
    channels_last = arr.ndim == 3
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))
    if channels_last:
        t = t.permute(2, 0, 1)
    out = resize(t, scale)
    if channels_last:
        out = out.permute(1, 2, 0)
    res = out.numpy()
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        return np.clip(np.round(res), info.min, info.max).astype(arr.dtype)
    return res.astype(arr.dtype, copy=False)


def gaussian_kernel(sigma: float | tuple[float, float], theta: float = 0.0, size: int | None = None):
    """Normalised 2D Gaussian blur kernel, isotropic or anisotropic.

    ``sigma`` is one value or ``(sigma_y, sigma_x)``; ``theta`` rotates the anisotropic kernel
    (radians). ``size`` defaults to ``2 * ceil(3 * max(sigma)) + 1``.
    """
    sy, sx = (sigma, sigma) if np.isscalar(sigma) else sigma
    if size is None:
        size = 2 * int(math.ceil(3 * max(sy, sx))) + 1
    r = np.arange(size) - (size - 1) / 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u = c * xx + s * yy
    v = -s * xx + c * yy
    k = np.exp(-0.5 * ((u / max(sx, 1e-6)) ** 2 + (v / max(sy, 1e-6)) ** 2))
    return k / k.sum()


def blur(x, kernel: np.ndarray):
    """Convolve the last two axes with ``kernel``, reflecting at the borders."""
    import torch
    import torch.nn.functional as F

    k = torch.as_tensor(kernel, dtype=x.dtype, device=x.device)
    ph, pw = k.shape[0] // 2, k.shape[1] // 2
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, *x.shape[-2:])
    mode = "reflect" if min(x.shape[-2:]) > max(ph, pw) else "replicate"
    flat = F.pad(flat, (pw, pw, ph, ph), mode=mode)
    return F.conv2d(flat, k[None, None]).reshape(*lead, *x.shape[-2:])


def add_noise(x, gaussian_sigma: float = 0.0, poisson_peak: float | None = None, generator=None):
    """Add Poisson (shot) noise at ``poisson_peak`` counts for value 1, then Gaussian read noise."""
    import torch

    if poisson_peak:
        x = torch.poisson(x.clamp(min=0) * poisson_peak, generator=generator) / poisson_peak
    if gaussian_sigma:
        x = x + gaussian_sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x


def degrade(
    hr,
    scale: int,
    blur_sigma: float | tuple[float, float] = 0.0,
    noise_sigma: float = 0.0,
    poisson_peak: float | None = None,
    generator=None,
):
    """HR -> blur -> bicubic downsample by ``scale`` -> noise. Works on ``(..., H, W)`` tensors."""
    x = hr
    if np.any(np.asarray(blur_sigma) > 0):
        x = blur(x, gaussian_kernel(blur_sigma))
    x = resize(x, 1.0 / scale, (hr.shape[-2] // scale, hr.shape[-1] // scale))
    return add_noise(x, noise_sigma, poisson_peak, generator)
