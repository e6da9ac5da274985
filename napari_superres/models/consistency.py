"""Consistency with the measured data: back-projection after any network.

The network's output ``y`` is corrected so that degrading it with the known model (MATLAB-style
bicubic downsampling) reproduces the input ``x``, by iterative back-projection (Irani & Peleg):
``y <- y + up(x - down(y))``, a few times. Each iteration reaches 4 input pixels further, so the
wrapped model's halo grows by that much and tiling stays exact.

>>> from napari_superres.models import load_model
>>> from napari_superres.models.consistency import with_consistency
>>> m = with_consistency(load_model("bicubic", 2), iterations=3)
>>> m.name, m.halo
('bicubic+bp3', 14)
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..degradation import resize
from .blocks import BicubicUpsample

DEFAULT_ITERATIONS = 5


class BackProjected(nn.Module):
    """``net`` followed by ``iterations`` steps of iterative back-projection onto the input."""

    def __init__(self, net: nn.Module, scale: int, iterations: int = DEFAULT_ITERATIONS):
        super().__init__()
        self.net = net
        self.scale = int(scale)
        self.iterations = int(iterations)
        self.up = BicubicUpsample(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        est = self.net(x)
        for _ in range(self.iterations):
            est = est + self.up(x - resize(est, 1.0 / self.scale, (h, w)))
        return est


def with_consistency(model, iterations: int = DEFAULT_ITERATIONS):
    """A copy of the :class:`~napari_superres.models.SRModel` ``model`` with back-projection after it."""
    iterations = int(iterations)
    if iterations < 1:
        return model
    return dataclasses.replace(
        model,
        name=f"{model.name}+bp{iterations}",
        halo=model.halo + BicubicUpsample.radius + 4 * iterations,
        module=BackProjected(model.module, model.scale, iterations).eval(),
        config={**model.config, "consistency_iterations": iterations},
        origin=model.origin,
    )
