"""Wrappers that change what a loaded model computes while keeping its descriptor right.

**Self-ensemble** (``NAME+x8``): the mean of a model's outputs over the 8 flips and 90-degree turns.

The degradation (blur, bicubic downsampling, noise) looks the same in every orientation, so each
``T^-1(net(T(x)))`` is as good an estimate as ``net(x)``; their mean has less of each one's error
(the "+" results of EDSR, Lim et al. 2017). Eight network passes per tile: 8x the time, the same
memory. Each transformed network is still translation-equivariant with the same reach, so the halo
is unchanged and an exactly tileable model stays exactly tileable.

>>> from napari_superres.models import load_model
>>> m = load_model("espcn+x8", 2)
>>> m.name, m.halo == load_model("espcn", 2).halo
('espcn+x8', True)

**Blend**: a weighted mean of networks of one scale (``degradation="auto"`` weighs the models of the
sensor degradations it cannot tell apart). Each network is translation-equivariant, so the mean is
too: its halo is the largest of theirs and it tiles exactly when they all do.

**Back-projection** (``NAME+bpN``, ``consistency=``): consistency with the measured data after any network.

The network's output ``y`` is corrected so that degrading it with the known model (the image's
degradation: MATLAB-style bicubic by default, or binning, a Gaussian PSF then binning, a measured
PSF) reproduces the input ``x``, by iterative back-projection (Irani & Peleg):
``y <- y + up(x - down(y))``, a few times. Each iteration reaches the degradation's reach plus 2
input pixels further (4 for bicubic), so the wrapped model's halo grows by that much and tiling
stays exact.

>>> from napari_superres.models import load_model
>>> from napari_superres.models.wrappers import with_consistency
>>> m = with_consistency(load_model("bicubic", 2), iterations=3)
>>> m.name, m.halo
('bicubic+bp3', 16)
"""

from __future__ import annotations

import dataclasses
import json
import math

import torch
from torch import nn

from ..degradation import BICUBIC, Degradation, DegradationError, parse_degradation
from ..errors import SuperResError, opt
from .blocks import BicubicUpsample
from .spec import BLEND_PREFIX, DEFAULT_ITERATIONS
from .spec import ENSEMBLE_SUFFIX as SUFFIX


class SelfEnsemble(nn.Module):
    """``net`` applied to the 8 dihedral transforms of the input, each undone, averaged."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = None
        for turns in range(4):
            for flip in (False, True):
                t = torch.rot90(x, turns, (-2, -1))
                t = torch.flip(t, (-1,)) if flip else t
                y = self.net(t)
                y = torch.flip(y, (-1,)) if flip else y
                y = torch.rot90(y, -turns, (-2, -1))
                acc = y if acc is None else acc + y
        return acc / 8


def with_self_ensemble(model):
    """A copy of the :class:`~napari_superres.models.SRModel` ``model`` averaged over 8 orientations."""
    if model.axial:
        raise SuperResError(
            f"model {model.name!r} enlarges along one axis only; self-ensemble turns the image, so it cannot apply"
        )
    if isinstance(model.module, SelfEnsemble):
        return model
    if model.config.get("consistency_iterations"):
        raise SuperResError(
            f"{model.name!r} already back-projects; self-ensemble goes first: write NAME{SUFFIX}+bpN"
        )
    return dataclasses.replace(
        model,
        name=f"{model.name}{SUFFIX}",
        module=SelfEnsemble(model.module).eval(),
        origin=f"{model.origin}{SUFFIX}" if model.origin is not None else None,
    )


# ----------------------------------------------------------------------------- blend


class Blend(nn.Module):
    """``sum(w * net(x))`` over networks of one scale, with fixed weights."""

    def __init__(self, nets, weights):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.weights = [float(w) for w in weights]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = None
        for w, net in zip(self.weights, self.nets):
            y = w * net(x)
            out = y if out is None else out + y
        return out


def blend_from_origin(origin: str, scale: int, load):
    """The blend that :func:`blended` gave ``origin``, its parts loaded by ``load(origin, scale, degradation)``."""
    parts = json.loads(origin[len(BLEND_PREFIX) :])
    return blended([load(o, scale, d) for _, o, d in parts], [w for w, _, _ in parts])


def blended(models, weights):
    """One :class:`~napari_superres.models.SRModel` computing the ``weights``-weighted mean of
    ``models`` (same scale and channels; the weights are normalised to sum to 1)."""
    models, weights = list(models), [float(w) for w in weights]
    first = models[0]
    if len(models) != len(weights) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise SuperResError(f"a blend needs one non-negative weight per model, got {weights}")
    if any(m.scale != first.scale or m.in_channels != first.in_channels or m.axial for m in models):
        raise SuperResError("only networks of the same scale and channels can be blended")
    total = sum(weights)
    weights = [w / total for w in weights]
    parts = {m.degradation: round(w, 3) for m, w in zip(models, weights)}
    # where every part reloads from a name or file, so does the blend (a cluster's workers load it
    # once each instead of receiving its weights inside the graph): load_model(origin) rebuilds it
    origin = None
    if all(m.origin is not None for m in models):
        origin = BLEND_PREFIX + json.dumps([[w, m.origin, m.degradation] for m, w in zip(models, weights)])
    return dataclasses.replace(
        first,
        halo=max(m.halo for m in models),
        exact_tiling=all(m.exact_tiling for m in models),
        size_multiple=math.lcm(*(m.size_multiple for m in models)),
        min_size=max(m.min_size for m in models),
        module=Blend([m.module for m in models], weights).eval(),
        config={**first.config, "blend": parts},
        origin=origin,
        degradation=max(parts, key=parts.get),
    )


# ----------------------------------------------------------------------------- back-projection


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
    iterations = int(iterations)
    if iterations < 1:
        return model
    try:
        deg = parse_degradation(degradation if degradation is not None else model.degradation)
    except DegradationError:  # weights trained for a family of PSF widths: which one is the image's?
        raise SuperResError(
            f"{model.name} was trained for {model.degradation}; back-projection needs the image's own "
            f"degradation, e.g. {opt('degradation', 'gaussian:1.0')}"
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
