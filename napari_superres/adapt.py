"""Adapt a model to one image: fine-tune it on pairs made from the image itself (zero-shot, ZSSR-style).

The image is its own teacher: shrunk by its degradation, it gives a smaller copy whose enlargement
must reproduce it, with the image's own structures and contrast (and a copy shrunk to 0.8 gives more
pairs, :data:`SHRINKS`). Shrinking averages noise away, so half the smaller copies' patches get noise
back to the image's own level (:data:`NOISY_SHARE`): the network does not learn to draw the image's
noise as detail. The model starts from its shipped (or given) weights and trains on random patches
of these pairs for a wall-clock budget;
a part of the image held back from training (its bottom fifth) scores the start and the adapted
model, and whichever is better there is kept: adapting never makes the held-back check worse. The
adapted model is the start moved three quarters of the way toward the trained weights (:data:`MIX`),
which keeps most of what transfers to the finer scale and drops much of what fits only these pairs.

>>> import numpy as np, napari_superres as nsr
>>> from napari_superres.adapt import adapt
>>> img = np.random.default_rng(0).random((96, 96)).astype(np.float32)
>>> res = adapt(img, "default", 2, seconds=1)            # doctest: +SKIP
>>> res.kept in ("adapted", "start")                     # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SuperResError, opt

DEFAULT_SECONDS = 120.0  # the default budget: about 2 minutes on 2 CPU cores
MAX_STEPS = 1000  # more overfits the image's own pairs (measured: docs/real-data.md); a limit, not a target
VAL_FRACTION = 0.2  # the bottom fifth of each plane is held back for the check
MAX_SIDE = 1024  # planes are cropped to their centre at most this large (time goes to steps, not I/O)
PLANES = 4  # at most this many planes (spread along Z / T / C) of a stack
CHECKS = 4  # the held-back part is scored this many times during the run; the best state is kept
# the weights kept lie this far from the start toward the trained ones (0: the start, 1: the network as
# trained). The image's own pairs are few, and a network trained all the way on them also learns what
# does not transfer to the finer scale; three quarters of the way cut the worst loss on the real split
# from 0.25 to 0.09 dB for a little more mean gain under bicubic / binning (docs/real-data.md)
MIX = 0.75
# The image's own pairs are the image shrunk once more, and shrinking averages its noise away (2x2
# binning halves it): a network trained on them alone takes the real input's noise for detail and
# draws it (flat background 0.77 -> 1.10 x bicubic's on the real split). So this share of the training
# inputs gets white noise bringing them back to the image's own noise level (ZSSR adds noise too); the
# rest stay as shrunk, as the shipped weights' recipe keeps half its patches clean (docs/real-data.md)
NOISY_SHARE = 0.5
# the image also trains shrunk by these factors (ZSSR's pairs at several scales: more pairs from one
# image, with its structures a little finer); 0.8 raised the real split's bicubic / binning change by
# +0.02 / +0.04 dB and their worst image from -0.08 / -0.12 to -0.04 / -0.03 dB (docs/real-data.md)
SHRINKS = (0.8,)


@dataclass
class AdaptResult:
    """What :func:`adapt` did. ``model`` is the one to use: the adapted network, or the start when
    adapting did not help on the held-back part. Gains are PSNR differences on that part (dB)."""

    model: object = field(repr=False)
    start: str
    kept: str  # "adapted" or "start"
    gain_db: float  # the kept model over the start (0 when the start is kept)
    adapted_gain_db: float  # the best adapted state over the start (may be negative)
    start_vs_bicubic_db: float
    degradation: str
    steps: int
    seconds: float
    path: str | None = None

    def summary(self) -> str:
        text = (
            f"adapted {self.start} to this image under {self.degradation}: {self.steps} steps in "
            f"{self.seconds:.0f} s; held-back check {self.adapted_gain_db:+.2f} dB over the start "
            f"(which was {self.start_vs_bicubic_db:+.2f} dB over bicubic); "
        )
        text += "keeping the adapted model" if self.kept == "adapted" else "keeping the start model"
        return text + (f", saved to {self.path}" if self.path else "")


def check_budget(seconds) -> float:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        s = float("nan")
    if not (s > 0) or not math.isfinite(s) or isinstance(seconds, bool):
        raise SuperResError(
            f"the adapt budget ({opt('adapt')} or {opt('seconds')}) must be a positive number of seconds, "
            f"got {seconds!r}"
        )
    return s


def _planes(src, nodata) -> list[np.ndarray]:
    """Up to :data:`PLANES` YX planes of the image, spread along its other axes, cropped to their centre."""
    axes, shape = src.axes, src.shape
    y_ax, x_ax = axes.index("Y"), axes.index("X")
    lead = [d for d in range(len(shape)) if d not in (y_ax, x_ax)]
    combos = list(np.ndindex(*[shape[d] for d in lead])) if lead else [()]
    pick = sorted({combos[int(i)] for i in np.linspace(0, len(combos) - 1, min(PLANES, len(combos)))})
    H, W = shape[y_ax], shape[x_ax]
    hs, ws = min(H, MAX_SIDE), min(W, MAX_SIDE)
    y0, x0 = (H - hs) // 2, (W - ws) // 2
    out = []
    for combo in pick:
        idx = [slice(None)] * len(shape)
        for d, i in zip(lead, combo):
            idx[d] = int(i)
        idx[y_ax], idx[x_ax] = slice(y0, y0 + hs), slice(x0, x0 + ws)
        plane = np.asarray(src.data[tuple(idx)], dtype=np.float64)
        if y_ax > x_ax:
            plane = plane.T
        bad = ~np.isfinite(plane) if nodata is None else (~np.isfinite(plane) | (plane == nodata))
        if bad.all():
            continue
        if bad.any():  # missing pixels take the median of the valid ones: no edge for the network to learn
            plane = np.where(bad, np.median(plane[~bad]), plane)
        out.append(plane)
    if not out:
        raise SuperResError("the image has no valid pixels to adapt to")
    return out


def _split(planes: list[np.ndarray], scale: int) -> tuple[list, list]:
    """Training parts (the top) and held-back parts (the bottom :data:`VAL_FRACTION`) of each plane."""
    train, val = [], []
    for p in planes:
        cut = int(p.shape[0] * (1 - VAL_FRACTION)) // scale * scale
        train.append(p[:cut])
        val.append(p[cut:])
    return train, val


def _score(module, pairs, scale: int) -> float:
    """Mean PSNR (peak 1, ``scale`` pixels shaved) of ``module`` on the held-back ``(lr, hr)`` pairs."""
    import torch

    from .metrics import psnr, shave

    vals = []
    with torch.inference_mode():
        for lr, hr in pairs:
            sr = module(lr[None, None])[0, 0].double().cpu().numpy()
            vals.append(psnr(shave(sr, scale), shave(hr, scale), peak=1.0))
    return float(np.mean(vals))


def iter_adapt(
    image,
    model="default",
    scale: int = 2,
    *,
    degradation=None,
    seconds=DEFAULT_SECONDS,
    axes: str | None = None,
    nodata=None,
    device: str = "auto",
    out=None,
    overwrite: bool = False,
    lr: float = 2e-4,
    batch_size: int = 16,
    patch_size: int = 32,
    seed: int = 0,
) -> Iterator[dict]:
    """:func:`adapt` as a generator of progress dicts (``step``, ``elapsed``, ``seconds``, ``message``);
    the last has ``"done": True`` and ``"result"`` (an :class:`AdaptResult`)."""
    import torch

    from .degradation import DegradationError, parse_degradation, restoring_noise
    from .device import resolve_device
    from .engine import check_scale, model_scale
    from .engine.options import check_degradation
    from .io import open_input
    from .models import build, load_model, save_weights
    from .models.wrappers import BackProjected, SelfEnsemble
    from .normalize import fixed_range, robust_range
    from .training.checkpoint import cosine_lr
    from .training.data import PairSampler, degrade_plane, shrunk_copies

    budget = check_budget(seconds)
    s = model_scale(check_scale(scale))
    told = check_degradation(degradation)
    if out is not None:
        out = Path(out).expanduser()
        if out.exists() and not overwrite:
            raise SuperResError(
                f"{out} exists; choose another output, or to replace it: {opt('overwrite', True)}"
            )
        if not out.parent.exists():
            raise SuperResError(f"the folder {out.parent} does not exist; create it first")
    src = open_input(image, axes)
    if src.dtype.kind not in "biuf":
        raise SuperResError(f"cannot adapt to {src.dtype} data; give an integer or floating-point image")
    from_auto = told == "auto"
    if from_auto:
        from .engine.auto import estimate_degradation, sample_windows

        report = estimate_degradation(sample_windows(src.data, src.axes), model, s, nodata=nodata)
        told = parse_degradation(report["choice"])
        yield {
            "step": 0,
            "elapsed": 0.0,
            "seconds": budget,
            "message": f"degradation auto: {report['choice']}",
        }
    # after auto, the start is what auto enlarges with: its noise-robust weights (the bicubic family's
    # plain ones are the benchmark protocol's, trained on clean photographs)
    start = load_model(model, s, degradation=told, noise_robust=from_auto)
    if isinstance(start.module, (SelfEnsemble, BackProjected)):
        raise SuperResError(
            f"{start.name!r} wraps a network for inference (+x8, +bpN); adapt the network itself"
        )
    if start.axial or not any(p.requires_grad for p in start.module.parameters()):
        raise SuperResError(f"model {start.name!r} has nothing to adapt; choose a network such as 'default'")
    try:
        deg = parse_degradation(told if told is not None else start.degradation)
    except DegradationError:  # weights for a family of PSF widths: which one made this image?
        raise SuperResError(
            f"{start.name} was trained for {start.degradation}; adapting needs the image's own "
            f"degradation, e.g. {opt('degradation', 'gaussian:1.0')}"
        ) from None

    # the image's planes in [0, 1] by the same kind of range the engine normalises with
    planes = _planes(src, nodata)
    rng_fixed = fixed_range(src.dtype)
    lo, hi = rng_fixed if rng_fixed is not None else robust_range(np.concatenate([p.ravel() for p in planes]))
    planes = [((p - lo) / (hi - lo)).astype(np.float32) for p in planes]
    train, val = _split(planes, s)
    train_rows = min(p.shape[0] for p in train) // s
    cols = min(p.shape[1] for p in train) // s
    patch = min(patch_size, train_rows // s, cols // s)
    if patch < 8:
        need = int(math.ceil(8 * s * s / (1 - VAL_FRACTION)))
        raise SuperResError(
            f"the image is too small to adapt to at x{s} (at least {need}x{8 * s * s} pixels); "
            "use it without adapting"
        )
    dev = resolve_device(device)
    torch.manual_seed(seed)
    net = build(
        start.arch, s, {**start.config, "in_channels": start.in_channels}, name=f"{start.name} adapted"
    )
    net.module.load_state_dict({k: v.detach().clone() for k, v in start.module.state_dict().items()})
    net.module.to(dev)
    sigma, added = restoring_noise(train, deg, s)
    noise = (
        {"p_clean": 1 - NOISY_SHARE, "gaussian": (added, added)} if added > 0 and NOISY_SHARE > 0 else None
    )
    sampler = PairSampler(train + shrunk_copies(train, SHRINKS), s, patch, dev, [deg], noise=noise)
    val_pairs = []
    for hr in val:
        h, w = hr.shape[0] // s * s, hr.shape[1] // s * s
        if min(h, w) >= 4 * s:
            t = torch.from_numpy(np.ascontiguousarray(hr[:h, :w])).to(dev)
            val_pairs.append((degrade_plane(t, s, deg), t.double().cpu().numpy()))
    if not val_pairs:  # too few rows held back: check on the training part (less strict, said in the result)
        val_pairs = [
            (degrade_plane(torch.from_numpy(p[: p.shape[0] // s * s]).to(dev), s, deg), p) for p in train
        ]
    net.module.eval()
    start_psnr = _score(net.module, val_pairs, s)
    bic = load_model("bicubic", s).module.to(dev)
    bic_psnr = _score(bic, val_pairs, s)
    best_psnr, best_state = start_psnr, None
    optimizer = torch.optim.Adam(net.module.parameters(), lr=lr)
    loss_fn = torch.nn.functional.l1_loss
    net.module.train()
    t0 = time.perf_counter()
    step, next_check = 0, 1
    start_state = {k: v.detach().clone() for k, v in net.module.state_dict().items()}

    def mixed() -> dict:
        """The weights :data:`MIX` of the way from the start to the network as trained so far."""
        return {
            k: start_state[k] + MIX * (v.detach() - start_state[k]) if v.is_floating_point() else v.clone()
            for k, v in net.module.state_dict().items()
        }

    def progress() -> float:
        """How far the run is, 0-1: by the budget's clock or the step cap, whichever is nearer."""
        return max((time.perf_counter() - t0) / budget, step / MAX_STEPS)

    def total(frac: float) -> int:  # the steps the run will take at this pace, for progress bars
        return max(step, min(MAX_STEPS, int(step / frac))) if frac > 0 else MAX_STEPS

    while (frac := progress()) < 1:
        # the schedule follows the clock, not a step count guessed at the start: a machine that
        # slows down (or speeds up) mid-run still spends the whole budget and ends at the low rate
        for g in optimizer.param_groups:
            g["lr"] = cosine_lr(lr, frac, 1)
        r = np.random.default_rng([seed, step])
        gen = torch.Generator(device=dev).manual_seed(seed * 1_000_003 + step)
        lr_b, hr_b = sampler.batch(batch_size, r, gen)
        loss = loss_fn(net.module(lr_b), hr_b)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        frac = progress()
        if frac >= 1 or (step >= 20 and frac >= next_check / CHECKS):
            next_check = int(frac * CHECKS) + 1
            net.module.eval()
            trained, candidate = {k: v.clone() for k, v in net.module.state_dict().items()}, mixed()
            net.module.load_state_dict(candidate)
            p = _score(net.module, val_pairs, s)
            net.module.load_state_dict(trained)  # training goes on from the trained weights
            net.module.train()
            if p > best_psnr:
                best_psnr = p
                best_state = candidate
            yield {
                "step": step,
                "steps": total(frac),
                "elapsed": time.perf_counter() - t0,
                "seconds": budget,
                "gain_db": p - start_psnr,
                "message": f"adapting: step {step} of about {total(frac)}, held-back check {p - start_psnr:+.2f} dB",
            }
        elif step % 50 == 0:
            yield {"step": step, "steps": total(frac), "elapsed": time.perf_counter() - t0, "seconds": budget}
    wall = time.perf_counter() - t0
    net.module.eval()
    kept = "adapted" if best_state is not None else "start"
    if best_state is None:
        result_model = start
    else:
        net.module.load_state_dict(best_state)
        net.module.to("cpu")
        result_model = net
        record = {
            "start": start.name,
            "start_token": start.token,
            "image": src.path or src.name,
            "degradation": str(deg),
            "steps": step,
            "seconds": round(wall, 1),
            "held_back_gain_db": round(best_psnr - start_psnr, 3),
            "start_vs_bicubic_db": round(start_psnr - bic_psnr, 3),
            "normalization_range": [float(lo), float(hi)],
            "mix": MIX,
            "noise_sigma": round(sigma, 6),
            "added_noise": {"sigma": round(added, 6), "share": NOISY_SHARE},
            "shrinks": list(SHRINKS),
            "method": f"fine-tuned on the image's own pairs (itself shrunk by {deg}; noise of sigma "
            f"{added:.3g} added to {NOISY_SHARE:.0%} of the inputs, back to the image's own; also "
            f"shrunk by {', '.join(f'{f:g}' for f in SHRINKS) or 'nothing'} first), then moved "
            f"{MIX:g} of the way from the start to the trained weights; "
            f"checked on its bottom {VAL_FRACTION:.0%}, held back",
        }
        net.metadata = {
            # the start's measured figures are not the adapted weights'
            **{
                k: v
                for k, v in (start.metadata or {}).items()
                if k != "set5_psnr" and not k.startswith("real_gain")
            },
            "arch": net.arch,
            "config": json.dumps(net.config),
            "scale": str(s),
            "in_channels": str(net.in_channels),
            "degradation": json.dumps(deg.as_dict()),
            "adapted": json.dumps(record),
            "init": start.name,
            "init_token": start.token,
        }
        net.degradation = str(deg)
    path = None
    if out is not None and kept == "adapted":
        save_weights(result_model, out, result_model.metadata)
        result_model.origin = str(out.resolve())
        path = str(out)
    result = AdaptResult(
        model=result_model,
        start=start.name,
        kept=kept,
        gain_db=best_psnr - start_psnr if kept == "adapted" else 0.0,
        adapted_gain_db=best_psnr - start_psnr,
        start_vs_bicubic_db=start_psnr - bic_psnr,
        degradation=str(deg),
        steps=step,
        seconds=wall,
        path=path,
    )
    yield {
        "step": step,
        "steps": step,
        "elapsed": wall,
        "seconds": budget,
        "done": True,
        "result": result,
        "message": result.summary(),
    }


