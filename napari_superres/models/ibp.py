"""Iterative back-projection (Irani & Peleg, 1991): a classical, training-free restorer.

Start from the bicubic enlargement, then repeat: degrade the estimate with the known model
(bicubic downsampling), compare with the input, enlarge the error and add it back. The result
is consistent with the measured image: degrading it reproduces the input closely.
"""

from __future__ import annotations

import torch
from torch import nn

from ..degradation import resize
from .blocks import BicubicUpsample


class IBP(nn.Module):
    def __init__(self, scale: int = 2, in_channels: int = 1, iterations: int = 10, step: float = 1.0):
        super().__init__()
        self.scale = int(scale)
        self.iterations = int(iterations)
        self.step = float(step)
        self.up = BicubicUpsample(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        est = self.up(x)
        for _ in range(self.iterations):
            err = x - resize(est, 1.0 / self.scale, (h, w))
            est = est + self.step * self.up(err)
        return est


def halo(config: dict, scale: int = 2) -> int:
    # each iteration looks 2 LR pixels further through the downsampling and 2 through the enlargement
    return BicubicUpsample.radius + 4 * int(config.get("iterations", 10))


ARCH = {
    "name": "ibp",
    "build": IBP,
    "halo": halo,
    "scales": (2, 3, 4, 5, 6, 7, 8),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Irani & Peleg, Improving resolution by image registration, CVGIP 1991",
}
