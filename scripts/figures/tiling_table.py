"""Tiled vs whole for every shipped model, with its trained weights (the docs' tiling table).

    python scripts/figures/tiling_table.py [size]

Enlarges the bundled photograph's luma (a size x size crop, [0, 1]) with each shipped model at each of
its scales, once as one whole tensor and once through ``upscale`` with 64- and 128-pixel tiles, and
prints the largest and mean absolute difference. Exactly tileable models should show float32 rounding
only; models with global pooling (channel attention) show what their halo leaves.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import torch

import napari_superres as nsr
from napari_superres._sample_data import astronaut_rgb
from napari_superres.metrics import rgb_to_y
from napari_superres.models import NAMED, load_model, shipped_scales


def main(size: int = 320) -> None:
    warnings.simplefilter("ignore")  # the engine warns when it tiles an inexact model: that is measured here
    rgb = astronaut_rgb()
    img = (rgb_to_y(rgb[:size, :size]) / 255.0).astype(np.float32)
    print(
        f"| model | scale | halo | exact tiling | tiled vs whole, tile 64 / 128 (max abs; mean), {size}x{size} |"
    )
    print("|---|---|---|---|---|")
    torch.set_grad_enabled(False)
    for name, entry in NAMED.items():
        scales = shipped_scales(name) if entry["trained"] else [2, 4]
        for s in scales:
            m = load_model(name, s)
            whole = m(torch.from_numpy(img)[None, None]).numpy()[0, 0]
            cells = []
            for tile in (64, 128):
                tiled = np.asarray(nsr.upscale(img, m, s, tile=tile, normalize="none"))
                d = np.abs(tiled.astype(np.float64) - whole)
                cells.append(f"{d.max():.1e}; {d.mean():.1e}")
            exact = "yes" if m.exact_tiling else "no"
            print(f"| {name} | x{s} | {m.halo} | {exact} | {' / '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
