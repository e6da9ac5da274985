"""FSRCNN (Dong et al., ECCV 2016): SRCNN accelerated, working at low resolution.

Feature extraction (5x5, d maps), shrinking (1x1 to s maps), m mapping layers (3x3), expanding
(1x1 back to d), and a 9x9 transposed convolution with stride ``scale`` that enlarges. Published
configuration d=56, s=12, m=4: 12.46 K weights (the paper's count, biases aside).
``residual=True`` adds the bicubic enlargement of the input to the output (no parameters), so training
starts from bicubic quality (plain: Set5 x2 33.41 dB, below bicubic, after 3 000 steps here).
"""

from __future__ import annotations

from torch import nn

from ..blocks import BicubicUpsample, conv


class FSRCNN(nn.Module):
    def __init__(
        self,
        scale: int = 2,
        in_channels: int = 1,
        d: int = 56,
        s: int = 12,
        m: int = 4,
        residual: bool = False,
    ):
        super().__init__()
        self.skip = BicubicUpsample(scale) if residual else None
        layers = [conv(in_channels, d, 5), nn.PReLU(), conv(d, s, 1), nn.PReLU()]
        for _ in range(m):
            layers += [conv(s, s, 3), nn.PReLU()]
        layers += [conv(s, d, 1), nn.PReLU()]
        self.body = nn.Sequential(*layers)
        pad = -(-(9 - scale) // 2)
        self.deconv = nn.ConvTranspose2d(
            d, in_channels, 9, stride=scale, padding=pad, output_padding=2 * pad - (9 - scale)
        )

    def forward(self, x):
        y = self.deconv(self.body(x))
        return y + self.skip(x) if self.skip is not None else y


def halo(config: dict, scale: int = 2) -> int:
    return (
        2 + int(config.get("m", 4)) + -(-4 // scale) + 1
    )  # 5x5, m 3x3, the 9x9 deconvolution (>= bicubic's 2)


def detect(shapes: dict, scale: int) -> list[tuple[int, dict]]:
    """5x5 extraction, 1x1 shrinking, ``m`` 3x3 mappings, a 9x9 transposed convolution ``deconv``; its
    stride (the scale) is not in the tensors: ``scale`` is taken."""
    if "deconv.weight" not in shapes or "body.0.weight" not in shapes:
        return []
    w0, w2 = shapes["body.0.weight"], shapes.get("body.2.weight", ())
    m = sum(1 for k, v in shapes.items() if k.startswith("body.") and len(v) == 4 and v[2] == 3)
    if len(w2) != 4:
        return []
    return [(scale, {"in_channels": w0[1], "d": w0[0], "s": w2[0], "m": m})]


ARCH = {
    "name": "fsrcnn",
    "build": FSRCNN,
    "halo": halo,
    "detect": detect,
    "scales": (2, 3, 4),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Dong et al., Accelerating the Super-Resolution Convolutional Neural Network, ECCV 2016",
    "paper_url": "https://arxiv.org/abs/1608.00367",
}
