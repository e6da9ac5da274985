"""Seconds per training step of a zoo model (forward, L1 backward, Adam) on random patches.

    python scripts/measure/step_time.py NAME SCALE BATCH PATCH [DEVICE]

Used to size a run to a time budget (scripts/train/gpu_train_edsr.sh) and to compare models' training cost.
Prints one number: the median step time after warm-up, the device synchronised each step.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from napari_superres.models import NAMED, build


def main(name: str, scale: int, batch: int, patch: int, device: str = "cuda") -> float:
    dev = torch.device(device)
    torch.backends.cudnn.benchmark = True  # as training does on a GPU
    entry = NAMED[name]
    model = build(entry["arch"], scale, entry["config"]).module.to(dev).train()
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.rand(batch, 1, patch, patch, device=dev)
    y = torch.rand(batch, 1, patch * scale, patch * scale, device=dev)
    times = []
    for i in range(40):
        t = time.perf_counter()
        loss = torch.nn.functional.l1_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if i >= 10:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


if __name__ == "__main__":
    a = sys.argv[1:]
    print(f"{main(a[0], int(a[1]), int(a[2]), int(a[3]), *(a[4:5])):.5f}")
