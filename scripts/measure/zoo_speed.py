"""CPU speed of every zoo architecture (random weights: speed only), through the lazy pipeline.

    python scripts/measure/zoo_speed.py [size]

Enlarges a size x size float image x2 with ``upscale`` (tiled, dask threads) and prints output MP/s.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import torch

import napari_superres as nsr
from napari_superres.models import NAMED, build
from napari_superres.models import architecture as _arch


def main(size: int = 256) -> None:
    warnings.simplefilter("ignore")
    img = np.random.default_rng(0).random((size, size)).astype(np.float32)
    print(f"| name | parameters (x2) | halo | output MP/s, {size}x{size} -> x2, 2-core CPU |")
    print("|---|---|---|---|")
    for name, entry in NAMED.items():
        if 2 not in _arch(entry["arch"])["scales"]:
            continue
        torch.manual_seed(0)
        m = build(entry["arch"], 2, entry["config"], name=name)
        nsr.upscale(img[:32, :32], m, 2, normalize=None).compute()  # warm-up
        t0 = time.perf_counter()
        nsr.upscale(img, m, 2, normalize=None).compute()
        dt = time.perf_counter() - t0
        print(f"| {name} | {m.parameters:,} | {m.halo} | {4 * size * size / 1e6 / dt:.3g} |", flush=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
