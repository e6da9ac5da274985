"""Score a training checkpoint with the bench protocol, while training goes on.

python scripts/eval_checkpoint.py .runs/edsr-lite_x2.safetensors.ckpt edsr-lite 2 [../shared/data/sr/Set5]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from napari_superres.evaluation import _hr_images, evaluate_image
from napari_superres.models import NAMED, build, read_metadata


def main(ckpt: str, name: str, scale: str, folder: str = "../shared/data/sr/Set5") -> None:
    s = int(scale)
    entry = NAMED[name]
    model = build(entry["arch"], s, entry["config"], name=name)
    state = {k[6:]: v for k, v in load_file(ckpt).items() if k.startswith("model.")}
    model.module.load_state_dict(state, strict=True)
    model.module.eval()
    vals = np.array([evaluate_image(model, img) for _, img in _hr_images(Path(folder))])
    step = read_metadata(ckpt).get("step")
    print(
        f"{name} x{s} step {step}: {Path(folder).name} PSNR {vals[:, 0].mean():.2f} dB, SSIM {vals[:, 1].mean():.4f}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
