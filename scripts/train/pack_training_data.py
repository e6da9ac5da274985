"""Pack T91 + BSD200 (and Set5 for a sanity check) as 8-bit BT.601 luma PNGs.

Used to carry the training set to a GPU machine in a few tens of MB. The luma is the benchmark
protocol's (16-235), rounded to integers; train on it with ``--channel raw``.

    python scripts/train/pack_training_data.py ../shared/data/sr .data/sr_y
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from napari_superres.io import read_image_file
from napari_superres.metrics import rgb_to_y

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
for group, folders in {"train": ["T91", "BSD200"], "Set5": ["Set5"]}.items():
    out = dst / group
    out.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        for f in sorted((src / folder).iterdir()):
            y = np.clip(np.rint(rgb_to_y(read_image_file(f))), 0, 255).astype(np.uint8)
            Image.fromarray(y).save(out / f"{folder}_{f.stem}.png", optimize=True)
    print(group, len(list(out.iterdir())))
