"""DRRN (Tai et al., CVPR 2017): recursive residual units whose two convolutions share weights.

B1U25: one recursive block of 25 units, 128 maps (297 K parameters, 52 layers deep for the price
of 3). Pre-activation units (ReLU before each convolution; no batch norm) on the bicubic-enlarged
image, each unit adding to the block's input (local residual), plus the global residual.
"""

from __future__ import annotations

from torch import nn

from ..blocks import BicubicUpsample, conv, hr_radius_to_lr, indices


class DRRN(nn.Module):
    def __init__(
        self, scale: int = 2, in_channels: int = 1, blocks: int = 1, units: int = 25, features: int = 128
    ):
        super().__init__()
        self.up = BicubicUpsample(scale)
        self.units = units
        self.entry = nn.ModuleList()
        self.shared = nn.ModuleList()
        for b in range(blocks):
            self.entry.append(conv(in_channels if b == 0 else features, features, 3))
            self.shared.append(nn.ModuleList([conv(features, features, 3), conv(features, features, 3)]))
        self.exit = conv(features, in_channels, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        up = self.up(x)
        h = up
        for entry, (c1, c2) in zip(self.entry, self.shared):
            h = entry(self.act(h) if h is not up else h)
            base = h
            for _ in range(self.units):  # the same two convolutions, again and again
                h = base + c2(self.act(c1(self.act(h))))
        return up + self.exit(self.act(h))


def halo(config: dict, scale: int = 2) -> int:
    blocks, units = int(config.get("blocks", 1)), int(config.get("units", 25))
    return hr_radius_to_lr(blocks * (1 + 2 * units) + 1, scale)


def detect(shapes: dict, scale: int) -> list[tuple[int, dict]]:
    """``entry``/``shared``/``exit`` convolutions. The number of recursions (``units``) shares the weights,
    so it is not in the tensors: the published 25 unless a named configuration matches; ``scale`` is taken."""
    blocks = indices(shapes, "entry.#.weight")
    if not blocks or "exit.weight" not in shapes:
        return []
    c, f = shapes["entry.0.weight"][1], shapes["exit.weight"][1]
    return [(scale, {"in_channels": c, "blocks": len(blocks), "features": f})]


ARCH = {
    "name": "drrn",
    "build": DRRN,
    "halo": halo,
    "detect": detect,
    "scales": (2, 3, 4),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Tai et al., Image Super-Resolution via Deep Recursive Residual Network, CVPR 2017",
    "paper_url": "https://doi.org/10.1109/CVPR.2017.298",
}
