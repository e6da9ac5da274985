"""Building blocks shared by the architectures (BasicSR's ``arch_util`` in spirit)."""

from __future__ import annotations

import torch
from torch import nn

from ..degradation import resize


class BicubicUpsample(nn.Module):
    """MATLAB-compatible bicubic enlargement by an integer factor (no parameters).

    Its receptive-field radius is 2 input pixels; borders are mirrored symmetrically, so a tile
    cut at the image border reproduces the whole-image result there.
    """

    radius = 2

    def __init__(self, scale: int):
        super().__init__()
        self.scale = int(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return resize(x, float(self.scale), (h * self.scale, w * self.scale))


def conv(in_ch: int, out_ch: int, kernel: int, dilation: int = 1) -> nn.Conv2d:
    """'Same' 2D convolution with zero padding."""
    return nn.Conv2d(in_ch, out_ch, kernel, padding=dilation * (kernel // 2), dilation=dilation)


def activation(name: str) -> nn.Module:
    """An activation layer by name: relu, prelu or tanh."""
    layers = {"relu": lambda: nn.ReLU(inplace=True), "prelu": nn.PReLU, "tanh": nn.Tanh}
    if name not in layers:
        raise ValueError(f"unknown activation {name!r}; use one of {sorted(layers)}")
    return layers[name]()


def conv_radius(kernels, dilations=None) -> int:
    """Receptive-field radius (input pixels) of a chain of stride-1 convolutions."""
    dilations = dilations or [1] * len(kernels)
    return sum(d * (k // 2) for k, d in zip(kernels, dilations))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- residual bodies
class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (RCAN): global average pool, 1x1 down, 1x1 up, sigmoid.

    The global pool sees the whole input, so a network using it is not exactly tileable.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        mid = max(1, channels // reduction)
        self.body = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, mid, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return x * self.body(x)


class FrequencyAttention(nn.Module):
    """Frequency-aware attention: a low-frequency branch (dilated convolution, larger receptive field)
    and the high-frequency residual ``x - low``, each re-weighted by its own channel attention."""

    radius = 2  # the dilated 3x3 convolution

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.low = nn.Conv2d(channels, channels, 3, padding=2, dilation=2, groups=channels)
        self.ca_low = ChannelAttention(channels, reduction)
        self.ca_high = ChannelAttention(channels, reduction)

    def forward(self, x):
        low = self.low(x)
        return self.ca_low(low) + self.ca_high(x - low)


class NeighbourhoodAttention(nn.Module):
    """Non-local self-attention kept tractable: each pixel attends to its ``window x window``
    neighbourhood (queries and keys in ``key_dim`` channels). Translation-equivariant with a finite
    reach of ``window // 2``, so unlike image-wide non-local blocks it tiles exactly."""

    def __init__(self, channels: int, window: int = 5, key_dim: int = 8):
        super().__init__()
        self.window, self.key_dim = window, key_dim
        self.qk = nn.Conv2d(channels, 2 * key_dim, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    @property
    def radius(self) -> int:
        return self.window // 2

    def forward(self, x):
        import torch.nn.functional as F

        b, c, h, w = x.shape
        k2 = self.window**2
        q, k = self.qk(x).split(self.key_dim, dim=1)
        keys = F.unfold(k, self.window, padding=self.window // 2).view(b, self.key_dim, k2, h * w)
        vals = F.unfold(self.v(x), self.window, padding=self.window // 2).view(b, c, k2, h * w)
        att = (q.reshape(b, self.key_dim, 1, h * w) * keys).sum(1, keepdim=True) / self.key_dim**0.5
        out = (att.softmax(dim=2) * vals).sum(2).view(b, c, h, w)
        return x + self.out(out)


class ResBlock(nn.Module):
    """conv-act-conv with an identity skip (EDSR: no batch norm), scaled by ``res_scale``;
    optionally dilated, optionally followed by channel or frequency-aware attention."""

    def __init__(
        self,
        channels: int,
        res_scale: float = 1.0,
        dilation: int = 1,
        attention: str | None = None,
        reduction: int = 16,
        act: str = "relu",
    ):
        super().__init__()
        layers = [
            conv(channels, channels, 3, dilation),
            activation(act),
            conv(channels, channels, 3, dilation),
        ]
        if attention == "ca":
            layers.append(ChannelAttention(channels, reduction))
        elif attention == "fa":
            layers.append(FrequencyAttention(channels, reduction))
        elif attention is not None:
            raise ValueError(f"unknown attention {attention!r}; use 'ca', 'fa' or None")
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale
        self.radius = 2 * dilation + (FrequencyAttention.radius if attention == "fa" else 0)

    def forward(self, x):
        return x + self.res_scale * self.body(x)


class Upsampler(nn.Sequential):
    """Sub-pixel enlargement: (conv to 4 C, PixelShuffle(2)) per factor 2, or one conv + shuffle by ``scale``."""

    def __init__(self, scale: int, channels: int):
        layers = []
        if scale & (scale - 1) == 0:  # a power of two
            for _ in range(scale.bit_length() - 1):
                layers += [conv(channels, 4 * channels, 3), nn.PixelShuffle(2)]
        else:
            layers += [conv(channels, scale * scale * channels, 3), nn.PixelShuffle(scale)]
        super().__init__(*layers)

    @staticmethod
    def radius(scale: int) -> int:
        """Reach in input pixels (each later stage works at a higher resolution: rounded up to 1)."""
        return scale.bit_length() - 1 if scale & (scale - 1) == 0 else 1


class SubPixelResNet(nn.Module):
    """head convolution -> ``body`` (with a long skip) -> sub-pixel upsampler and output convolution,
    plus, with ``skip``, the bicubic enlargement of the input (EDSR, RCAN)."""

    def __init__(self, scale: int, in_channels: int, features: int, body: list, skip: bool = False):
        super().__init__()
        self.head = conv(in_channels, features, 3)
        self.body = nn.Sequential(*body, conv(features, features, 3))
        self.tail = nn.Sequential(Upsampler(scale, features), conv(features, in_channels, 3))
        self.skip = BicubicUpsample(scale) if skip else None

    def forward(self, x):
        f = self.head(x)
        y = self.tail(f + self.body(f))
        return y + self.skip(x) if self.skip is not None else y


def hr_radius_to_lr(radius_hr: int, scale: int) -> int:
    """The input-pixel halo of a network that works on the bicubic-enlarged image (SRCNN, VDSR, DRRN)."""
    return -(-radius_hr // scale) + BicubicUpsample.radius


# ----------------------------------------------------------------------------- detection helpers
# Each architecture module's ``detect(shapes, scale)`` reads its configuration from a state dict's
# tensor names and shapes (``shapes``: name -> shape tuple); these are the pieces they share.


def indices(shapes: dict, pattern: str) -> list[int]:
    """The sorted integers ``#`` for which ``pattern`` (a tensor name with one ``#``) names a tensor."""
    import re

    rx = re.compile(re.escape(pattern).replace("\\#", r"(\d+)") + "$")
    return sorted({int(m.group(1)) for k in shapes if (m := rx.match(k))})


def upsampler_scale(shapes: dict, prefix: str, features: int) -> int | None:
    """The factor of an :class:`Upsampler` stored under ``prefix`` (e.g. ``"tail.0"``), from its shapes."""
    outs = [shapes[f"{prefix}.{i}.weight"][0] for i in indices(shapes, f"{prefix}.#.weight")]
    if len(outs) > 1:  # x2 stages
        return 2 ** len(outs) if all(o == 4 * features for o in outs) else None
    return square_factor(outs[0], features) if len(outs) == 1 else None


def square_factor(maps: int, per: int) -> int | None:
    """The ``s > 1`` with ``maps == s * s * per`` (a pixel shuffle's input maps), or None."""
    s = int(round((maps / per) ** 0.5))
    return s if s > 1 and s * s * per == maps else None


def three_convs(shapes: dict):
    """The three convolutions ``body.0``, ``body.2``, ``body.4`` (with biases) and nothing else, or None."""
    if set(shapes) != {f"body.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")}:
        return None
    return [shapes[f"body.{i}.weight"] for i in (0, 2, 4)]