def adapt(image, model="default", scale: int = 2, *, progress=None, **kwargs) -> AdaptResult:
    """Fine-tune ``model`` on ``image`` itself within ``seconds`` (default 120) and return an
    :class:`AdaptResult` whose ``model`` enlarges the image (the adapted network, or the start when
    adapting did not improve the held-back check).

    ``degradation``: how the image was made (the model's own when unsaid; ``"auto"`` estimates it),
    used to make the training pairs. ``out``: save the adapted weights there (safetensors, with what
    was done in the ``adapted`` metadata; nothing is saved when the start is kept). ``progress``:
    called with each progress dict. The rest: ``axes``, ``nodata``, ``device``, ``lr``,
    ``batch_size``, ``patch_size`` (LR pixels), ``seed``.
    """
    last = {}
    for msg in iter_adapt(image, model, scale, **kwargs):
        last = msg
        if progress is not None:
            progress(msg)
    return last["result"]


# ----------------------------------------------------------------------------- in an upscale
def sidecar(out) -> Path:
    """Where ``upscale(out=..., adapt=...)`` keeps the adapted weights: beside the output, so a rerun
    (a resume) uses the same weights instead of adapting again."""
    return Path(str(out).rstrip("/\\") + ".adapted.safetensors").expanduser()


def adapt_for(src, options, seconds, out=None, overwrite: bool = False):
    """Adapt ``options.model`` to the opened image ``src``: yields :class:`~napari_superres.events.Progress`
    events (stage ``"adapt"``) and returns the options to upscale with (``result = yield from ...``).

    With an output, the adapted weights are saved beside it (:func:`sidecar`) and reused by a rerun."""
    from .degradation import parse_degradation
    from .events import Progress
    from .models import load_model, read_metadata

    budget = check_budget(seconds)
    path = sidecar(out) if out is not None else None
    if path is not None and path.exists():
        record = json.loads(read_metadata(path).get("adapted") or "{}")
        start = load_model(
            options.model,
            options.model_scale,
            degradation=None if options.degradation == "auto" else options.degradation,
        )
        same = record.get("image") == (src.path or src.name) and record.get("start") == start.name
        if same or overwrite:
            if same:
                yield Progress(
                    "adapt", message=f"using the weights adapted to this image before: {path.name}"
                )
                return options.replace(model=str(path), degradation=parse_degradation(record["degradation"]))
            path.unlink()
        else:
            raise SuperResError(
                f"{path} holds weights adapted to another image or model; to adapt again: "
                f"{opt('overwrite', True)}, or choose another output"
            )
    result = None
    for msg in iter_adapt(
        src,
        options.model,
        options.model_scale,
        degradation=options.degradation,
        seconds=budget,
        nodata=options.nodata,
        device=options.device,
        out=path,
        overwrite=overwrite,
    ):
        yield Progress(
            "adapt", msg["step"], msg.get("steps", 0), msg["elapsed"], message=msg.get("message", "")
        )
        result = msg.get("result", result)
    if result.kept == "start":  # adapting did not help: the model as it was
        return options
    model = result.path if result.path is not None else result.model
    return options.replace(model=model, degradation=parse_degradation(result.degradation))


def drain(generator, progress=None):
    """Run a generator of progress events to its end, passing each to ``progress``; its return value."""
    while True:
        try:
            event = next(generator)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(event)
