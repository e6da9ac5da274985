"""Building blocks shared by the architectures (BasicSR's ``arch_util`` in spirit)."""

from __future__ import annotations

import torch
from torch import nn

from ..degradation import resize


class BicubicUpsample(nn.Module):
    """MATLAB-compatible bicubic enlargement by an integer factor (no parameters).

    Its receptive-field radius is 2 input pixels; borders are mirrored symmetrically, so a tile
    cut at the image border reproduces the whole-image result there.
    """

    radius = 2

    def __init__(self, scale: int):
        super().__init__()
        self.scale = int(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return resize(x, float(self.scale), (h * self.scale, w * self.scale))


def conv(in_ch: int, out_ch: int, kernel: int, dilation: int = 1) -> nn.Conv2d:
    """'Same' 2D convolution with zero padding."""
    return nn.Conv2d(in_ch, out_ch, kernel, padding=dilation * (kernel // 2), dilation=dilation)


def activation(name: str) -> nn.Module:
    """An activation layer by name: relu, prelu or tanh."""
    layers = {"relu": lambda: nn.ReLU(inplace=True), "prelu": nn.PReLU, "tanh": nn.Tanh}
    if name not in layers:
        raise ValueError(f"unknown activation {name!r}; use one of {sorted(layers)}")
    return layers[name]()


def conv_radius(kernels, dilations=None) -> int:
    """Receptive-field radius (input pixels) of a chain of stride-1 convolutions."""
    dilations = dilations or [1] * len(kernels)
    return sum(d * (k // 2) for k, d in zip(kernels, dilations))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
