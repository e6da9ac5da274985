"""EDSR (Lim et al., CVPRW 2017): a deep residual body without batch norm, sub-pixel upsampling.

Published configurations: ``baseline`` (16 blocks x 64 channels, 1.37 M parameters at x2) and the
full EDSR (32 x 256, residual scaling 0.1, 40.7 M). ``lite`` (16 x 32, with a bicubic global skip)
trains on a CPU. Options from the same theory, usable inside the residual body: channel
(``attention="ca"``) or frequency-aware (``"fa"``) attention in every block, dilated convolutions
with increasing rates (``dilations=(1, 2, 4)``, cycled over the blocks; rates sharing a factor leave
a gridding pattern, so mix in rate 1), and a neighbourhood self-attention block every
``nonlocal_every`` blocks.
"""

from __future__ import annotations

from ..blocks import NeighbourhoodAttention, ResBlock, SubPixelResNet, Upsampler, indices, upsampler_scale


class EDSR(SubPixelResNet):
    def __init__(
        self,
        scale: int = 2,
        in_channels: int = 1,
        blocks: int = 16,
        features: int = 64,
        res_scale: float = 1.0,
        skip: bool = False,
        attention: str | None = None,
        dilations: tuple = (1,),
        nonlocal_every: int = 0,
        window: int = 5,
    ):
        body = []
        for i in range(blocks):
            body.append(
                ResBlock(features, res_scale, dilation=dilations[i % len(dilations)], attention=attention)
            )
            if nonlocal_every and (i + 1) % nonlocal_every == 0:
                body.append(NeighbourhoodAttention(features, window))
        super().__init__(scale, in_channels, features, body, skip)


def halo(config: dict, scale: int = 2) -> int:
    blocks = int(config.get("blocks", 16))
    dil = tuple(config.get("dilations", (1,)))
    r = 1 + sum(2 * dil[i % len(dil)] for i in range(blocks)) + 1  # head, blocks, body end
    if config.get("attention") == "fa":
        r += 2 * blocks
    every = int(config.get("nonlocal_every", 0))
    if every:
        r += (blocks // every) * (int(config.get("window", 5)) // 2)
    return r + Upsampler.radius(scale) + 1  # upsampler, tail conv


def detect(shapes: dict, scale: int) -> list[tuple[int, dict]]:
    """``head``, residual blocks ``body.#.body``, ``tail`` (the upsampler gives the scale). Channel or
    frequency-aware attention add tensors to each block (tried in turn); self-attention blocks sit
    between blocks. Residual scaling, the bicubic skip, dilation rates and the attention window leave
    no trace in the tensors (a named configuration or ``load_model(..., config=)`` supplies them)."""
    if "head.weight" not in shapes or "body.0.body.0.body.0.weight" in shapes:  # the latter is RCAN's
        return []
    f, c = shapes["head.weight"][:2]
    blocks = indices(shapes, "body.#.body.0.weight")
    s = upsampler_scale(shapes, "tail.0", f)
    if not blocks or s is None:
        return []
    attn = indices(shapes, "body.#.qk.weight")  # self-attention after every n-th block: first at index n
    base = {"in_channels": c, "blocks": len(blocks), "features": f, "nonlocal_every": attn[0] if attn else 0}
    return [(s, {**base, "attention": a}) for a in (None, "ca", "fa")]


ARCH = {
    "name": "edsr",
    "build": EDSR,
    "halo": halo,
    "detect": detect,
    "scales": (2, 3, 4),
    "exact_tiling": lambda config: config.get("attention") is None,
    "size_multiple": 1,
    "paper": "Lim et al., Enhanced Deep Residual Networks for Single Image Super-Resolution, CVPRW 2017",
    "paper_url": "https://arxiv.org/abs/1707.02921",
}
