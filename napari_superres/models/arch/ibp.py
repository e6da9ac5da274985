"""Iterative back-projection (Irani & Peleg, 1991): a classical, training-free restorer.

Start from the bicubic enlargement, then repeat: degrade the estimate with the known model
(bicubic downsampling by default; binning, a Gaussian PSF or a measured PSF when the image's
degradation is given), compare with the input, enlarge the error and add it back. The result is
consistent with the measured image: degrading it reproduces the input closely. The loop is
:class:`~napari_superres.models.wrappers.BackProjected`'s, started from bicubic.
"""

from __future__ import annotations

from torch import nn

from ...degradation import parse_degradation
from ..blocks import BicubicUpsample
from ..wrappers import BackProjected, halo_growth


def IBP(scale: int = 2, in_channels: int = 1, iterations: int = 10, step: float = 1.0, degradation="bicubic"):
    deg = parse_degradation(degradation)
    return BackProjected(nn.Identity(), scale, iterations, deg, step=step, start=True)


def halo(config: dict, scale: int = 2) -> int:
    # each iteration looks the degradation's reach further through the downsampling and 2 LR pixels
    # through the enlargement (4 in all for bicubic)
    deg = parse_degradation(config.get("degradation", "bicubic"))
    return BicubicUpsample.radius + halo_growth(int(config.get("iterations", 10)), deg, scale)


ARCH = {
    "name": "ibp",
    "build": IBP,
    "halo": halo,
    "scales": (2, 3, 4, 5, 6, 7, 8),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Irani & Peleg, Improving resolution by image registration, CVGIP 1991",
}
