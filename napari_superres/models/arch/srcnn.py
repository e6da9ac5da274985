"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016): three convolutions on the bicubic-enlarged image.

9-5-5 with 64 and 32 feature maps (57 K parameters): patch extraction, non-linear mapping,
reconstruction. Zero ("same") padding keeps the size; the network works at the output resolution.
``residual=True`` adds the bicubic image to the output (VDSR's global residual; no parameters): the
plain mapping trained with Adam at 1e-3 was unstable here (validation PSNR fell from 30.5 to 28.7 dB
between steps 500 and 1 000), the residual one starts at bicubic quality. The shipped weights use it.
"""

from __future__ import annotations

from torch import nn

from ..blocks import BicubicUpsample, conv, conv_radius, hr_radius_to_lr, three_convs


class SRCNN(nn.Module):
    def __init__(
        self,
        scale: int = 2,
        in_channels: int = 1,
        features=(64, 32),
        kernels=(9, 5, 5),
        residual: bool = False,
    ):
        super().__init__()
        self.residual = residual
        self.up = BicubicUpsample(scale)
        f1, f2 = features
        self.body = nn.Sequential(
            conv(in_channels, f1, kernels[0]),
            nn.ReLU(inplace=True),
            conv(f1, f2, kernels[1]),
            nn.ReLU(inplace=True),
            conv(f2, in_channels, kernels[2]),
        )

    def forward(self, x):
        up = self.up(x)
        return up + self.body(up) if self.residual else self.body(up)


def halo(config: dict, scale: int = 2) -> int:
    return hr_radius_to_lr(conv_radius(config.get("kernels", (9, 5, 5))), scale)


def detect(shapes: dict, scale: int) -> list[tuple[int, dict]]:
    """Three convolutions back to ``in_channels`` maps; an all-3x3 stack is VDSR's. The scale is not
    in the tensors (the network works on the bicubic-enlarged image): ``scale`` is taken."""
    w = three_convs(shapes)
    if w is None or w[2][0] != w[0][1] or all(v[2] == 3 for v in w):
        return []
    return [(scale, {"in_channels": w[0][1], "features": [w[0][0], w[1][0]], "kernels": [v[2] for v in w]})]


ARCH = {
    "name": "srcnn",
    "build": SRCNN,
    "halo": halo,
    "detect": detect,
    "scales": (2, 3, 4),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Dong et al., Image Super-Resolution Using Deep Convolutional Networks, TPAMI 2016",
    "paper_url": "https://arxiv.org/abs/1501.00092",
}
