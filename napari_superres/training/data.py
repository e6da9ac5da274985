"""Training data: image planes from folders and arrays, LR/HR patch pairs under a degradation, with
noise and brightness-gain augmentation, and the validation split."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SuperResError, opt


def _image_files(path: Path) -> list[Path]:
    from ..io import IMAGE_SUFFIXES

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SuperResError(
                f"no images (PNG, BMP, JPEG, WebP, TIFF) in {path}; point to a folder of images"
            )
        return files
    if path.exists():
        return [path]
    raise SuperResError(f"training data {path} does not exist; give a folder of images or an array")


def _to_unit_planes(arr: np.ndarray, channel: str) -> list[np.ndarray]:
    """Float32 planes in [0, 1]: luma for RGB with channel='y', every 2D plane otherwise."""
    from ..metrics import rgb_to_y
    from ..normalize import training_range

    a = np.asarray(arr)
    if channel == "y" and (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        if a.dtype != np.uint8:
            raise SuperResError(
                f"{opt('channel', 'y')} expects 8-bit RGB or grey images; for other data: {opt('channel', 'raw')}"
            )
        return [(rgb_to_y(a) / 255.0).astype(np.float32)]
    lo, hi = training_range(a)
    unit = ((a.astype(np.float32) - lo) / (hi - lo)).astype(np.float32)
    if unit.ndim == 3 and unit.shape[-1] in (3, 4) and a.dtype == np.uint8:
        unit = np.moveaxis(unit, -1, 0)
    return [p for p in unit.reshape(-1, *unit.shape[-2:])]


def load_images(data: Any, channel: str = "y") -> list[np.ndarray]:
    """Training images as float32 2D planes in [0, 1].

    ``data`` is a folder or file path, an array (every YX plane is used), or a list of them.
    ``channel='y'`` turns 8-bit RGB into BT.601 luma as the benchmark protocol does;
    ``channel='raw'`` uses the planes as they are (uint8 / 255, other types by robust percentiles).
    """
    from ..io import read_image_file

    if channel not in ("y", "raw"):
        raise SuperResError(f"channel must be 'y' or 'raw', got {channel!r}")
    items = data if isinstance(data, (list, tuple)) else [data]
    planes: list[np.ndarray] = []
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            for f in _image_files(Path(item)):
                planes += _to_unit_planes(read_image_file(f), channel)
        else:
            planes += _to_unit_planes(np.asarray(item), channel)
    if not planes:
        raise SuperResError("no training images found; give a folder of images or an array")
    return planes


def describe(data) -> str:
    items = data if isinstance(data, (list, tuple)) else [data]
    return ", ".join(str(i) if isinstance(i, (str, os.PathLike)) else f"array {np.shape(i)}" for i in items)


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


NOISE_PRESET = {"p_clean": 0.5, "gaussian": (0.0, 0.01), "poisson_peak": (300.0, 10000.0)}
# brightness of real images after robust (0.1-99.9 percentile) normalisation reaches past 1: half of
# the patches are scaled by a gain drawn log-uniformly from this range, so a network learns to be
# linear in brightness instead of inventing detail where an image is brighter than its training data
GAIN_RANGE = (0.5, 2.0)


def training_degradations(degradation) -> list:
    """The degradations training pairs are made with: one, or a list to draw from (a PSF family).

    ``degradation`` is a name (``"bicubic"``, ``"binning"``, ``"gaussian:1.0"``, a kernel file), a
    :class:`~napari_superres.degradation.Degradation`, a list of them, or the older dict form
    ``{"blur_sigma": s}`` (now: that Gaussian PSF, then binning).
    """
    from ..degradation import BICUBIC, Degradation, parse_degradation

    if isinstance(degradation, dict):
        sigma = degradation.get("blur_sigma", 0.0)
        degradation = Degradation("gaussian", sigma=float(sigma)) if sigma else BICUBIC
    items = (
        degradation
        if isinstance(degradation, (list, tuple)) and not np.ndim(degradation) == 2
        else [degradation]
    )
    out = []
    for d in items:
        if str(d) == "auto":
            raise SuperResError(
                f"{opt('degradation', 'auto')} is for enlarging; training needs a named degradation"
            )
        out.append(parse_degradation(d))
    return out or [BICUBIC]


def training_noise(noise, degradation=None) -> dict:
    """Noise added to each LR patch: ``{"p_clean", "gaussian": (lo, hi), "poisson_peak": (lo, hi)}``.

    ``noise`` is None (none; or the older dict's ``noise_sigma`` / ``poisson_peak``), ``"auto"``
    (:data:`NOISE_PRESET`: Poisson-Gaussian at a random level per patch, 30% of patches clean) or
    such a dict. Gaussian sigma is in [0, 1] units; the Poisson peak is the count at value 1
    (drawn log-uniformly from its range; lower is noisier).
    """
    if noise is None and isinstance(degradation, dict):
        s, p = degradation.get("noise_sigma") or 0.0, degradation.get("poisson_peak")
        noise = {"p_clean": 0.0, "gaussian": (s, s), "poisson_peak": (p, p) if p else None}
    if noise is None or noise is False:
        return {}
    if noise is True or noise == "auto":
        return dict(NOISE_PRESET)
    if not isinstance(noise, dict):
        raise SuperResError(f"noise must be None, 'auto' or a dict of ranges, got {noise!r}")
    out = {"p_clean": float(noise.get("p_clean", 0.0))}
    for key in ("gaussian", "poisson_peak"):
        v = noise.get(key)
        if v is None:
            continue
        lo, hi = (v, v) if np.isscalar(v) else v
        if lo < 0 or hi < lo or (key == "poisson_peak" and lo <= 0):
            raise SuperResError(f"noise {key} must be a value or a (low, high) range above 0, got {v!r}")
        out[key] = (float(lo), float(hi))
    return out


def _noisy(lr_b, noise: dict, rng: np.random.Generator, gen):
    """Poisson-Gaussian noise (:func:`~napari_superres.degradation.add_noise`) on each patch of a
    batch, at a level drawn per patch."""
    from ..degradation import add_noise

    out = lr_b.clone()
    clean = rng.random(lr_b.shape[0]) < noise.get("p_clean", 0.0)
    peaks, sig = noise.get("poisson_peak"), noise.get("gaussian")
    for i in np.flatnonzero(~clean):
        peak = float(np.exp(rng.uniform(np.log(peaks[0]), np.log(peaks[1])))) if peaks else None
        s = float(rng.uniform(*sig)) if sig and sig[1] > 0 else 0.0
        out[i] = add_noise(out[i], s, peak, generator=gen)
    return out


class PairSampler:
    """Random aligned LR/HR patch pairs from whole images degraded once per degradation (noise per patch)."""

    def __init__(
        self, images, scale, patch, device, degradations=None, lr_images=None, noise=None, gain=None
    ):
        import torch

        self.scale, self.patch, self.device = scale, patch, device
        self.gain = gain
        self.degs = list(degradations or training_degradations(None))
        self.noise = dict(noise or {})
        self.lr, self.hr = [], []
        for i, img in enumerate(images):
            hr = modcrop(img, scale)
            if min(hr.shape) < patch * scale:
                continue
            t = torch.from_numpy(np.ascontiguousarray(hr)).to(device)
            if lr_images is not None:  # measured pairs: the LR as given
                lrs = [torch.from_numpy(np.ascontiguousarray(lr_images[i])).to(device).float()]
            else:
                lrs = [degrade_plane(t, scale, d) for d in self.degs]
            self.hr.append(t)
            self.lr.append(lrs)
        if not self.hr:
            raise SuperResError(
                f"every training image is smaller than one {patch * scale}-pixel patch; "
                "use larger images or a smaller patch size"
            )
        sizes = np.array(
            [(lr[0].shape[0] - patch + 1) * (lr[0].shape[1] - patch + 1) for lr in self.lr], float
        )
        self.p = sizes / sizes.sum()

    def batch(self, batch_size: int, rng: np.random.Generator, gen):
        import torch

        s, p = self.scale, self.patch
        idx = rng.choice(len(self.lr), size=batch_size, p=self.p)
        lrs, hrs = [], []
        for i in idx:
            versions, hr = self.lr[i], self.hr[i]
            lr = versions[int(rng.integers(0, len(versions)))] if len(versions) > 1 else versions[0]
            y = int(rng.integers(0, lr.shape[0] - p + 1))
            x = int(rng.integers(0, lr.shape[1] - p + 1))
            lrs.append(lr[y : y + p, x : x + p])
            hrs.append(hr[y * s : (y + p) * s, x * s : (x + p) * s])
        lr_b = torch.stack(lrs)[:, None]
        hr_b = torch.stack(hrs)[:, None]
        k = int(rng.integers(0, 8))  # the 8 flips and rotations, the same for the whole batch
        if k & 4:
            lr_b, hr_b = lr_b.transpose(-1, -2), hr_b.transpose(-1, -2)
        if k & 3:
            lr_b, hr_b = torch.rot90(lr_b, k & 3, (-2, -1)), torch.rot90(hr_b, k & 3, (-2, -1))
        if self.gain:
            lo, hi = np.log(self.gain[0]), np.log(self.gain[1])
            g = np.where(rng.random(batch_size) < 0.5, np.exp(rng.uniform(lo, hi, batch_size)), 1.0)
            g_t = torch.as_tensor(g, dtype=lr_b.dtype, device=lr_b.device)[:, None, None, None]
            lr_b, hr_b = lr_b * g_t, hr_b * g_t
        if self.noise:
            lr_b = _noisy(lr_b, self.noise, rng, gen)
        return lr_b.contiguous(), hr_b.contiguous()


def degrade_plane(hr, scale: int, deg):
    """The LR plane (float32 tensor) of an HR plane under a degradation (noise is added per batch)."""
    return deg.downsample(hr[None].double(), scale)[0].float()


def check_pairs(lr_images, hr_images, scale: int) -> list:
    """LR planes matched to HR planes: one each, each HR ``scale`` times its LR (after cropping)."""
    if len(lr_images) != len(hr_images):
        raise SuperResError(
            f"{len(lr_images)} LR planes for {len(hr_images)} HR planes; give one LR image per HR image"
        )
    out = []
    for lr, hr in zip(lr_images, hr_images):
        h, w = hr.shape[0] // scale, hr.shape[1] // scale
        if lr.shape[0] < h or lr.shape[1] < w or lr.shape[0] > h + 1 or lr.shape[1] > w + 1:
            raise SuperResError(
                f"an LR plane of {lr.shape[0]}x{lr.shape[1]} does not match an HR plane of "
                f"{hr.shape[0]}x{hr.shape[1]} at x{scale}; the HR image must be {scale} times the LR one"
            )
        out.append(lr[:h, :w])
    return out


def split_validation(images: list[np.ndarray], step: int = 1, cuts=None) -> tuple[list, list]:
    """Training and validation images: every 20th image held out, or the bottom tenth of each when few.

    ``step``: the cut is a multiple of it (the scale, so LR/HR pairs are cut at the same place);
    ``cuts``: the rows to cut at, one per image (the LR side of a pair).
    """
    if len(images) >= 10:
        return [im for i, im in enumerate(images) if i % 20 != 19], images[19::20]
    train, val = [], []
    for i, im in enumerate(images):
        cut = cuts[i] if cuts is not None else int(im.shape[0] * 0.9) // step * step
        train.append(im[:cut])
        val.append(im[cut:])
    return train, val


def shrunk_copies(planes: list[np.ndarray], factors) -> list[np.ndarray]:
    """``planes`` each shrunk by each of ``factors`` (antialiased bicubic)."""
    import torch

    from ..degradation import resize

    out = []
    for f in factors:
        for p in planes:
            t = torch.from_numpy(np.ascontiguousarray(p, dtype=np.float64))[None]
            size = (int(p.shape[0] * f), int(p.shape[1] * f))
            out.append(resize(t, f, size)[0].numpy().astype(np.float32))
    return out
