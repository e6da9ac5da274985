"""VDSR (Kim et al., CVPR 2016): 20 3x3 layers of 64 maps on the bicubic-enlarged image, learning
the residual (global residual learning). 665 K parameters; ``lite``: 10 layers of 32."""

from __future__ import annotations

from torch import nn

from ..blocks import BicubicUpsample, conv, hr_radius_to_lr, indices


class VDSR(nn.Module):
    def __init__(self, scale: int = 2, in_channels: int = 1, layers: int = 20, features: int = 64):
        super().__init__()
        self.up = BicubicUpsample(scale)
        body = [conv(in_channels, features, 3), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            body += [conv(features, features, 3), nn.ReLU(inplace=True)]
        body.append(conv(features, in_channels, 3))
        self.body = nn.Sequential(*body)

    def forward(self, x):
        up = self.up(x)
        return up + self.body(up)


def halo(config: dict, scale: int = 2) -> int:
    return hr_radius_to_lr(int(config.get("layers", 20)), scale)


def detect(shapes: dict, scale: int) -> list[tuple[int, dict]]:
    """A stack of 3x3 convolutions ``body.0, body.2, ...`` back to ``in_channels`` maps; the scale is not in
    the tensors (bicubic-enlarged input): ``scale`` is taken."""
    idx = indices(shapes, "body.#.weight")
    if len(idx) < 3 or idx != list(range(0, 2 * len(idx), 2)) or len(shapes) != 2 * len(idx):
        return []
    w = [shapes[f"body.{i}.weight"] for i in idx]
    if any(len(v) != 4 or v[2] != 3 for v in w) or w[-1][0] != w[0][1]:
        return []
    return [(scale, {"in_channels": w[0][1], "layers": len(w), "features": w[0][0]})]


ARCH = {
    "name": "vdsr",
    "build": VDSR,
    "halo": halo,
    "detect": detect,
    "scales": (2, 3, 4),
    "exact_tiling": True,
    "size_multiple": 1,
    "paper": "Kim et al., Accurate Image Super-Resolution Using Very Deep Convolutional Networks, CVPR 2016",
    "paper_url": "https://arxiv.org/abs/1511.04587",
}
