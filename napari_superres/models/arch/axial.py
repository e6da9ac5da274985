"""Axial enlargement: a network that enlarges rows only (one axis), for anisotropic volumes.

Rows are enlarged by 1-D MATLAB-style bicubic interpolation, and a small CNN adds the residual
(VDSR-style global residual). With ``shuffle`` (what :mod:`napari_superres.isotropic` trains) the
CNN works on the coarse rows and its last layer gives ``scale`` output rows per input row (ESPCN's
sub-pixel convolution along one axis): ``scale`` times less work than correcting at full
resolution, where the first version (``shuffle=False``, still loadable) ran. Used on XZ and YZ
planes, where rows run along Z; the engine refuses it for ordinary 2D enlargement.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...degradation import resize_axis
from ..blocks import activation, conv


class AxialSR(nn.Module):
    def __init__(
        self,
        scale: int = 2,
        in_channels: int = 1,
        features: int = 32,
        layers: int = 5,
        act: str = "relu",
        shuffle: bool = False,
    ):
        super().__init__()
        self.scale, self.shuffle = int(scale), bool(shuffle)
        body = [conv(in_channels, features, 3), activation(act)]
        for _ in range(layers - 2):
            body += [conv(features, features, 3), activation(act)]
        body.append(conv(features, in_channels * (self.scale if self.shuffle else 1), 3))
        self.body = nn.Sequential(*body)

    def enlarge_rows(self, x: torch.Tensor) -> torch.Tensor:
        return resize_axis(x, x.ndim - 2, x.shape[-2] * self.scale, float(self.scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.enlarge_rows(x)
        if not self.shuffle:
            return up + self.body(up)
        r = self.body(x)  # (N, C * scale, H, W): the scale sub-rows of each row, channel-major
        n, cs, h, w = r.shape
        r = r.view(n, cs // self.scale, self.scale, h, w).permute(0, 1, 3, 2, 4)
        return up + r.reshape(n, cs // self.scale, h * self.scale, w)


# what napari_superres.isotropic trains: sub-pixel rows (several times faster than correcting at full
# resolution, and better on the real stack: docs/microscopy.md)
TRAIN_CONFIG = {"shuffle": True, "features": 32, "layers": 5}


def halo(config: dict, scale: int = 2) -> int:
    """Receptive-field radius in input pixels along the columns (the rows need ceil(layers/scale) + 2 more)."""
    return int(config.get("layers", 5))


def row_halo(config: dict, scale: int) -> int:
    """Input rows of reach along the enlarged axis (the bicubic needs 2)."""
    layers = int(config.get("layers", 5))
    return (layers if config.get("shuffle") else math.ceil(layers / scale)) + 2


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
