"""Make docs/images/compare_x3.png: bicubic | default model | original, on the bundled sample, x3.

python scripts/figures/compare_figure.py
"""

import numpy as np
from PIL import Image

import napari_superres as nsr
from napari_superres._sample_data import astronaut_rgb
from napari_superres.degradation import imresize

hr = astronaut_rgb()
lr = imresize(hr, 1 / 3)
sr = nsr.upscale(lr, "default", 3).compute()
bic = nsr.upscale(lr, "bicubic", 3).compute()
crop = (slice(60, 200), slice(40, 220))
row = np.concatenate([bic[crop], sr[crop], hr[: sr.shape[0], : sr.shape[1]][crop]], axis=1)
Image.fromarray(row).resize((row.shape[1] * 2, row.shape[0] * 2), Image.NEAREST).save(
    "docs/images/compare_x3.png"
)
