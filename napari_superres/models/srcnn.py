"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016): three convolutions on the bicubic-enlarged image.

9-5-5 with 64 and 32 feature maps (57 K parameters): patch extraction, non-linear mapping,
reconstruction. Zero ("same") padding keeps the size; the network works at the output resolution.
"""

from __future__ import annotations

from torch import nn

from .blocks import BicubicUpsample, conv, conv_radius, hr_radius_to_lr


class SRCNN(nn.Module):
    def __init__(self, scale: int = 2, in_channels: int = 1, features=(64, 32), kernels=(9, 5, 5)):
        super().__init__()
        self.up = BicubicUpsample(scale)
        f1, f2 = features
        self.body = nn.Sequential(
            conv(in_channels, f1, kernels[0]),
            nn.ReLU(inplace=True),
            conv(f1, f2, kernels[1]),
            nn.ReLU(inplace=True),
            conv(f2, in_channels, kernels[2]),
        )

    def forward(self, x):
        return self.body(self.up(x))


def halo(config: dict, scale: int = 2) -> int:
    return hr_radius_to_lr(conv_radius(config.get("kernels", (9, 5, 5))), scale)


ARCH = {
    "name": "srcnn",
    "build": SRCNN,
    "halo": halo,
    "scales": (2, 3, 4),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Dong et al., Image Super-Resolution Using Deep Convolutional Networks, TPAMI 2016",
}
