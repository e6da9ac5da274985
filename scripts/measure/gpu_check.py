"""GPU checks, run on a machine with CUDA: exact tiling on the device, CPU/GPU agreement, bench on the GPU.

PYTHONPATH=. python scripts/measure/gpu_check.py [SET5_DIR]
"""

import sys
import time

import numpy as np
import torch

import napari_superres as nsr
from napari_superres.bench import evaluate, format_table

print("torch", torch.__version__, "device", torch.cuda.get_device_name(0), flush=True)
rng = np.random.default_rng(0)
img = rng.random((2, 300, 411)).astype(np.float32)
for s in (2, 3, 4):
    whole = nsr.upscale(img, "espcn", s, tile=100_000, normalize=None, device="cuda").compute()
    tiled = nsr.upscale(img, "espcn", s, tile=64, normalize=None, device="cuda").compute()
    cpu = nsr.upscale(img, "espcn", s, tile=64, normalize=None, device="cpu").compute()
    print(
        f"x{s}: cuda tiled vs whole {np.abs(tiled - whole).max():.2e}, cuda vs cpu {np.abs(tiled - cpu).max():.2e}",
        flush=True,
    )
big = (rng.random((4096, 4096)) * 60000).astype(np.uint16)
for tile in (256, 1024):
    t0 = time.perf_counter()
    nsr.upscale(big, "espcn", 2, tile=tile, device="cuda").compute()
    dt = time.perf_counter() - t0
    print(f"in-memory 4096^2 x2 on cuda, tile {tile}: {dt:.2f} s, {4 * 16.78 / dt:.1f} MP/s out", flush=True)
if len(sys.argv) > 1:
    print(format_table(evaluate(sys.argv[1], ["bicubic", "espcn"], [2, 3, 4], device="cuda")), flush=True)
