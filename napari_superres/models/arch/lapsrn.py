"""LapSRN (Lai et al., CVPR 2017): Laplacian-pyramid, progressive x2 levels.

Each level embeds features (``depth`` 3x3 convolutions with leaky ReLU), enlarges them x2 with a
transposed convolution and predicts a residual; the image branch enlarges the previous level's
image x2 with its own transposed convolution and adds the residual. x2 is one level, x4 two, x8
three; every intermediate level is a valid output. ``lite``: depth 5, 32 maps.
"""

from __future__ import annotations

from torch import nn

from ..blocks import conv, indices


def _bilinear_(up: nn.ConvTranspose2d) -> None:
    """Start a 4x4 stride-2 transposed convolution as bilinear x2 enlargement, per channel (as the paper)."""
    import torch

    k = torch.tensor([0.25, 0.75, 0.75, 0.25])
    with torch.no_grad():
        up.weight.zero_()
        for c in range(min(up.in_channels, up.out_channels)):
            up.weight[c, c] = k[:, None] * k[None, :]
        up.bias.zero_()


class _Level(nn.Module):
    def __init__(self, in_ch: int, features: int, depth: int, first: bool):
        super().__init__()
        layers = [conv(in_ch, features, 3), nn.LeakyReLU(0.2, inplace=True)] if first else []
        for _ in range(depth):
            layers += [conv(features, features, 3), nn.LeakyReLU(0.2, inplace=True)]
        layers += [
            nn.ConvTranspose2d(features, features, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        self.features = nn.Sequential(*layers)
        self.residual = conv(features, in_ch, 3)
        self.image = nn.ConvTranspose2d(in_ch, in_ch, 4, stride=2, padding=1)
        _bilinear_(self.image)

    def forward(self, feat, img):
        feat = self.features(feat)
        return feat, self.image(img) + self.residual(feat)


class LapSRN(nn.Module):
    def __init__(self, scale: int = 2, in_channels: int = 1, features: int = 64, depth: int = 10):
        super().__init__()
        n = scale.bit_length() - 1
        self.levels = nn.ModuleList([_Level(in_channels, features, depth, first=i == 0) for i in range(n)])

    def forward(self, x):
        feat, img = x, x
        for level in self.levels:
            feat, img = level(feat, img)
        return img


def halo(config: dict, scale: int = 2) -> int:
    depth = int(config.get("depth", 10))
    r, f = 0.0, 1
    for i in range(scale.bit_length() - 1):  # each level at twice the resolution of the last
        r += (depth + (1 if i == 0 else 0) + 2) / f + 1
        f *= 2
    return int(r) + 2


def detect(shapes: dict, scale: int) -> list[tuple[int, dict]]:
    """One ``levels.#`` per x2 level (so the scale is 2 ** levels); depth and maps from level 0."""
    levels = indices(shapes, "levels.#.image.weight")
    if not levels:
        return []
    convs = [
        i
        for i in indices(shapes, "levels.0.features.#.weight")
        if shapes[f"levels.0.features.{i}.weight"][2] == 3
    ]
    w0 = shapes["levels.0.features.0.weight"]
    return [(2 ** len(levels), {"in_channels": w0[1], "features": w0[0], "depth": len(convs) - 1})]


ARCH = {
    "name": "lapsrn",
    "build": LapSRN,
    "halo": halo,
    "detect": detect,
    "scales": (2, 4, 8),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Lai et al., Deep Laplacian Pyramid Networks for Fast and Accurate Super-Resolution, CVPR 2017",
    "paper_url": "https://arxiv.org/abs/1704.03915",
}
