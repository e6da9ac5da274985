"""Tiles per forward pass: in-memory ``upscale`` with batch=1, 2, 4, 8 on one device.

    python scripts/measure/batch_speed.py [model] [size] [device]

Prints seconds and output MP/s per batch size (dask threads = max(cores, batch), so that enough
tiles are in flight to fill a batch), and the largest difference from batch=1. The default batch
(``engine.auto_batch``: 1 on the CPU, 8 on GPUs) comes from these numbers.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

import napari_superres as nsr


def main(model: str = "espcn", size: int = 2048, device: str = "auto") -> None:
    img = np.random.default_rng(0).random((size, size)).astype(np.float32)
    nsr.upscale(img[:256, :256], model, 2, normalize=None, device=device).compute()  # warm-up
    ref = None
    print(f"model {model} x2, {size}x{size} float32 input, device {device}, {os.cpu_count()} CPU cores")
    print("| batch | dask threads | seconds | output MP/s | max diff vs batch 1 |")
    print("|---|---|---|---|---|")
    for batch in (1, 2, 4, 8):
        threads = max(os.cpu_count() or 1, batch)
        lazy = nsr.upscale(img, model, 2, normalize=None, device=device, batch=batch)
        t0 = time.perf_counter()
        out = lazy.compute(scheduler="threads", num_workers=threads)
        dt = time.perf_counter() - t0
        ref = out if ref is None else ref
        diff = float(np.abs(out - ref).max())
        print(
            f"| {batch} | {threads} | {dt:.2f} | {4 * size * size / 1e6 / dt:.2f} | {diff:.2g} |", flush=True
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(int(a) if a.isdigit() else a for a in args))
