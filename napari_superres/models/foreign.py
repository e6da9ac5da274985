"""Weights from elsewhere: state-dict files of our architectures, and other networks through spandrel.

A ``.safetensors`` file without napari-superres metadata, or a PyTorch ``.pt`` / ``.pth`` / ``.ckpt``
/ ``.bin`` state dict, is read without unpickling objects (``torch.load(weights_only=True)``: tensors
and plain containers only). Common wrappers (``{"state_dict": ...}``, ``{"params_ema": ...}``, a
``module.`` prefix from DataParallel, our own training checkpoints) are unwrapped. Each architecture
module's ``detect`` then reads its configuration from the tensor names and shapes; a named
configuration whose tensors match exactly supplies the options that leave no trace in the tensors
(activation, bicubic skip, residual scaling). The candidate is built and loaded strictly, so a
model is returned whole or not at all.

Networks we do not implement (Real-ESRGAN, SwinIR, HAT, ...) load through the optional ``spandrel``
package when it is installed, and run through the same lazy pipeline (see :func:`_spandrel_module`).
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

from ..errors import SuperResError, first_line, opt
from .spec import NAMED, SRModel, architecture, architectures, build

STATE_DICT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")
WRAPPERS = ("params_ema", "params", "state_dict", "model_state_dict", "model", "module", "net", "generator")
FOREIGN_HALO = 32  # input pixels read around each tile for networks whose reach we do not know


def read_state_dict(path: Path) -> dict:
    """The tensors of a weights file, unwrapped, as ``name -> tensor``; never unpickles objects."""
    import pickle

    import torch

    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise SuperResError(
                f"cannot read {path} as safetensors ({exc}); the file may be truncated"
            ) from None
    else:
        try:
            with warnings.catch_warnings():  # torch warns about odd pickle protocols before refusing
                warnings.simplefilter("ignore")
                state = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if "global" not in str(exc).lower():  # not a pickle of objects: a damaged or foreign file
                raise SuperResError(
                    f"cannot read {path} as a PyTorch state dict (not a torch.save file)"
                ) from None
            raise SuperResError(
                f"{path} holds pickled Python objects besides tensors, which napari-superres does not "
                "unpickle; save the state dict alone (torch.save(model.state_dict(), ...)) or as .safetensors"
            ) from None
        # junk after a pickle header fails in many ways (struct.error, EOFError, ...)
        except Exception as exc:
            raise SuperResError(
                f"cannot read {path} as a PyTorch state dict ({first_line(exc)}); the file is damaged or not a torch.save file"
            ) from None
    return unwrap(state, path)


def unwrap(state, path: Path | str = "the file") -> dict:
    """Peel the usual containers off a state dict and drop optimiser state and prefixes."""
    import torch

    while isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        key = next((k for k in WRAPPERS if isinstance(state.get(k), dict)), None)
        if key is None:
            break
        state = state[key]
    state = state if isinstance(state, dict) else {}
    if any(k.startswith("optim.") for k in state):  # a napari-superres training checkpoint
        state = {k: v for k, v in state.items() if k.startswith("model.")}
    for prefix in ("module.", "model.", "net."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise SuperResError(f"{path} holds no tensors by name; give a state dict or a .safetensors file")
    return tensors


def _defaults(arch: str) -> dict:
    sig = inspect.signature(architecture(arch)["build"])
    return {k: p.default for k, p in sig.parameters.items() if k != "scale" and p.default is not p.empty}


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # tuples and lists alike


def _named_match(arch: str, config: dict) -> tuple[str | None, dict]:
    """The first named configuration of ``arch`` agreeing with every detected entry, and its config."""
    defaults = _defaults(arch)
    for name, entry in NAMED.items():
        if entry["arch"] != arch:
            continue
        full = {**defaults, **entry["config"]}
        if all(_same(full.get(k), v) for k, v in config.items()):
            return name, {**entry["config"], **config}
    return None, config


def detect(state: dict, scale: int):
    """``(arch, scale, config, named, model)`` for the first of our architectures the tensors load into
    strictly, or None. ``scale`` is used where the tensors do not show it."""
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    for arch in architectures():
        spec = architecture(arch)
        for s, config in spec.get("detect", lambda *_: [])(shapes, scale):
            if s not in spec["scales"]:
                continue
            named, config = _named_match(arch, config)
            model = _build_loaded(arch, s, config, state)
            if model is None:
                continue
            model.name = named or arch
            return arch, s, config, named, model
    return None


def load_state_dict_file(path: Path, scale: int, config: dict | None = None, scale_given: bool = True):
    """A model from a weights file without our metadata: one of ours by detection, else via spandrel.

    ``config`` states options the tensors do not show (``{"skip": True}``, DRRN's ``units``, ...);
    it is checked against the detected architecture and must fit the tensors. A network whose tensors
    do not show its scale (pre-upsampling: SRCNN, VDSR, DRRN) needs ``scale`` said
    (``scale_given``): a guess would enlarge by the wrong factor without a word."""
    state = read_state_dict(path)
    found = detect(state, scale)
    if found is not None and not scale_given:
        arch, s = found[0], found[1]
        shapes = {k: tuple(v.shape) for k, v in state.items()}
        if any(s2 == s + 1 for s2, _ in architecture(arch).get("detect", lambda *_: [])(shapes, s + 1)):
            raise SuperResError(
                f"{path.name} holds a {arch} network, which works at any scale, so its tensors do not "
                f"say which it was trained for: give {opt('scale')} (2, 3, 4, ...)"
            )
    if found is None:
        if config:
            raise SuperResError(
                f"{path.name} is none of our architectures, so config= cannot apply; load it without config"
            )
        return load_with_spandrel(state, path)
    arch, s, detected, named, model = found
    given = dict(config or {})
    config = {**detected, **given}
    if given:
        options = sorted(set(_defaults(arch)) - {"in_channels"})
        unknown = sorted(set(given) - set(options))
        if unknown:
            raise SuperResError(
                f"{path.name} holds a {arch} network, which has no option {', '.join(unknown)}; "
                f"its options are {', '.join(options)}"
            )
        clash = {k: v for k, v in given.items() if k in detected and not _same(detected[k], v)}
        model = _build_loaded(arch, s, config, state)
        if model is None:
            raise SuperResError(
                f"config {json.dumps(clash or given)} does not fit the tensors of {path.name} "
                f"({arch}: {json.dumps(detected)}); drop or correct it"
            )
        named, _ = _named_match(arch, config)
        model.name = named or arch
    hidden = sorted(set(_defaults(arch)) - set(config) - {"in_channels"})
    if named is None and hidden:
        warnings.warn(
            f"{path.name}: {arch} detected from its tensors; options the tensors do not show "
            f"({', '.join(hidden)}) take their defaults (state them with config=)",
            UserWarning,
            stacklevel=3,
        )
    model.metadata = {
        "arch": arch,
        "scale": str(s),
        "config": json.dumps(config),
        "detected": f"from the tensor names and shapes of {path.name}"
        + (f" (matches the named configuration {named!r})" if named else "")
        + (f"; given: {json.dumps(given)}" if given else ""),
    }
    return model


def _build_loaded(arch: str, scale: int, config: dict, state: dict):
    """``arch`` built with ``config`` and ``state`` loaded strictly, or None where they do not fit."""
    try:
        model = build(arch, scale, config, name=arch)
        model.module.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError, KeyError):
        return None
    return model


def _spandrel_module(descriptor):
    """A spandrel model as a 1-channel network for our pipeline.

    The engine feeds single-channel planes; an RGB network gets each plane as grey (replicated to its
    input channels) and its output channels are averaged back to one. Size requirements (multiples,
    minimum) are met by spandrel's own padding inside each tile.
    """
    import torch
    from torch import nn

    class SpandrelNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = descriptor.model
            self.cin = int(descriptor.input_channels)

        def forward(self, x):
            x = x.expand(-1, self.cin, -1, -1) if self.cin != x.shape[1] else x
            y = torch.cat([descriptor(x[i : i + 1].contiguous()) for i in range(x.shape[0])])
            return y.mean(1, keepdim=True) if y.shape[1] != 1 else y

    return SpandrelNet().eval()


def load_with_spandrel(state: dict, path: Path):
    """Load an architecture we do not implement through spandrel, if it is installed."""
    try:
        import spandrel
    except ImportError:
        raise SuperResError(
            f"{path.name}: the tensors match none of our architectures; to load other networks "
            "(Real-ESRGAN, SwinIR, HAT, ...) install the optional package: pip install spandrel"
        ) from None
    try:
        desc = spandrel.ModelLoader().load_from_state_dict(state)
    except Exception as exc:  # spandrel's UnsupportedModelError and shape errors from its loaders
        raise SuperResError(
            f"{path.name}: neither napari-superres nor spandrel recognises it ({first_line(exc)})"
        ) from None
    if not hasattr(desc, "scale") or getattr(desc, "purpose", "SR") not in ("SR", "Restoration"):
        raise SuperResError(f"{path.name}: spandrel loads it, but it is not a single-image upscaler")
    req = desc.size_requirements
    name = f"spandrel:{desc.architecture.name}"
    model = SRModel(
        name=path.stem,
        arch=name,
        scale=int(desc.scale),
        in_channels=1,
        halo=FOREIGN_HALO,
        exact_tiling=False,
        size_multiple=1,  # spandrel pads each tile to its multiple itself
        module=_spandrel_module(desc),
        min_size=max(3, int(getattr(req, "minimum", 0) or 0)),
    )
    model.metadata = {
        "arch": name,
        "scale": str(model.scale),
        "loaded_by": f"spandrel {spandrel.__version__}",
    }
    return model
