"""Score a training checkpoint with the bench protocol, while training goes on.

python scripts/measure/eval_checkpoint.py .runs/edsr-lite_x2.safetensors.ckpt edsr-lite 2 [../shared/data/sr/Set5]
python scripts/measure/eval_checkpoint.py .runs/srcnn_x3.ckpt napari_superres/models/weights/srcnn_x2.safetensors 3

The second argument is a registry name, or a weights file of the same network, whose recorded
configuration is used: options that have no tensors (srcnn's ``residual``) cannot be read from the
checkpoint, and a registry name builds its default configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from napari_superres.bench import evaluate_image, hr_images
from napari_superres.models import NAMED, build, read_metadata
from napari_superres.training import init_model


def main(ckpt: str, name: str, scale: str, folder: str = "../shared/data/sr/Set5") -> None:
    s = int(scale)
    if Path(name).is_file():  # a weights file of the same network: its recorded configuration at scale s
        model, _, _ = init_model(name, s)
    else:  # options without tensors (srcnn's residual=True) do not show in a checkpoint: pass a file then
        entry = NAMED[name]
        model = build(entry["arch"], s, entry["config"], name=name)
    state = {k[6:]: v for k, v in load_file(ckpt).items() if k.startswith("model.")}
    model.module.load_state_dict(state, strict=True)
    model.module.eval()
    vals = np.array([evaluate_image(model, img) for _, img in hr_images(Path(folder))])
    step = read_metadata(ckpt).get("step")
    print(
        f"{model.name or name} x{s} step {step}: {Path(folder).name} PSNR {vals[:, 0].mean():.2f} dB, SSIM {vals[:, 1].mean():.4f}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
