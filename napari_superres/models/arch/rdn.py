"""RDN (Zhang et al., CVPR 2018): residual dense blocks.

Each block has C convolutions, each seeing the block's input and every earlier output of the block
(dense connections, growth rate G); a 1x1 convolution fuses them back to G0 maps (local feature
fusion) and the block adds its input (local residual). The outputs of all D blocks are fused by a
1x1 and a 3x3 convolution (global feature fusion) before sub-pixel upsampling. D=16, C=8, G=64:
22.1 M parameters; ``lite``: D=4, C=4, G=16, G0=32.
"""

from __future__ import annotations

import torch
from torch import nn

from ..blocks import BicubicUpsample, Upsampler, conv, indices, upsampler_scale


class RDB(nn.Module):
    def __init__(self, g0: int, g: int, c: int):
        super().__init__()
        self.convs = nn.ModuleList(
            [nn.Sequential(conv(g0 + i * g, g, 3), nn.ReLU(inplace=True)) for i in range(c)]
        )
        self.fuse = nn.Conv2d(g0 + c * g, g0, 1)

    def forward(self, x):
        feats = [x]
        for layer in self.convs:
            feats.append(layer(torch.cat(feats, 1)))
        return x + self.fuse(torch.cat(feats, 1))


class RDN(nn.Module):
    def __init__(
        self,
        scale: int = 2,
        in_channels: int = 1,
        d: int = 16,
        c: int = 8,
        g: int = 64,
        g0: int = 64,
        skip: bool = False,
    ):
        super().__init__()
        self.sfe1, self.sfe2 = conv(in_channels, g0, 3), conv(g0, g0, 3)
        self.blocks = nn.ModuleList([RDB(g0, g, c) for _ in range(d)])
        self.gff = nn.Sequential(nn.Conv2d(d * g0, g0, 1), conv(g0, g0, 3))
        self.tail = nn.Sequential(Upsampler(scale, g0), conv(g0, in_channels, 3))
        self.skip = BicubicUpsample(scale) if skip else None

    def forward(self, x):
        f1 = self.sfe1(x)
        h = self.sfe2(f1)
        outs = []
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        y = self.tail(f1 + self.gff(torch.cat(outs, 1)))
        return y + self.skip(x) if self.skip is not None else y


def halo(config: dict, scale: int = 2) -> int:
    return 2 + int(config.get("d", 16)) * int(config.get("c", 8)) + 1 + Upsampler.radius(scale) + 1


def detect(shapes: dict, scale: int) -> list[tuple[int, dict]]:
    """``sfe1``/``sfe2``, residual dense blocks ``blocks.#`` (their convolutions give C and the growth
    rate G), global fusion, the upsampler (the scale). The bicubic skip is not in the tensors."""
    if "sfe1.weight" not in shapes:
        return []
    g0, c = shapes["sfe1.weight"][:2]
    d = indices(shapes, "blocks.#.fuse.weight")
    convs = indices(shapes, "blocks.0.convs.#.0.weight")
    s = upsampler_scale(shapes, "tail.0", g0)
    if not d or not convs or s is None:
        return []
    g = shapes["blocks.0.convs.0.0.weight"][0]
    return [(s, {"in_channels": c, "d": len(d), "c": len(convs), "g": g, "g0": g0})]


ARCH = {
    "name": "rdn",
    "build": RDN,
    "halo": halo,
    "detect": detect,
    "scales": (2, 3, 4),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Zhang et al., Residual Dense Network for Image Super-Resolution, CVPR 2018",
    "paper_url": "https://arxiv.org/abs/1802.08797",
}
