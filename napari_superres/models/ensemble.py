"""Geometric self-ensemble: the mean of a model's outputs over the 8 flips and 90-degree turns.

The degradation (blur, bicubic downsampling, noise) looks the same in every orientation, so each
``T^-1(net(T(x)))`` is as good an estimate as ``net(x)``; their mean has less of each one's error
(the "+" results of EDSR, Lim et al. 2017). Eight network passes per tile: 8x the time, the same
memory. Each transformed network is still translation-equivariant with the same reach, so the halo
is unchanged and an exactly tileable model stays exactly tileable.

>>> from napari_superres.models import load_model
>>> m = load_model("espcn+x8", 2)
>>> m.name, m.halo == load_model("espcn", 2).halo
('espcn+x8', True)
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..errors import SuperResError
from . import ENSEMBLE_SUFFIX as SUFFIX


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
