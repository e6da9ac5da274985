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
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .errors import SuperResError, opt


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


def resize_axis(x, axis: int, out_len: int, scale: float):
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
    x = resize_axis(x, x.ndim - 2, out_shape[0], scale)
    return resize_axis(x, x.ndim - 1, out_shape[1], scale)


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


def estimate_noise(plane: np.ndarray, block: int = 8, quantile: float = 0.2) -> float:
    """The standard deviation of white noise in a 2-D ``plane``, from its flattest parts.

    A second-difference filter (Immerkaer's) removes smooth shading; the noise is the RMS of its
    response (scaled for white noise) in the ``quantile`` flattest ``block`` x ``block`` blocks, so
    texture and edges, which raise the response elsewhere, are not taken for noise. An image with no
    flat part overestimates; one whose flat parts are clipped (no noise there) underestimates.
    """
    p = np.asarray(plane, np.float64)
    if min(p.shape) < 3:
        return 0.0
    r = (
        p[:-2, :-2] - 2 * p[:-2, 1:-1] + p[:-2, 2:]
        - 2 * p[1:-1, :-2] + 4 * p[1:-1, 1:-1] - 2 * p[1:-1, 2:]
        + p[2:, :-2] - 2 * p[2:, 1:-1] + p[2:, 2:]
    ) / 6.0  # fmt: skip
    b = min(block, *r.shape)
    h, w = r.shape[0] // b * b, r.shape[1] // b * b
    rms = np.sqrt((r[:h, :w] ** 2).reshape(h // b, b, w // b, b).mean(axis=(1, 3))).ravel()
    return float(np.quantile(rms, quantile))


def restoring_noise(planes: list[np.ndarray], deg, scale: int) -> tuple[float, float]:
    """The image's noise (standard deviation, the planes' units; the median over ``planes``) and the
    white noise that brings an LR made of them by ``deg`` back to that level."""
    import torch

    sigma = float(np.median([estimate_noise(p) for p in planes]))
    white = torch.randn(
        1, 128 * scale, 128 * scale, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    kept = float(deg.downsample(white, scale).std())  # the share of white noise's std a shrink keeps
    return sigma, sigma * math.sqrt(max(0.0, 1.0 - kept * kept))


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


# ----------------------------------------------------------------------------- the degradation family
# How an LR image was made from the HR scene, by name. One definition serves training pairs, the
# back-projection step (+bpN, consistency=), ``bench`` and ``degradation="auto"``.
FAMILIES = ("bicubic", "binning", "gaussian")
SIGMA_RANGE = (0.1, 4.0)  # Gaussian PSF sigma in HR pixels that we accept (beyond 4 the image is mostly blur)
KERNEL_SUFFIXES = (".npy", ".tif", ".tiff", ".txt", ".csv")


class DegradationError(SuperResError):
    """A degradation that cannot be parsed; the message says what is accepted (one line, like every
    :class:`SuperResError`)."""


@dataclass(frozen=True)
class Degradation:
    """One member of the degradation family: how the HR scene became the LR measurement.

    - ``bicubic``: MATLAB-compatible antialiased bicubic shrinking (the benchmark protocol);
    - ``binning``: the mean of each s x s block (camera binning, detector integration);
    - ``gaussian``: Gaussian blur of ``sigma`` HR pixels (an optical PSF), then s x s binning;
    - ``kernel``: a measured 2-D PSF (``kernel``, HR pixels), then s x s binning.

    >>> str(parse_degradation("gaussian:1"))
    'gaussian:1.0'
    """

    kind: str = "bicubic"
    sigma: float = 0.0
    kernel: tuple | None = field(default=None, repr=False)
    source: str = ""  # where a kernel came from (file name), for messages and metadata

    def __str__(self) -> str:
        if self.kind == "gaussian":
            return (
                f"gaussian:{self.sigma:g}" if self.sigma != int(self.sigma) else f"gaussian:{self.sigma:.1f}"
            )
        if self.kind == "kernel":
            return f"kernel:{self.source or 'array'}"
        return self.kind

    @property
    def family(self) -> str:
        """The trained-model family that matches: a measured kernel is a Gaussian PSF of its width."""
        if self.kind == "kernel":
            return "gaussian" if self.equivalent_sigma >= 0.35 else "binning"
        return self.kind

    @property
    def equivalent_sigma(self) -> float:
        """Sigma of the Gaussian with the kernel's second moment (HR pixels); the sigma itself for gaussian."""
        if self.kind != "kernel":
            return self.sigma
        k = np.asarray(self.kernel, dtype=np.float64)
        yy, xx = np.indices(k.shape)
        cy, cx = (yy * k).sum(), (xx * k).sum()
        return float(np.sqrt(0.5 * (((yy - cy) ** 2 + (xx - cx) ** 2) * k).sum()))

    def psf(self) -> np.ndarray | None:
        """The HR-pixel blur applied before binning (None for bicubic and plain binning)."""
        if self.kind == "gaussian":
            return gaussian_kernel(self.sigma)
        if self.kind == "kernel":
            return np.asarray(self.kernel, dtype=np.float64)
        return None

    def reach(self, scale: int) -> int:
        """How many LR pixels beyond a block of the LR image its downsampled value depends on."""
        if self.kind == "bicubic":
            return 2
        k = self.psf()
        radius = 0 if k is None else max(k.shape) // 2
        return int(math.ceil(radius / scale)) + 1

    def as_dict(self) -> dict:
        """The JSON-ready record written to weights and output metadata."""
        d: dict = {"kind": self.kind, "name": str(self)}
        if self.kind == "gaussian":
            d["sigma_hr_px"] = self.sigma
        if self.kind == "kernel":
            d["source"] = self.source or "array"
            d["equivalent_sigma_hr_px"] = round(self.equivalent_sigma, 4)
        return d

    def downsample(self, hr, scale: int, out_shape: tuple[int, int] | None = None):
        """The LR of a float tensor ``(..., H, W)`` under this degradation (no noise).

        ``out_shape`` defaults to ``(H // scale, W // scale)``; binning crops the HR to a multiple of
        ``scale`` first (the detector's last partial pixel is not read).
        """
        h, w = hr.shape[-2:]
        oh, ow = out_shape or (h // scale, w // scale)
        if self.kind == "bicubic":
            return resize(hr, 1.0 / scale, (oh, ow))
        k = self.psf()
        x = hr if k is None else blur(hr, k)
        x = x[..., : oh * scale, : ow * scale]
        lead = x.shape[:-2]
        return x.reshape(*lead, oh, scale, ow, scale).mean(dim=(-3, -1))


BICUBIC = Degradation("bicubic")


def _read_kernel(path: str) -> np.ndarray:
    from pathlib import Path

    p = Path(path).expanduser()
    if not p.is_file():
        raise DegradationError(
            f"{opt('degradation')}: kernel file {path} does not exist; give a 2-D PSF as .npy, .tif or .txt"
        )
    try:
        if p.suffix.lower() == ".npy":
            return np.load(p, allow_pickle=False)
        if p.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            return tifffile.imread(p)
        return np.loadtxt(p, delimiter="," if p.suffix.lower() == ".csv" else None, ndmin=2)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise DegradationError(
            f"{opt('degradation')}: cannot read kernel file {path} ({type(exc).__name__}); "
            "give a 2-D PSF as .npy, .tif or .txt"
        ) from None


def kernel_degradation(kernel, source: str = "") -> Degradation:
    """A measured PSF (2-D, non-negative, HR pixels) as a degradation, normalised to sum 1."""
    k = np.asarray(kernel)
    where = f"{opt('degradation')}: " + (f"the PSF kernel in {source}" if source else "a PSF kernel")
    if k.ndim == 3 and 1 in k.shape:
        k = k.reshape([d for d in k.shape if d != 1] or [1])
    if k.ndim != 2 or k.dtype.kind not in "biuf" or not np.all(np.isfinite(k)):
        raise DegradationError(
            f"{where} must be a 2-D array of finite numbers, got shape {k.shape} ({k.dtype})"
        )
    if np.any(k < 0) or k.sum() <= 0:
        raise DegradationError(f"{where} must be non-negative with a positive sum (the measured intensities)")
    if max(k.shape) > 65:
        raise DegradationError(f"{where} is {k.shape[0]}x{k.shape[1]}, too large; crop it to at most 65x65")
    k = k.astype(np.float64) / k.sum()
    return Degradation("kernel", kernel=tuple(map(tuple, k)), source=source)


def sigma_from_fwhm(fwhm: float, pixel_size: float) -> float:
    """Gaussian sigma in HR pixels of a PSF of full width at half maximum ``fwhm`` (same units as ``pixel_size``)."""
    return float(fwhm) / (2.0 * math.sqrt(2.0 * math.log(2.0))) / float(pixel_size)


ACCEPTED = (
    "'bicubic', 'binning', 'gaussian:SIGMA' (SIGMA in HR pixels, "
    f"{SIGMA_RANGE[0]:g}-{SIGMA_RANGE[1]:g}), 'gaussian:fwhm=F,pixel=P', 'auto', or a PSF kernel file (.npy/.tif/.txt)"
)


def parse_degradation(value) -> Degradation:
    """A :class:`Degradation` from a name, a kernel array or a kernel file path.

    Raises :class:`DegradationError` (a ``ValueError``) with one line saying what is accepted.
    ``"auto"`` is not a degradation but a request to estimate one: callers handle it before this.
    """
    if isinstance(value, Degradation):
        return value
    if value is None:
        return BICUBIC
    if isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and value and np.ndim(value) == 2):
        return kernel_degradation(value)
    text = str(value).strip()
    low = text.lower()
    if low in ("bicubic", "binning"):
        return Degradation(low)
    if low.startswith("gaussian"):
        _, _, arg = text.partition(":")
        try:
            if "fwhm" in arg:
                parts = dict(p.split("=", 1) for p in arg.replace(" ", "").split(","))
                sigma = sigma_from_fwhm(float(parts["fwhm"]), float(parts["pixel"]))
            else:
                sigma = float(arg)
        except (ValueError, KeyError, ZeroDivisionError):
            raise DegradationError(
                f"{opt('degradation')}: cannot read {text!r}; accepted: {ACCEPTED}"
            ) from None
        if not (SIGMA_RANGE[0] <= sigma <= SIGMA_RANGE[1]):
            raise DegradationError(
                f"{opt('degradation')}: Gaussian PSF sigma {sigma:.3g} HR pixels is out of range; give "
                f"{SIGMA_RANGE[0]:g} to {SIGMA_RANGE[1]:g} (sigma = FWHM / 2.355 / HR pixel size)"
            )
        return Degradation("gaussian", sigma=round(sigma, 4))
    if low.endswith(KERNEL_SUFFIXES):
        from pathlib import Path

        return kernel_degradation(_read_kernel(text), source=Path(text).name)
    raise DegradationError(f"{opt('degradation')}: unknown degradation {text!r}; accepted: {ACCEPTED}")
