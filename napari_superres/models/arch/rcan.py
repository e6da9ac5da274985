"""RCAN (Zhang et al., ECCV 2018): residual in residual with channel attention.

10 residual groups of 20 residual channel-attention blocks (64 maps, reduction 16): 15.4 M
parameters. Each block re-weights its channels by a squeeze-and-excitation attention computed
from a *global* average pool, so a tile sees different statistics than the whole image: tiling is
not exact (marked so); the engine reads each tile with a generous halo, which keeps the
difference small (measured in docs/models.md). ``lite``: 3 groups x 4 blocks, 32 maps.
"""

from __future__ import annotations

from torch import nn

from ..blocks import ResBlock, SubPixelResNet, conv, indices, upsampler_scale


class Group(nn.Module):
    def __init__(self, features: int, blocks: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(
            *[ResBlock(features, attention="ca", reduction=reduction) for _ in range(blocks)],
            conv(features, features, 3),
        )

    def forward(self, x):
        return x + self.body(x)


class RCAN(SubPixelResNet):
    def __init__(
        self,
        scale: int = 2,
        in_channels: int = 1,
        groups: int = 10,
        blocks: int = 20,
        features: int = 64,
        reduction: int = 16,
        skip: bool = False,
    ):
        super().__init__(
            scale, in_channels, features, [Group(features, blocks, reduction) for _ in range(groups)], skip
        )


TILING_HALO = 48  # input pixels read around each tile: the convolutions' reach is far larger, and the
# attention's is the whole image, so no halo is exact; this one keeps the measured difference small


def halo(config: dict, scale: int = 2) -> int:
    return TILING_HALO


def detect(shapes: dict, scale: int) -> list[tuple[int, dict]]:
    """Groups ``body.#`` of blocks ``body.#.body.#`` with channel attention (its 1x1 squeeze gives the
    reduction); the upsampler gives the scale. The bicubic skip is not in the tensors."""
    if "head.weight" not in shapes or "body.0.body.0.body.0.weight" not in shapes:
        return []
    f, c = shapes["head.weight"][:2]
    groups = indices(shapes, "body.#.body.0.body.0.weight")
    blocks = indices(shapes, "body.0.body.#.body.0.weight")
    squeeze = shapes.get("body.0.body.0.body.3.body.1.weight")
    s = upsampler_scale(shapes, "tail.0", f)
    if not squeeze or s is None:
        return []
    cfg = {"in_channels": c, "groups": len(groups), "blocks": len(blocks), "features": f}
    return [(s, {**cfg, "reduction": f // squeeze[0]})]


ARCH = {
    "name": "rcan",
    "build": RCAN,
    "halo": halo,
    "detect": detect,
    "scales": (2, 3, 4),
    "exact_tiling": False,
    "size_multiple": 1,
    "paper": "Zhang et al., Image Super-Resolution Using Very Deep Residual Channel Attention Networks, ECCV 2018",
    "paper_url": "https://arxiv.org/abs/1807.02758",
}
