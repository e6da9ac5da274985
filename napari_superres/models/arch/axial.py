"""Axial enlargement: a network that enlarges rows only (one axis), for anisotropic volumes.

Rows are enlarged by 1-D MATLAB-style bicubic interpolation, then a small residual CNN corrects
the result at full resolution (VDSR-style global residual). Used by :mod:`napari_superres.isotropic`
on XZ and YZ planes, where rows run along Z; the engine refuses it for ordinary 2D enlargement.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...degradation import resize_axis
from ..blocks import activation, conv


class AxialSR(nn.Module):
    def __init__(
        self, scale: int = 2, in_channels: int = 1, features: int = 32, layers: int = 5, act: str = "relu"
    ):
        super().__init__()
        self.scale = int(scale)
        body = [conv(in_channels, features, 3), activation(act)]
        for _ in range(layers - 2):
            body += [conv(features, features, 3), activation(act)]
        body.append(conv(features, in_channels, 3))
        self.body = nn.Sequential(*body)

    def enlarge_rows(self, x: torch.Tensor) -> torch.Tensor:
        return resize_axis(x, x.ndim - 2, x.shape[-2] * self.scale, float(self.scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.enlarge_rows(x)
        return up + self.body(up)


def halo(config: dict, scale: int = 2) -> int:
    """Receptive-field radius in input pixels along the columns (the rows need ceil(layers/scale) + 2 more)."""
    return int(config.get("layers", 5))


def row_halo(config: dict, scale: int) -> int:
    return math.ceil(int(config.get("layers", 5)) / scale) + 2


ARCH = {
    "name": "axial",
    "build": AxialSR,
    "halo": halo,
    "scales": (2, 3, 4, 5, 6, 7, 8),
    "exact_tiling": True,
    "size_multiple": 1,
    "axial": True,
    "paper": "bicubic + residual CNN along one axis (cf. Weigert et al., Isotropic reconstruction, 2017)",
}
