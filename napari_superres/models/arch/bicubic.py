"""Bicubic interpolation (MATLAB ``imresize``), the baseline every method is measured against."""

from __future__ import annotations

from torch import nn

from ..blocks import BicubicUpsample


class Bicubic(nn.Module):
    def __init__(self, scale: int = 2, in_channels: int = 1):
        super().__init__()
        self.up = BicubicUpsample(scale)

    def forward(self, x):
        return self.up(x)


ARCH = {
    "name": "bicubic",
    "build": Bicubic,
    "halo": lambda config, scale=2: BicubicUpsample.radius,
    "scales": (2, 3, 4, 5, 6, 7, 8),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Keys, Cubic convolution interpolation for digital image processing, 1981",
}
