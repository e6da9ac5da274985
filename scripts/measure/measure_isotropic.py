"""Measure the isotropic mode: an isotropic synthetic volume, degraded along Z, restored.

Ground truth: the nuclei procedure of ``_sample_data`` at isotropic 0.2 µm voxels. LR: Z shrunk
``factor`` times by antialiased bicubic (optionally after an extra axial blur). Scores: PSNR over
the volume (peak = the ground truth's robust range, 2 factor slices shaved in Z) of 1-D bicubic
along Z and of ``isotropic`` (trained on the LR volume's own XY planes).

    python scripts/measure/measure_isotropic.py [factor] [steps] [axial_blur]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from scipy import ndimage

from napari_superres._sample_data import make_nuclei
from napari_superres.degradation import resize_axis
from napari_superres.isotropic import isotropic
from napari_superres.metrics import psnr
from napari_superres.normalize import robust_range


def main(factor: int = 4, steps: int = 300, axial_blur: float = 0.0) -> None:
    gt = make_nuclei((64, 128, 128), count=60, voxel=(0.2, 0.2, 0.2), psf=(1.2, 1.2, 1.2)).astype(np.float64)
    blurred = ndimage.gaussian_filter1d(gt, axial_blur, axis=0) if axial_blur else gt
    lr = resize_axis(torch.from_numpy(blurred), 0, gt.shape[0] // factor, 1.0 / factor).numpy()
    lr = np.clip(np.rint(lr), 0, 65535).astype(np.uint16)
    bic = resize_axis(torch.from_numpy(lr.astype(np.float64)), 0, gt.shape[0], float(factor)).numpy()
    t0 = time.perf_counter()
    sr = (
        isotropic(lr, axes="ZYX", factor=factor, steps=steps, blur_sigma=axial_blur)
        .compute()
        .astype(np.float64)
    )
    dt = time.perf_counter() - t0
    lo, hi = robust_range(gt)
    cut = slice(2 * factor, -2 * factor)
    p_bic = psnr(bic[cut], gt[cut], peak=hi - lo)
    p_sr = psnr(sr[cut], gt[cut], peak=hi - lo)
    print(f"factor {factor}, axial blur {axial_blur}, {steps} steps, {dt:.0f} s (train + apply, 2-core CPU)")
    print(
        f"PSNR vs ground truth: bicubic along Z {p_bic:.2f} dB, isotropic {p_sr:.2f} dB ({p_sr - p_bic:+.2f} dB)"
    )


if __name__ == "__main__":
    main(*(float(a) if "." in a else int(a) for a in sys.argv[1:]))
