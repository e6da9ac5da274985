"""Training and fine-tuning: patch pairs from the degradation model, L1 (or L2) loss, Adam, checkpoints.

The work is a generator (:func:`iter_train`) that yields progress dicts, so the CLI, a napari
thread worker and tests drive the same loop. Checkpoints are safetensors files (no pickling) and
a re-run with the same checkpoint path resumes where the last one stopped.

>>> from napari_superres.training import train                                  # doctest: +SKIP
>>> model = train("espcn", "T91/", scale=2, steps=2000, out="espcn_x2.safetensors")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SuperResError


# ----------------------------------------------------------------------------- data
def _image_files(path: Path) -> list[Path]:
    from .io import IMAGE_SUFFIXES

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
    from .metrics import rgb_to_y
    from .normalize import fixed_range, robust_range

    a = np.asarray(arr)
    if channel == "y" and (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        if a.dtype != np.uint8:
            raise SuperResError(
                "channel='y' expects 8-bit RGB or grey images; use channel='raw' for other data"
            )
        return [(rgb_to_y(a) / 255.0).astype(np.float32)]
    rng = fixed_range(a.dtype) or robust_range(a[tuple(slice(None, None, max(1, s // 512)) for s in a.shape)])
    lo, hi = rng
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
    from .io import read_image_file

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


def _describe(data) -> str:
    items = data if isinstance(data, (list, tuple)) else [data]
    return ", ".join(str(i) if isinstance(i, (str, os.PathLike)) else f"array {np.shape(i)}" for i in items)


def _modcrop(img: np.ndarray, scale: int) -> np.ndarray:
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
    from .degradation import BICUBIC, Degradation, DegradationError, parse_degradation

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
            raise SuperResError("degradation='auto' is for enlarging; training needs a named degradation")
        try:
            out.append(parse_degradation(d))
        except DegradationError as exc:
            raise SuperResError(str(exc)) from None
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
    from .degradation import add_noise

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
            hr = _modcrop(img, scale)
            if min(hr.shape) < patch * scale:
                continue
            t = torch.from_numpy(np.ascontiguousarray(hr)).to(device)
            if lr_images is not None:  # measured pairs: the LR as given
                lrs = [torch.from_numpy(np.ascontiguousarray(lr_images[i])).to(device).float()]
            else:
                lrs = [_degrade(t, scale, d) for d in self.degs]
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


# ----------------------------------------------------------------------------- checkpoints
def save_weights(model, path: str | Path, metadata: dict) -> Path:
    """Save a model's weights as safetensors with string metadata, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def update_metadata(path: str | Path, **entries) -> None:
    """Add or replace metadata entries of a safetensors file, keeping its tensors."""
    from safetensors.torch import load_file, save_file

    from .models import read_metadata

    path = Path(path)
    meta = read_metadata(path)
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in entries.items()})
    tensors = load_file(str(path))
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def _save_checkpoint(path: Path, model, opt, step: int, info: dict) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
    counts = {}
    for i, p in enumerate(model.module.parameters()):
        st = opt.state.get(p, {})
        for name in ("exp_avg", "exp_avg_sq"):
            if name in st:
                tensors[f"optim.{i}.{name}"] = st[name].detach().cpu().contiguous()
        if "step" in st:
            counts[i] = float(st["step"])
    meta = {"step": str(step), "adam_steps": json.dumps(counts), "info": json.dumps(info)}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def _cosine_lr(lr: float, step: int, steps: int) -> float:
    """The learning rate at ``step`` (0-based) of a run of ``steps``: cosine from ``lr`` to 1% of it."""
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))


def _extend_schedule(schedule, start: int, steps: int, lr: float) -> list:
    """The checkpoint's schedule, ``[[from_step, steps, lr], ...]``, with this run's setting added where it
    differs. A run resumed with more steps (or another lr) follows the cosine of its own setting from
    the step it resumes at, so the learning rate rises again; the record says where and to what."""
    if not start:
        return [[0, steps, lr]]
    schedule = [list(seg) for seg in schedule or [[0, None, None]]]  # None: a checkpoint of an older release
    if schedule[-1][1:] != [steps, lr]:
        if schedule[-1][0] == start:  # nothing was trained under the last setting
            schedule.pop()
        schedule.append([start, steps, lr])
    return schedule


