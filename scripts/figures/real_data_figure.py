"""Make docs/images/real_data_nuclei.png: a noisy fluorescence crop (the held-out 3-D nuclei plane),
binned 2x2 as a camera would, enlarged x2 by bicubic / the old default (bicubic-trained espcn) /
espcn trained for binning / auto / espcn adapted to this image (binning, the default budget); the HR
last. Each panel says its PSNR gain and its noise amplification on the flat background (high-pass
std over bicubic's, away from any nucleus: docs/real-data.md).

python scripts/figures/real_data_figure.py [../shared/data/real]
"""

import sys

import numpy as np
import torch
from PIL import Image, ImageDraw

import napari_superres as nsr
from napari_superres.adapt import adapt
from napari_superres.bench import FLAT_MARGIN, noise_ratio, real_score
from napari_superres.degradation import parse_degradation
from napari_superres.realdata import validation_images

root = sys.argv[1] if len(sys.argv) > 1 else None
item, hr = validation_images(root)[0]
hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
lr = parse_degradation("binning").downsample(torch.from_numpy(hr)[None], 2)[0].numpy().astype(np.float32)
bic = np.asarray(nsr.upscale(lr, "bicubic", 2).compute(), np.float64)
panels = [("bicubic", bic)]
for label, deg in [("old default", "bicubic"), ("binning model", "binning"), ("auto (default)", "auto")]:
    panels.append((label, np.asarray(nsr.upscale(lr, "default", 2, degradation=deg).compute(), np.float64)))
adapted = adapt(lr, "default", 2, degradation="binning").model  # it sees only the LR
panels.append(
    ("adapted", np.asarray(nsr.upscale(lr, adapted, 2, degradation="binning").compute(), np.float64))
)
crop = (slice(40, 168), slice(60, 188))
lo, hi = np.percentile(hr, [0.5, 99.5])
tiles = []
for label, img in [*panels, ("HR (ground truth)", hr)]:
    if label.startswith("HR"):
        text = label
    else:
        gain = real_score(img, hr, bic)[1] if label != "bicubic" else 0.0
        text = f"{label}: {gain:+.2f} dB, noise x{noise_ratio(img, bic, hr, margin=FLAT_MARGIN):.2f}"
    t = np.clip((img[crop] - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
    im = Image.fromarray(t).resize((256, 256), Image.NEAREST).convert("RGB")
    canvas = Image.new("RGB", (256, 276), "white")
    canvas.paste(im, (0, 20))
    ImageDraw.Draw(canvas).text((4, 4), text, fill="black")
    tiles.append(canvas)
row = Image.new("RGB", (256 * len(tiles) + 8 * (len(tiles) - 1), 276), "white")
for i, t in enumerate(tiles):
    row.paste(t, (i * 264, 0))
row.save("docs/images/real_data_nuclei.png")
print(f"{item.name}: wrote docs/images/real_data_nuclei.png")
