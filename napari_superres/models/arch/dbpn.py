"""D-DBPN (Haris et al., CVPR 2018): iterative up- and down-projection with error feedback.

An up-projection unit enlarges features (H0), shrinks them back (L0), and enlarges the error
L0 - L to correct H0; a down-projection unit mirrors it. D-DBPN stacks T up and T-1 down units
with dense connections (each unit sees the concatenated outputs of all earlier units of the other
kind, compressed by a 1x1 convolution) and reconstructs from all the enlarged features: 10.4 M
parameters at x4 (T=7, 64 maps, 8x8 projections with stride 4). ``recursive=True`` makes every up
unit (and every down unit) share one set of weights, as in the recursive DBPN variant.
``lite``: T=3, 32 maps.
"""

from __future__ import annotations

import torch
from torch import nn

from ..blocks import BicubicUpsample, indices

KERNELS = {2: (6, 2, 2), 3: (7, 3, 2), 4: (8, 4, 2), 8: (12, 8, 2)}  # kernel, stride, padding per scale


def _up(ch, k, s, p):
    return nn.Sequential(nn.ConvTranspose2d(ch, ch, k, s, p), nn.PReLU(ch))


def _down(ch, k, s, p):
    return nn.Sequential(nn.Conv2d(ch, ch, k, s, p), nn.PReLU(ch))


class UpProjection(nn.Module):
    def __init__(self, ch, k, s, p):
        super().__init__()
        self.up1, self.down, self.up2 = _up(ch, k, s, p), _down(ch, k, s, p), _up(ch, k, s, p)

    def forward(self, low):
        h0 = self.up1(low)
        return h0 + self.up2(self.down(h0) - low)


class DownProjection(nn.Module):
    def __init__(self, ch, k, s, p):
        super().__init__()
        self.down1, self.up, self.down2 = _down(ch, k, s, p), _up(ch, k, s, p), _down(ch, k, s, p)

    def forward(self, high):
        l0 = self.down1(high)
        return l0 + self.down2(self.up(l0) - high)


class DBPN(nn.Module):
    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 1,
        features: int = 64,
        entry: int = 256,
        stages: int = 7,
        recursive: bool = False,
        skip: bool = False,
    ):
        super().__init__()
        k, s, p = KERNELS[scale]
        self.feat = nn.Sequential(
            nn.Conv2d(in_channels, entry, 3, padding=1),
            nn.PReLU(entry),
            nn.Conv2d(entry, features, 1),
            nn.PReLU(features),
        )
        n_up = 1 if recursive else stages
        n_down = 1 if recursive else stages - 1
        self.ups = nn.ModuleList([UpProjection(features, k, s, p) for _ in range(n_up)])
        self.downs = nn.ModuleList([DownProjection(features, k, s, p) for _ in range(n_down)])
        # dense connections: 1x1 compression of everything seen so far (units 2..T)
        self.up_fuse = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(t * features, features, 1), nn.PReLU(features))
                for t in range(2, stages + 1)
            ]
        )
        self.down_fuse = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(t * features, features, 1), nn.PReLU(features))
                for t in range(2, stages)
            ]
        )
        self.stages, self.recursive = stages, recursive
        self.out = nn.Conv2d(stages * features, in_channels, 3, padding=1)
        self.skip = (
            BicubicUpsample(scale) if skip else None
        )  # the lite model learns the residual over bicubic

    def forward(self, x):
        low = self.feat(x)
        highs, lows = [], [low]  # unit t sees every earlier output of the other kind
        for t in range(self.stages):
            inp = lows[0] if t == 0 else self.up_fuse[t - 1](torch.cat(lows, 1))
            highs.append(self.ups[0 if self.recursive else t](inp))
            if t < self.stages - 1:
                h = highs[0] if t == 0 else self.down_fuse[t - 1](torch.cat(highs, 1))
                lows.append(self.downs[0 if self.recursive else t](h))
        y = self.out(torch.cat(highs, 1))
        return y + self.skip(x) if self.skip is not None else y


def halo(config: dict, scale: int = 4) -> int:
    k, s, p = KERNELS[scale]
    unit = 3 * (-(-k // s) + 1)  # each projection unit: three k x k stride-s (de)convolutions
    return 1 + (2 * int(config.get("stages", 7)) - 1) * unit + 2


def detect(shapes: dict, scale: int) -> list[tuple[int, dict]]:
    """Entry ``feat``, projection units ``ups.#``/``downs.#`` (their kernel size gives the scale), dense
    fusions ``up_fuse.#`` (the number of stages); one shared unit of each kind is the recursive variant."""
    if "feat.0.weight" not in shapes or "ups.0.up1.0.weight" not in shapes:
        return []
    entry, c = shapes["feat.0.weight"][:2]
    features, k = shapes["feat.2.weight"][0], shapes["ups.0.up1.0.weight"][2]
    s = next((s for s, (kk, _, _) in KERNELS.items() if kk == k), None)
    ups, stages = indices(shapes, "ups.#.up1.0.weight"), len(indices(shapes, "up_fuse.#.0.weight")) + 1
    if s is None:
        return []
    cfg = {"in_channels": c, "features": features, "entry": entry, "stages": stages}
    return [(s, {**cfg, "recursive": True} if len(ups) == 1 and stages > 1 else cfg)]


ARCH = {
    "name": "dbpn",
    "build": DBPN,
    "halo": halo,
    "detect": detect,
    "scales": (2, 3, 4, 8),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Haris et al., Deep Back-Projection Networks for Super-Resolution, CVPR 2018",
    "paper_url": "https://arxiv.org/abs/1803.02735",
}
