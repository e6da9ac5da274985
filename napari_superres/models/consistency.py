"""Consistency with the measured data: back-projection after any network.

The network's output ``y`` is corrected so that degrading it with the known model (the image's
degradation: MATLAB-style bicubic by default, or binning, a Gaussian PSF then binning, a measured
PSF) reproduces the input ``x``, by iterative back-projection (Irani & Peleg):
``y <- y + up(x - down(y))``, a few times. Each iteration reaches the degradation's reach plus 2
input pixels further (4 for bicubic), so the wrapped model's halo grows by that much and tiling
stays exact.

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

from ..degradation import BICUBIC, Degradation
from .blocks import BicubicUpsample

DEFAULT_ITERATIONS = 5


class BackProjected(nn.Module):
    """``net`` followed by ``iterations`` steps of iterative back-projection onto the input."""

    def __init__(
        self,
        net: nn.Module,
        scale: int,
        iterations: int = DEFAULT_ITERATIONS,
        degradation: Degradation = BICUBIC,
        step: float = 1.0,
        start: bool = False,
    ):
        super().__init__()
        self.net = net
        self.scale = int(scale)
        self.iterations = int(iterations)
        self.degradation = degradation
        self.step = float(step)
        self.up = BicubicUpsample(scale)
        self.start = start  # True: start from the bicubic enlargement (no network; classical IBP)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        est = self.up(x) if self.start else self.net(x)
        for _ in range(self.iterations):
            est = est + self.step * self.up(x - self.degradation.downsample(est, self.scale, (h, w)))
        return est


def halo_growth(iterations: int, degradation: Degradation, scale: int) -> int:
    """Input pixels that ``iterations`` back-projection steps under ``degradation`` reach further."""
    return (degradation.reach(scale) + BicubicUpsample.radius) * int(iterations)


def with_consistency(model, iterations: int = DEFAULT_ITERATIONS, degradation: Degradation | None = None):
    """A copy of the :class:`~napari_superres.models.SRModel` ``model`` with back-projection after it.

    ``degradation``: the operator the result must agree with (default: the model's own, bicubic
    for the benchmark-trained weights).
    """
    from ..degradation import DegradationError, parse_degradation
    from ..errors import SuperResError

    iterations = int(iterations)
    if iterations < 1:
        return model
    try:
        deg = parse_degradation(degradation if degradation is not None else model.degradation)
    except DegradationError:  # weights trained for a family of PSF widths: which one is the image's?
        raise SuperResError(
            f"{model.name} was trained for {model.degradation}; back-projection needs the image's own "
            "degradation: pass degradation= (--degradation), e.g. 'gaussian:1.0'"
        ) from None
    config = {**model.config, "consistency_iterations": iterations}
    if deg != BICUBIC:  # recorded only when not the default, so older outputs keep their fingerprint
        config["consistency_degradation"] = (
            str(deg) if deg.kind != "kernel" else [list(r) for r in deg.kernel]
        )
    return dataclasses.replace(
        model,
        name=f"{model.name}+bp{iterations}",
        halo=model.halo + BicubicUpsample.radius + halo_growth(iterations, deg, model.scale),
        module=BackProjected(model.module, model.scale, iterations, deg).eval(),
        config=config,
        origin=model.origin,
    )
