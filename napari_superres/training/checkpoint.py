"""Checkpoints (safetensors: the weights, Adam's moments, the step and the schedule; never pickles)
and the learning-rate schedule, shared by :mod:`.loop` and :mod:`napari_superres.isotropic`."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..errors import SuperResError
from ..models import read_metadata


def save_checkpoint(path: Path, model, opt, step: int, info: dict) -> None:
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


def cosine_lr(lr: float, step: int, steps: int) -> float:
    """The learning rate at ``step`` (0-based) of a run of ``steps``: cosine from ``lr`` to 1% of it."""
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))


def extend_schedule(schedule, start: int, steps: int, lr: float) -> list:
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
            text += f", resumed at step {first} with lr {cosine_lr(lr, first, steps):.2g}"
        parts.append(text)
    return "; ".join(parts)


def load_checkpoint(path: Path, model, opt, device) -> tuple[int, dict]:
    import torch
    from safetensors.torch import load_file

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