def schedule_text(schedule: list, total: int) -> str:
    """The learning-rate history of a resumed run, in words (written to the weights' ``schedule``)."""
    parts = []
    for i, (first, steps, lr) in enumerate(schedule):
        last = schedule[i + 1][0] if i + 1 < len(schedule) else total
        if steps is None:
            parts.append(f"steps 1-{last}: a setting the checkpoint did not record")
            continue
        text = f"steps {first + 1}-{last}: lr {lr:g} cosine to 1% over {steps} steps"
        if i:
            text += f", resumed at step {first} with lr {_cosine_lr(lr, first, steps):.2g}"
        parts.append(text)
    return "; ".join(parts)


def _load_checkpoint(path: Path, model, opt, device) -> tuple[int, dict]:
    import torch
    from safetensors.torch import load_file

    from .models import read_metadata

    meta = read_metadata(path)
    tensors = load_file(str(path), device=str(device))
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.module.load_state_dict(state, strict=True)
    except RuntimeError:
        raise SuperResError(
            f"checkpoint {path} belongs to another architecture or configuration; "
            "use another checkpoint path or delete it to start afresh"
        ) from None
    counts = {int(k): v for k, v in json.loads(meta.get("adam_steps", "{}")).items()}
    for i, p in enumerate(model.module.parameters()):
        if f"optim.{i}.exp_avg" in tensors:
            opt.state[p] = {  # moments in the parameter's own memory format
                "step": torch.tensor(counts.get(i, 0.0)),
                "exp_avg": torch.empty_like(p).copy_(tensors[f"optim.{i}.exp_avg"]),
                "exp_avg_sq": torch.empty_like(p).copy_(tensors[f"optim.{i}.exp_avg_sq"]),
            }
    return int(meta["step"]), json.loads(meta.get("info", "{}"))


# ----------------------------------------------------------------------------- loop
def _degrade(hr, scale: int, deg):
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


def validate(model, images, scale: int, device, degradation=None, lr_images=None) -> float:
    """Mean PSNR (peak 1.0, ``scale`` pixels shaved) of the model on whole validation images.

    Synthetic pairs use each image under each training degradation in turn (a PSF family cycles).
    """
    import torch

    from .metrics import psnr, shave

    degs = training_degradations(degradation)
    vals = []
    model.module.eval()
    with torch.inference_mode():
        for i, img in enumerate(images):
            hr = torch.from_numpy(np.ascontiguousarray(_modcrop(img, scale))).to(device)
            if lr_images is not None:
                lr = torch.from_numpy(np.ascontiguousarray(lr_images[i])).to(device).float()
            else:
                lr = _degrade(hr, scale, degs[i % len(degs)])
            sr = model.module(lr[None, None])[0, 0].clamp(0, 1)
            vals.append(psnr(shave(sr.cpu().numpy(), scale), shave(hr.cpu().numpy(), scale), peak=1.0))
    model.module.train()
    return float(np.mean(vals))


def init_model(init, scale: int):
    """The model to fine-tune, at ``scale``, a note for the metadata, and the starting weights' token.

    When ``init`` has no weights at ``scale`` (a registry name trained at other scales, or a weights
    file of another scale), the same architecture and configuration is built at ``scale`` and every
    tensor whose name and shape match is copied (the feature layers and residual body); the
    upsampling tail starts afresh. Lim et al. (EDSR) start their x3/x4 models from x2 like this: it
    trains much faster than from scratch. The token (:attr:`SRModel.token`, a hash of architecture,
    configuration and weights) names the starting weights whatever file they are later copied to.
    """
    from .models import NAMED, USER, build, load_model, shipped_scales
    from .models.consistency import BackProjected
    from .models.ensemble import SelfEnsemble

    key = str(init)
    if key in NAMED and NAMED[key]["trained"] and scale not in (have := shipped_scales(key)):
        if not have:
            raise SuperResError(f"model {key!r} has no trained weights to start from; train it from scratch")
        source = load_model(key, min(have, key=lambda s: (abs(s - scale), s)))
    else:
        loaded = load_model(USER.get(key, init), scale)  # a file loads at its own scale
        if isinstance(loaded.module, (SelfEnsemble, BackProjected)):
            raise SuperResError(
                f"{key!r} wraps a network for inference (+x8, +bpN); fine-tune the network itself"
            )
        if loaded.scale == scale:
            return loaded, "", loaded.token
        source = loaded
    if source.axial:
        raise SuperResError(f"{key!r} is an axial model; it cannot start a x{scale} image model")
    model = build(source.arch, scale, {**source.config, "in_channels": source.in_channels}, name=source.name)
    theirs = source.module.state_dict()
    state = model.module.state_dict()
    fresh = []
    for name, tensor in state.items():
        if name in theirs and theirs[name].shape == tensor.shape:
            state[name] = theirs[name].clone()
        else:
            fresh.append(name)
    model.module.load_state_dict(state)
    note = f" (x{source.scale} weights; new at x{scale}: {', '.join(fresh) or 'none'})"
    return model, note, source.token


