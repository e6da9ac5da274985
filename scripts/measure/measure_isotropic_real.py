"""Measure the isotropic mode on a real stack: cells3d nuclei (60 x 256 x 256, voxel 0.29 / 0.26 / 0.26 µm,
nearly isotropic), Z shrunk ``factor`` times, restored, scored against the original slices.

LR: every Z column shrunk by antialiased bicubic (the sampling model the isotropic mode assumes; the real
axial PSF is already in the data). Methods, all restoring Z only:

- bicubic along Z;
- the 2-D default model on every XZ and every YZ plane (x``factor`` in both directions, then X (or Y)
  shrunk back by antialiased bicubic), the two averaged;
- ``isotropic`` (the axial network trained on the LR stack's own XY planes, ``steps`` steps).

PSNR over the volume (peak = the original's robust range, 2 x ``factor`` slices shaved at each Z end).

    python scripts/measure/measure_isotropic_real.py [factor] [steps] [path]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import tifffile
import torch

import napari_superres as nsr
from napari_superres.degradation import resize_axis
from napari_superres.isotropic import isotropic
from napari_superres.metrics import psnr
from napari_superres.normalize import robust_range

STACK = "../shared/data/real/microscopy/cells3d-nuclei/cells3d_nuclei_60x256x256.tif"


def _model_on_planes(lr: np.ndarray, factor: int) -> np.ndarray:
    """The 2-D default model on XZ and YZ planes, enlarging Z only (the other axis shrunk back)."""
    out = np.zeros((lr.shape[0] * factor, *lr.shape[1:]))
    for axis in (1, 2):  # Y fixed: XZ planes; X fixed: YZ planes
        planes = np.moveaxis(lr, axis, 0)  # (n, Z, other)
        big = nsr.upscale(planes, "default", factor, axes="ZYX").compute().astype(np.float64)
        back = resize_axis(torch.from_numpy(big), 2, planes.shape[2], 1.0 / factor).numpy()
        out += np.moveaxis(back, 0, axis) / 2
    return out


def main(factor: int = 4, steps: int = 300, path: str = STACK) -> None:
    gt = tifffile.imread(path).astype(np.float64)
    z = gt.shape[0] - gt.shape[0] % factor
    gt = gt[:z]
    lr = resize_axis(torch.from_numpy(gt), 0, z // factor, 1.0 / factor).numpy()
    lr = np.clip(np.rint(lr), 0, 65535).astype(np.uint16)
    lo, hi = robust_range(gt)
    cut = slice(2 * factor, -2 * factor)
    rows = []
    t0 = time.perf_counter()
    bic = resize_axis(torch.from_numpy(lr.astype(np.float64)), 0, z, float(factor)).numpy()
    rows.append(("bicubic along Z", bic, time.perf_counter() - t0))
    t0 = time.perf_counter()
    rows.append(
        ("default 2-D model on XZ and YZ planes", _model_on_planes(lr, factor), time.perf_counter() - t0)
    )
    t0 = time.perf_counter()
    iso = isotropic(lr, axes="ZYX", factor=factor, steps=steps).compute().astype(np.float64)
    rows.append((f"isotropic mode ({steps} steps)", iso, time.perf_counter() - t0))
    print(f"{path}: {gt.shape} original, Z shrunk x{factor} to {lr.shape}; 2-core CPU")
    print("| method | PSNR (dB) | vs bicubic | seconds |\n|---|---|---|---|")
    base = psnr(bic[cut], gt[cut], peak=hi - lo)
    for name, result, sec in rows:
        p = psnr(result[cut], gt[cut], peak=hi - lo)
        print(f"| {name} | {p:.2f} | {p - base:+.2f} | {sec:.0f} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 4, int(args[1]) if len(args) > 1 else 300, *args[2:3])
