"""The training loop: a generator (:func:`iter_train`) that yields progress dicts, so the CLI, a napari
thread worker and tests drive the same loop; :func:`train` runs it to the end.

>>> from napari_superres.training import train                                  # doctest: +SKIP
>>> model = train("espcn", "T91/", scale=2, steps=2000, out="espcn_x2.safetensors")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SuperResError, opt
from ..models import NAMED, USER, build, load_model, save_weights, shipped_scales
from .checkpoint import cosine_lr, extend_schedule, load_checkpoint, save_checkpoint, schedule_text
from .data import (
    GAIN_RANGE,
    PairSampler,
    check_pairs,
    degrade_plane,
    describe,
    load_images,
    modcrop,
    split_validation,
    training_degradations,
    training_noise,
)


def validate(model, images, scale: int, device, degradation=None, lr_images=None) -> float:
    """Mean PSNR (peak 1.0, ``scale`` pixels shaved) of the model on whole validation images.

    Synthetic pairs use each image under each training degradation in turn (a PSF family cycles).
    """
    import torch

    from ..metrics import psnr, shave

    degs = training_degradations(degradation)
    vals = []
    model.module.eval()
    with torch.inference_mode():
        for i, img in enumerate(images):
            hr = torch.from_numpy(np.ascontiguousarray(modcrop(img, scale))).to(device)
            if lr_images is not None:
                lr = torch.from_numpy(np.ascontiguousarray(lr_images[i])).to(device).float()
            else:
                lr = degrade_plane(hr, scale, degs[i % len(degs)])
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
    from ..models.wrappers import BackProjected, SelfEnsemble

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

    from ..device import resolve_device

    if data is None:
        raise SuperResError("no training data given; pass a folder of images or an array")
    if loss not in LOSSES:
        raise SuperResError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if out is not None and Path(out).exists() and not overwrite:  # checked before hours of training
        raise SuperResError(
            f"{out} exists; choose another output, or to replace it: {opt('overwrite', True)}"
        )
    degs = training_degradations(degradation)
    noise_spec = training_noise(noise, degradation)
    dev = resolve_device(device)
    images = load_images(data, channel)
    if real_data is not None:  # real acquisitions, less the validation split the real benchmark scores
        from ..realdata import training_planes

        if lr_data is not None:
            raise SuperResError(
                f"{opt('real_data')} adds synthetic pairs; it cannot be combined with LR/HR pairs"
            )
        real = training_planes(real_data)
        images = images + real
        data_description = (data_description or describe(data)) + (
            f" + {len(real)} real planes of {real_data} (napari_superres.realdata: validation split held out)"
        )
    train_lr = val_lr = None
    if lr_data is not None:  # measured LR/HR pairs: no synthetic degradation
        lr_images = check_pairs(load_images(lr_data, channel), images, scale)
        images = [im[: lr.shape[0] * scale, : lr.shape[1] * scale] for im, lr in zip(images, lr_images)]
        train_imgs, val_imgs = split_validation(images, scale)
        train_lr, val_lr = split_validation(lr_images, 1, [im.shape[0] // scale for im in train_imgs])
        if val_data is not None:
            raise SuperResError(
                "val_data cannot be combined with lr_data; the pairs' own held-out part validates"
            )
    elif val_data is not None:
        train_imgs, val_imgs = images, load_images(val_data, channel)
    else:
        train_imgs, val_imgs = split_validation(images)
    init_note = init_token = ""
    if init is not None:
        torch.manual_seed(seed)  # the layers a cross-scale start leaves new are initialised reproducibly
        model, init_note, init_token = init_model(init, scale)
        arch = model.arch
        config = {**model.config, "in_channels": model.in_channels}
    else:
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
    # vdsr-lite, edsr-lite, rdn-lite; scripts/measure/cpu_options.py shows the same for inference)
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
    optimizer = torch.optim.Adam(model.module.parameters(), lr=lr)
    start, info = 0, {"wall_time_s": 0.0}
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt is not None:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
    if ckpt is not None and ckpt.exists():
        start, info = load_checkpoint(ckpt, model, optimizer, dev)
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
    schedule = extend_schedule(info.get("schedule") if start else None, start, steps, lr)
    info["schedule"] = schedule
    t0 = time.perf_counter() - float(info.get("wall_time_s", 0.0))
    val_psnr = info.get("val_psnr")
    loss_avg = None
    loss_fn = torch.nn.functional.l1_loss if loss == "l1" else torch.nn.functional.mse_loss
    benchmark_was = torch.backends.cudnn.benchmark
    if dev.type == "cuda":  # one patch shape throughout: let cuDNN pick its fastest kernels once
        torch.backends.cudnn.benchmark = True
    try:
        shown = run_start = time.perf_counter()
        for step in range(start, steps):
            # cosine decay to 1% of lr: a pure function of step, so resume-safe
            for g in optimizer.param_groups:
                g["lr"] = cosine_lr(lr, step, steps)
            rng = np.random.default_rng([seed, step])
            gen = torch.Generator(device=dev).manual_seed(seed * 1_000_003 + step)
            lr_b, hr_b = sampler.batch(batch_size, rng, gen)
            loss_t = loss_fn(model.module(lr_b.to(memory_format=fmt)), hr_b)
            optimizer.zero_grad(set_to_none=True)
            loss_t.backward()
            optimizer.step()
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
                save_checkpoint(ckpt, model, optimizer, done, info)
            # a message after the first step, then every 50 steps or second (whichever comes first)
            now = time.perf_counter()
            if (
                done == start + 1
                or done % 50 == 0
                or now - shown >= 1.0
                or "val_psnr" in msg
                or done == steps
            ):
                shown = now
                yield {**msg, "loss": float(loss_avg), "elapsed": now - run_start, "started_at": start}
    finally:  # also when the caller stops early (Cancel closes this generator)
        torch.backends.cudnn.benchmark = benchmark_was
    wall = time.perf_counter() - t0
    model.module.eval()
    model.metadata = {
        "arch": model.arch,
        "config": json.dumps(model.config),
        "scale": str(scale),
        "in_channels": str(model.in_channels),
        "training_data": data_description or describe(data),
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


def progress_line(msg: dict) -> str:
    """One progress line of a training message: step, bar, loss, validation PSNR, rate and time left."""
    from ..events import bar, duration

    step, steps = msg.get("step", 0), msg.get("steps", 0)
    parts = [f"step {step}/{steps} {bar(step, steps)}"]
    if msg.get("loss") is not None:
        parts.append(f"loss {msg['loss']:.4f}")
    if msg.get("val_psnr") is not None:
        parts.append(f"validation PSNR {msg['val_psnr']:.2f} dB")
    ran = step - msg.get("started_at", 0)
    if msg.get("elapsed") and ran > 0:
        rate = ran / msg["elapsed"]
        parts.append(f"{rate:.1f} steps/s" if rate >= 1 else f"{1 / rate:.1f} s/step")
        parts.append(f"{duration((steps - step) / rate)} left")
    if msg.get("message"):
        parts.append(msg["message"])
    return ", ".join(parts)


def train(arch: str = "espcn", data: Any = None, scale: int = 2, *, progress=False, **kwargs):
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
    progress : bool or callable
        ``True``: a progress line on stderr (step, bar, loss, validation PSNR, rate, time left),
        within a step of starting; a callable: called with each progress dict of
        :func:`iter_train` (``step``, ``steps``, ``loss``, ``val_psnr``, ``elapsed``) instead.
    """
    from ..events import StatusLine

    show = progress if callable(progress) else StatusLine() if progress else None
    last = {}
    for msg in iter_train(arch, data, scale, **kwargs):
        last = msg
        if show is None or msg.get("done"):
            continue
        if callable(progress):
            progress(msg)
        elif "val_psnr" in msg or "message" in msg:  # kept as lines of their own in a terminal
            show.line(progress_line(msg))
        else:
            show(progress_line(msg))
    if isinstance(show, StatusLine):
        show(
            f"done: {last.get('step', 0)} steps" + (f", saved {last['out']}" if last.get("out") else ""),
            final=True,
        )
    return last["model"]
