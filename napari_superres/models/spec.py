"""What a model is: the :class:`SRModel` descriptor, the architectures and the named configurations.

Every loaded model carries a descriptor (spandrel-style) with what the pipeline needs: scale,
channels, receptive-field radius (``halo``), size multiple, whether tiling is exact, and the
provenance of its weights. Each architecture is one file in ``models/arch/`` declaring an ``ARCH``
spec (``build``, ``scales``, ``halo``, ``exact_tiling``, ``size_multiple``, optional ``detect``);
the list of architectures is the list of those files.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import SuperResError

ENSEMBLE_SUFFIX = "+x8"  # NAME+x8: self-ensemble (models/wrappers.py), parsed without importing torch
BLEND_PREFIX = "blend:"  # the origin of a blend: this, then JSON [[weight, part origin, degradation], ...]
DEFAULT_ITERATIONS = 5  # back-projection steps of consistency=True (models/wrappers.py)
MAX_ITERATIONS = 50  # beyond this back-projection has long converged; more only costs time
ARCH_PACKAGE = Path(__file__).parent / "arch"


@cache
def architectures() -> tuple[str, ...]:
    """The architectures we implement: one module each in ``models/arch/``."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules([str(ARCH_PACKAGE)])))


def architecture(name: str) -> dict:
    """The ``ARCH`` spec of an architecture (imports its module, and so torch)."""
    if name not in architectures():
        raise SuperResError(f"unknown architecture {name!r}; known: {', '.join(architectures())}")
    return importlib.import_module(f"{__package__}.arch.{name}").ARCH


# Named models a user can pick: architecture, configuration, and whether weights are needed.
NAMED: dict[str, dict[str, Any]] = {
    "bicubic": {"arch": "bicubic", "config": {}, "trained": False},
    "ibp": {"arch": "ibp", "config": {"iterations": 10}, "trained": False},
    "espcn": {"arch": "espcn", "config": {}, "trained": True},
    # the deep-CNN family: published configurations and "lite" ones that train on a CPU
    "srcnn": {"arch": "srcnn", "config": {}, "trained": True},
    "fsrcnn": {"arch": "fsrcnn", "config": {}, "trained": True},
    "vdsr": {"arch": "vdsr", "config": {}, "trained": True},
    "vdsr-lite": {"arch": "vdsr", "config": {"layers": 10, "features": 32}, "trained": True},
    "drrn": {"arch": "drrn", "config": {}, "trained": True},
    "drrn-lite": {"arch": "drrn", "config": {"units": 9, "features": 32}, "trained": True},
    "lapsrn": {"arch": "lapsrn", "config": {}, "trained": True},
    "lapsrn-lite": {"arch": "lapsrn", "config": {"depth": 5, "features": 32}, "trained": True},
    "edsr-baseline": {"arch": "edsr", "config": {"blocks": 16, "features": 64}, "trained": True},
    "edsr": {"arch": "edsr", "config": {"blocks": 32, "features": 256, "res_scale": 0.1}, "trained": True},
    "edsr-lite": {"arch": "edsr", "config": {"blocks": 16, "features": 32, "skip": True}, "trained": True},
    "rdn": {"arch": "rdn", "config": {}, "trained": True},
    "rdn-lite": {"arch": "rdn", "config": {"d": 4, "c": 4, "g": 16, "g0": 32, "skip": True}, "trained": True},
    "rcan": {"arch": "rcan", "config": {}, "trained": True},
    "rcan-lite": {
        "arch": "rcan",
        "config": {"groups": 3, "blocks": 4, "features": 32, "skip": True},
        "trained": True,
    },
    "dbpn": {"arch": "dbpn", "config": {}, "trained": True},
    "dbpn-recursive": {"arch": "dbpn", "config": {"recursive": True}, "trained": True},
    "dbpn-lite": {
        "arch": "dbpn",
        "config": {"stages": 3, "features": 32, "entry": 64, "skip": True},
        "trained": True,
    },
}
DEFAULT = "espcn"


_FORMAT_LOCK = threading.Lock()


@dataclass
class SRModel:
    """A ready-to-run model and its descriptor.

    Call it on a float tensor ``(N, C, H, W)`` scaled to [0, 1] to get ``(N, C, H*s, W*s)``.
    """

    name: str
    arch: str
    scale: int
    in_channels: int
    halo: int
    exact_tiling: bool
    size_multiple: int
    module: Any
    config: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    min_size: int = 3
    axial: bool = False  # enlarges rows only (isotropic mode), not Y and X
    origin: str | None = None  # the registry name or weights file it was loaded from (None: built in memory)
    degradation: str = "bicubic"  # the degradation the weights were trained for (or the one given)
    _channels_last: bool = field(default=False, repr=False, compare=False)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    @property
    def token(self) -> str:
        """A hash of architecture, configuration and weights: the same model gives the same token."""
        h = hashlib.sha256(json.dumps([self.arch, self.scale, self.config], sort_keys=True).encode())
        for k, v in sorted(self.module.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def to(self, device) -> SRModel:
        import torch

        dev = torch.device(device)
        if dev.type == "cuda":
            # TF32 convolutions (cuDNN's default on Ampere and later) differ by ~1e-3 between tile sizes,
            # which breaks "tiled == whole"; full fp32 keeps tiles exact.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        self.module.to(dev)
        return self

    def __call__(self, x):
        import torch

        with torch.inference_mode():
            if x.device.type == "cpu" and x.ndim == 4:
                # channels-last convolutions run ~1.4x faster on CPUs (scripts/measure/cpu_options.py,
                # docs/benchmarks.md); the same values, another memory layout
                if not self._channels_last:
                    with _FORMAT_LOCK:
                        self.module.to(memory_format=torch.channels_last)
                        self._channels_last = True
                x = x.contiguous(memory_format=torch.channels_last)
            return self.module(x)

    def __repr__(self) -> str:
        return (
            f"SRModel({self.name!r}, arch={self.arch!r}, scale={self.scale}, halo={self.halo}, "
            f"exact_tiling={self.exact_tiling}, parameters={self.parameters})"
        )


def build(arch: str, scale: int, config: dict | None = None, name: str | None = None) -> SRModel:
    """A freshly initialised model of architecture ``arch``."""
    spec = architecture(arch)
    config = dict(config or {})
    in_channels = int(config.pop("in_channels", 1))
    if scale not in spec["scales"]:
        raise SuperResError(
            f"{arch} has no x{scale} variant; available scales: {', '.join(map(str, spec['scales']))}"
        )
    module = spec["build"](scale=scale, in_channels=in_channels, **config)
    module.eval()
    return SRModel(
        name=name or arch,
        arch=arch,
        scale=scale,
        in_channels=in_channels,
        halo=int(spec["halo"](config, scale)),
        exact_tiling=bool(
            spec["exact_tiling"](config) if callable(spec["exact_tiling"]) else spec["exact_tiling"]
        ),
        size_multiple=int(spec["size_multiple"]),
        module=module,
        config=config,
        axial=bool(spec.get("axial", False)),
    )