# L1 trains sharper than L2 from scratch (EDSR); L2 is the PSNR's own measure (as a last fine-tune of
# edsr-lite it moved Set5 by 0.01 dB: docs/training.md)
LOSSES = {"l1": "L1", "l2": "L2 (mean squared error)"}


def _split_validation(images: list[np.ndarray], step: int = 1, cuts=None) -> tuple[list, list]:
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


def iter_train(
    arch: str = "espcn",
    data: Any = None,
    scale: int = 2,
    *,
    steps: int = 2000,
    batch_size: int = 16,
    patch_size: int = 32,
    lr: float = 1e-3,
    config: dict | None = None,
    init: Any = None,
    out: str | Path | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 500,
    val_data: Any = None,
    lr_data: Any = None,
    val_every: int = 500,
    channel: str = "y",
    degradation=None,
    noise=None,
    gain: bool = False,
    real_data: Any = None,
    device: str = "auto",
    seed: int = 0,
    data_description: str | None = None,
    overwrite: bool = False,
    loss: str = "l1",
) -> Iterator[dict]:
    """Train (or fine-tune, with ``init``) a model; yields a progress dict per logged step.

    The last dict has ``"done": True`` and ``"model"``. See :func:`train` for the arguments.
    """
    import torch

    from .device import resolve_device
    from .models import build

    if data is None:
        raise SuperResError("no training data given; pass a folder of images or an array")
    if loss not in LOSSES:
        raise SuperResError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if out is not None and Path(out).exists() and not overwrite:  # checked before hours of training
        raise SuperResError(
            f"{out} exists; choose another output, or pass overwrite=True (--overwrite) to replace it"
        )
    degs = training_degradations(degradation)
    noise_spec = training_noise(noise, degradation)
    dev = resolve_device(device)
    images = load_images(data, channel)
    if real_data is not None:  # real acquisitions, less the validation split the real benchmark scores
        from .realdata import training_planes

        if lr_data is not None:
            raise SuperResError("real_data (--real) adds synthetic pairs; it cannot be combined with lr_data")
        real = training_planes(real_data)
        images = images + real
        data_description = (data_description or _describe(data)) + (
            f" + {len(real)} real planes of {real_data} (napari_superres.realdata: validation split held out)"
        )
    train_lr = val_lr = None
    if lr_data is not None:  # measured LR/HR pairs: no synthetic degradation
        lr_images = check_pairs(load_images(lr_data, channel), images, scale)
        images = [im[: lr.shape[0] * scale, : lr.shape[1] * scale] for im, lr in zip(images, lr_images)]
        train_imgs, val_imgs = _split_validation(images, scale)
        train_lr, val_lr = _split_validation(lr_images, 1, [im.shape[0] // scale for im in train_imgs])
        if val_data is not None:
            raise SuperResError(
                "val_data cannot be combined with lr_data; the pairs' own held-out part validates"
            )
    elif val_data is not None:
        train_imgs, val_imgs = images, load_images(val_data, channel)
    else:
        train_imgs, val_imgs = _split_validation(images)
    init_note = init_token = ""
    if init is not None:
        torch.manual_seed(seed)  # the layers a cross-scale start leaves new are initialised reproducibly
        model, init_note, init_token = init_model(init, scale)
        arch = model.arch
        config = {**model.config, "in_channels": model.in_channels}
    else:
        from .models import NAMED

        if arch in NAMED:  # a named configuration such as "edsr-lite"
            config = {**NAMED[arch]["config"], **(config or {})}
            arch = NAMED[arch]["arch"]
        config = dict(config or {})
        torch.manual_seed(seed)  # reproducible initialisation
        model = build(arch, scale, config)
    if not any(p.requires_grad for p in model.module.parameters()):
        raise SuperResError(f"{arch} has no trainable parameters; choose a network such as espcn")
    model.module.to(dev).train()
    # channels-last convolutions: 1.2-1.45x a training step on the CPU (measured for srcnn,
    # vdsr-lite, edsr-lite, rdn-lite; scripts/cpu_options.py shows the same for inference)
    fmt = torch.channels_last if dev.type == "cpu" else torch.contiguous_format
    model.module.to(memory_format=fmt)
    sampler = PairSampler(
        train_imgs,
        scale,
        patch_size,
        dev,
        degs,
        train_lr,
        None if lr_data is not None else noise_spec,
        GAIN_RANGE if gain else None,
    )
    opt = torch.optim.Adam(model.module.parameters(), lr=lr)
    start, info = 0, {"wall_time_s": 0.0}
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt is not None:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
    if ckpt is not None and ckpt.exists():
        start, info = _load_checkpoint(ckpt, model, opt, dev)
        if start > steps:
            raise SuperResError(
                f"checkpoint {ckpt} is at step {start}, past steps={steps}; "
                f"ask for more than {start} steps, or give another checkpoint path to start afresh"
            )
        if info.get("loss", "l1") != loss:  # checkpoints before the loss option were all L1
            raise SuperResError(
                f"checkpoint {ckpt} was trained with loss {info.get('loss', 'l1')!r}, not {loss!r}; "
                "resume with that loss, or give another checkpoint path to start afresh"
            )
        yield {"step": start, "steps": steps, "message": f"resumed from {ckpt} at step {start}"}
    schedule = _extend_schedule(info.get("schedule") if start else None, start, steps, lr)
    info["schedule"] = schedule
    t0 = time.perf_counter() - float(info.get("wall_time_s", 0.0))
    val_psnr = info.get("val_psnr")
    loss_avg = None
    loss_fn = torch.nn.functional.l1_loss if loss == "l1" else torch.nn.functional.mse_loss
    benchmark_was = torch.backends.cudnn.benchmark
    if dev.type == "cuda":  # one patch shape throughout: let cuDNN pick its fastest kernels once
        torch.backends.cudnn.benchmark = True
    try:
        for step in range(start, steps):
            for g in opt.param_groups:  # cosine decay to 1% of lr: a pure function of step, so resume-safe
                g["lr"] = _cosine_lr(lr, step, steps)
            rng = np.random.default_rng([seed, step])
            gen = torch.Generator(device=dev).manual_seed(seed * 1_000_003 + step)
            lr_b, hr_b = sampler.batch(batch_size, rng, gen)
            loss_t = loss_fn(model.module(lr_b.to(memory_format=fmt)), hr_b)
            opt.zero_grad(set_to_none=True)
            loss_t.backward()
            opt.step()
            # the running loss stays on the device: reading it each step would stall a GPU on every step
            lv = loss_t.detach()
            loss_avg = lv if loss_avg is None else loss_avg.mul(0.98).add_(lv, alpha=0.02)
            done = step + 1
            msg = {"step": done, "steps": steps}
            if done % val_every == 0 or done == steps:
                val_psnr = validate(model, val_imgs, scale, dev, degs, val_lr)
                msg["val_psnr"] = val_psnr
            if ckpt is not None and (done % checkpoint_every == 0 or done == steps):
                info = {
                    "wall_time_s": time.perf_counter() - t0,
                    "val_psnr": val_psnr,
                    "schedule": schedule,
                    "loss": loss,
                }
                _save_checkpoint(ckpt, model, opt, done, info)
            if done % 50 == 0 or "val_psnr" in msg or done == steps:
                yield {**msg, "loss": float(loss_avg)}
    finally:  # also when the caller stops early (Cancel closes this generator)
        torch.backends.cudnn.benchmark = benchmark_was
    wall = time.perf_counter() - t0
    model.module.eval()
    model.metadata = {
        "arch": model.arch,
        "config": json.dumps(model.config),
        "scale": str(scale),
        "in_channels": str(model.in_channels),
        "training_data": data_description or _describe(data),
        "channel": channel,
        "degradation": json.dumps(
            {"kind": "measured LR/HR pairs"}
            if lr_data is not None
            else degs[0].as_dict()
            if len(degs) == 1
            else {"kind": degs[0].family, "name": degs[0].family, "members": [str(d) for d in degs]}
        ),
        "noise": json.dumps(noise_spec if lr_data is None else {}),
        **({"gain_augmentation": json.dumps({"p": 0.5, "range": GAIN_RANGE})} if gain else {}),
        "input_range": "[0, 1]: luma Y/255 (BT.601, 16-235)" if channel == "y" else "[0, 1]",
        "steps": str(steps),
        "batch_size": str(batch_size),
        "patch_size_lr": str(patch_size),
        "learning_rate": str(lr),
        "loss": LOSSES[loss],
        "optimizer": "Adam, cosine decay to 1%",
        **({"schedule": schedule_text(schedule, steps)} if len(schedule) > 1 else {}),
        "val_psnr": f"{val_psnr:.3f}" if val_psnr is not None else "",
        "wall_time_s": f"{wall:.0f}",
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
        "date": _dt.date.today().isoformat(),
        "init": f"{init}{init_note}" if init is not None else "",
        **({"init_token": init_token} if init_token else {}),
        "command": "napari-superres " + " ".join(sys.argv[1:])
        if sys.argv[0].endswith(("cli.py", "__main__.py", "napari-superres"))
        else " ".join(sys.argv),
        "torch": torch.__version__,
    }
    if out is not None:
        save_weights(model, out, model.metadata)
    model.module.to("cpu")
    yield {"step": steps, "steps": steps, "done": True, "model": model, "val_psnr": val_psnr, "out": out}


def train(arch: str = "espcn", data: Any = None, scale: int = 2, *, progress: bool = False, **kwargs):
    """Train or fine-tune a model and return it (an :class:`~napari_superres.models.SRModel`).

    Parameters
    ----------
    arch : str
        Architecture name (``"espcn"``); ignored when ``init`` names a model to fine-tune.
    data : path, array or list
        Training images: a folder, files, arrays (every YX plane is used).
    scale : int
        Enlargement factor.
    steps, batch_size, patch_size, lr
        Optimisation settings (patch size in LR pixels).
    init : str or path, optional
        A model to fine-tune (registry name or ``.safetensors``). A model of another scale starts
        the same architecture at ``scale``: its body is copied, the upsampling tail starts afresh.
    out : path, optional
        Where to save the final weights (safetensors with provenance metadata). An existing file is
        an error unless ``overwrite=True``.
    checkpoint : path, optional
        Checkpoint file; an existing one is resumed. Resuming a finished run with a larger ``steps``
        extends it (the learning rate follows the cosine of the new setting from there, so it rises
        again); the weights' ``schedule`` metadata records each setting and where it began.
    degradation : str, Degradation or list, optional
        How LR/HR pairs are synthesised from the data itself: ``"bicubic"`` (default),
        ``"binning"``, ``"gaussian:SIGMA"`` (PSF of SIGMA HR pixels, then binning), a PSF kernel
        file, or a list of them to draw from per patch (a family of PSF widths). Recorded in the
        weights' metadata. See :mod:`napari_superres.degradation`.
    gain : bool
        Scale half of the patches by a random brightness gain (:data:`GAIN_RANGE`), so the network
        stays right on real images brighter than its normalisation range.
    real_data : path, optional
        The folder of real images (``../shared/data/real``): its planes outside the validation
        split of :mod:`napari_superres.realdata` join the training images.
    noise : None, "auto" or dict
        Poisson-Gaussian noise on the LR patches, at a level drawn per patch (``"auto"``: the
        preset that makes a model noise-robust); see :func:`training_noise`.
    channel : {"y", "raw"}
        Luma of RGB images (benchmark protocol) or raw planes (microscopy).
    loss : {"l1", "l2"}
        Pixel loss: L1 (default) or L2, the mean squared error that PSNR measures (what it did
        for a trained edsr-lite is in docs/training.md).
    """
    last = {}
    for msg in iter_train(arch, data, scale, **kwargs):
        last = msg
        if progress and not msg.get("done") and ("val_psnr" in msg or "message" in msg):
            parts = [f"step {msg['step']}/{msg['steps']}"]
            if msg.get("loss") is not None:
                parts.append(f"loss {msg['loss']:.4f}")
            if msg.get("val_psnr") is not None:
                parts.append(f"val PSNR {msg['val_psnr']:.2f} dB")
            if "message" in msg:
                parts.append(msg["message"])
            print("  ".join(parts), flush=True)
    return last["model"]
