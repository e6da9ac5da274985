"""ESPCN: efficient sub-pixel convolution (Shi et al., CVPR 2016).

All convolutions run at low resolution; the last one predicts ``scale**2`` channels per output
channel, rearranged into the larger image by a pixel shuffle. With ``residual=True`` (our
shipped weights) the network predicts the difference from a bicubic enlargement of its input
(global residual learning, as in VDSR), which trains faster and better on small data.
"""

from __future__ import annotations

import torch
from torch import nn

from ..blocks import BicubicUpsample, activation, conv, conv_radius, square_factor, three_convs


class ESPCN(nn.Module):
    def __init__(
        self,
        scale: int = 2,
        in_channels: int = 1,
        features: tuple[int, int] = (64, 32),
        kernels: tuple[int, int, int] = (5, 3, 3),
        act: str = "relu",
        residual: bool = True,
    ):
        super().__init__()
        self.scale = scale
        f1, f2 = features
        self.body = nn.Sequential(
            conv(in_channels, f1, kernels[0]),
            activation(act),
            conv(f1, f2, kernels[1]),
            activation(act),
            conv(f2, in_channels * scale**2, kernels[2]),
        )
        self.shuffle = nn.PixelShuffle(scale)
        self.skip = BicubicUpsample(scale) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.shuffle(self.body(x))
        if self.skip is not None:
            y = y + self.skip(x)
        return y


def halo(config: dict, scale: int = 2) -> int:
    """Receptive-field radius in input pixels."""
    r = conv_radius(config.get("kernels", (5, 3, 3)))
    if config.get("residual", True):
        r = max(r, BicubicUpsample.radius)
    return r


def detect(shapes: dict, scale: int) -> list[tuple[int, dict]]:
    """Three convolutions whose last gives ``in_channels * scale**2`` maps (the pixel shuffle's input)."""
    w = three_convs(shapes)
    if w is None:
        return []
    c = w[0][1]
    s = square_factor(w[2][0], c)
    if s is None:
        return []
    return [(s, {"in_channels": c, "features": [w[0][0], w[1][0]], "kernels": [v[2] for v in w]})]


ARCH = {
    "name": "espcn",
    "build": ESPCN,
    "halo": halo,
    "detect": detect,
    "scales": (2, 3, 4),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Shi et al., Real-Time Single Image and Video Super-Resolution Using an Efficient "
    "Sub-Pixel Convolutional Neural Network, CVPR 2016",
    "paper_url": "https://arxiv.org/abs/1609.05158",
}
