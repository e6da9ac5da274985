"""Model names: the ``load_model`` grammar (names, ``+x8``, ``+bpN``, files, foreign state dicts,
degradation families), models a user registered in this session, and ``list_models``.

>>> from napari_superres.models import load_model
>>> m = load_model("bicubic", scale=3)
>>> m.scale, m.halo, m.exact_tiling
(3, 2, True)
"""

from __future__ import annotations

import difflib
from pathlib import Path

from ..degradation import FAMILIES, parse_degradation
from ..errors import SuperResError, opt
from .spec import BLEND_PREFIX, DEFAULT, ENSEMBLE_SUFFIX, MAX_ITERATIONS, NAMED, SRModel, architecture, build
from .weights import from_safetensors, read_metadata, shipped_scales, weights_path

# Models a user trained or added in this session, by name: weights files (see :func:`register`).
USER: dict[str, Path] = {}
USER_META: dict[str, dict] = {}  # their metadata (a package's network and scale), for the model lists
TRUSTED: set[str] = set()  # registered names whose package runs its own code (register(trust_code=True))
_LISTENERS: list = []


def register(path: str | Path, name: str | None = None, trust_code: bool = False) -> str:
    """Make a weights file or bioimage.io package pickable by ``name`` (its stem by default) everywhere;
    returns the name.

    A package whose network is its own code registers only with ``trust_code=True`` (from napari's
    console: its code then runs whenever a dock picks it). Widgets listening with
    :func:`on_registry_change` refresh their model lists at once.
    """
    from .package import is_package, load_package

    p = Path(path).expanduser().resolve()
    if is_package(p):  # checked now (format, files, weights), not at the first run
        loaded = load_package(p, trust_code=trust_code)
        meta = {"arch": loaded.arch, "scale": str(loaded.scale)}
    elif "arch" not in (meta := read_metadata(p)) or "scale" not in meta:
        raise SuperResError(
            f"{p} has no napari-superres metadata (arch, scale); save it with train(..., out=)"
        )
    key = name or p.name.split(".")[0]
    if key in NAMED or key == "default":
        raise SuperResError(f"{key!r} is the name of a shipped model; choose another name")
    USER[key] = p
    USER_META[key] = meta
    if trust_code:
        TRUSTED.add(key)
    else:
        TRUSTED.discard(key)
    for ref in list(_LISTENERS):
        listener = ref()
        if listener is None:
            _LISTENERS.remove(ref)
            continue
        try:
            listener()
        except RuntimeError:  # a widget whose Qt object is gone
            _LISTENERS.remove(ref)
    return key


def on_registry_change(callback) -> None:
    """Call ``callback()`` whenever :func:`register` adds a model (held weakly: widgets can close)."""
    import weakref

    _LISTENERS.append(
        weakref.WeakMethod(callback) if hasattr(callback, "__self__") else weakref.ref(callback)
    )


def _degradation(value):
    """A parsed :class:`~napari_superres.degradation.Degradation`; bad values become a SuperResError."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        raise SuperResError(
            "degradation='auto' is estimated from an image; pass it to upscale(), or name a degradation here"
        )
    return parse_degradation(value)


def degradation_models(family: str, scale: int | None = None) -> list[str]:
    """Named models with shipped weights for a degradation family (at ``scale``, if given)."""
    return [
        name
        for name, entry in NAMED.items()
        if entry["trained"]
        and (scale in shipped_scales(name, family) if scale is not None else shipped_scales(name, family))
    ]


def load_model(
    name_or_path: str | Path | SRModel = "default",
    scale: int | None = None,
    config: dict | None = None,
    degradation=None,
    trust_code: bool = False,
    noise_robust: bool = False,
) -> SRModel:
    """A model by registry name (``"default"``, ``"espcn"``, ``"bicubic"``, ...) or weights file.

    A file is a ``.safetensors`` saved by napari-superres, or a state dict from elsewhere
    (``.safetensors``, ``.pt``, ``.pth``, ``.ckpt``, ``.bin``; never unpickled): the architecture and
    configuration are detected from its tensors (``scale`` is used only where they do not show it:
    SRCNN, VDSR, DRRN, which then need it said), and other networks load through ``spandrel`` if it is
    installed. ``scale`` defaults to 2 for named models.
    ``config`` states the options such a state dict cannot show (``{"skip": True}``, ``{"act":
    "tanh"}``, DRRN's ``{"units": 9}``, ...); the model is then held in memory (``origin`` None).

    ``NAME+x8`` averages the model over the 8 flips and turns of its input (self-ensemble, 8x the
    time); ``NAME+bpN`` adds N steps of back-projection onto the input after the model (consistency).

    ``degradation`` says how the image was made (``"bicubic"``, the default; ``"binning"``;
    ``"gaussian:SIGMA"``; a PSF kernel array or file): a named model then loads its weights trained
    for that family (``espcn``, ``edsr-lite``), ``ibp`` and back-projection use it as their
    operator. A weights file keeps the degradation it was trained for.

    ``noise_robust=True`` takes a named model's weights trained with Poisson-Gaussian noise where
    they are a file of their own (the bicubic family: its plain weights are the benchmark protocol's,
    trained on clean photographs); ``degradation="auto"`` enlarges real images with those.

    A bioimage.io model package (``.zip``, its folder or its ``rdf.yaml``, format 0.5) runs too
    (:mod:`napari_superres.models.package`); a network that is the package's own code runs only
    with ``trust_code=True``.

    Raises :class:`SuperResError` with the close names for an unknown name, and the available
    scales for a scale the model lacks.
    """
    if isinstance(name_or_path, SRModel):
        return name_or_path
    scale_given = scale is not None
    scale = 2 if scale is None else scale
    deg = _degradation(degradation)
    key = str(name_or_path)
    if key.endswith(ENSEMBLE_SUFFIX) and len(key) > len(ENSEMBLE_SUFFIX):  # "edsr-lite+x8": self-ensemble
        from .wrappers import with_self_ensemble

        return with_self_ensemble(
            load_model(
                key[: -len(ENSEMBLE_SUFFIX)], scale, config=config, degradation=deg, noise_robust=noise_robust
            )
        )
    if config is not None:  # options for a state dict from elsewhere: checked here, used below
        if not isinstance(config, dict):
            raise SuperResError(f"config must be a dict of architecture options, got {type(config).__name__}")
        if not Path(key).expanduser().is_file():
            raise SuperResError(
                f"config= applies to a weights file from elsewhere; {key!r} is not a file "
                "(named models and our own files record their configuration)"
            )
    base, sep, steps = key.rpartition("+bp")
    if sep and steps.isdigit() and base:  # "espcn+bp5": the model, then 5 back-projection steps
        if not 0 < int(steps) <= MAX_ITERATIONS:
            raise SuperResError(
                f"{key!r}: back-projection steps (+bpN) must be 1 to {MAX_ITERATIONS}, got {int(steps)}"
            )
        from .wrappers import with_consistency

        told = deg if degradation is not None else None  # unsaid: the weights' own degradation
        inner = load_model(base, scale, degradation=deg, noise_robust=noise_robust)
        return with_consistency(inner, int(steps), told)
    if key.startswith(BLEND_PREFIX):  # a blend's origin (degradation="auto"): its parts, reloaded
        from .wrappers import blend_from_origin

        def part(origin, s, trained_for):
            m = load_model(origin, s)
            m.degradation = trained_for
            return m

        return blend_from_origin(key, scale, part)
    if key == "default":
        key = DEFAULT
    if key in NAMED:
        entry = NAMED[key]
        scale = check_model_scale(scale)
        if not entry["trained"]:
            config = dict(entry["config"])
            if entry["arch"] == "ibp" and deg.kind != "bicubic":  # back-projection under this degradation
                config["degradation"] = str(deg) if deg.kind != "kernel" else [list(r) for r in deg.kernel]
            model = build(entry["arch"], scale, config, name=key)
            model.metadata = {"arch": entry["arch"], "training": "none (classical method)"}
            model.origin = key if len(config) == len(entry["config"]) else None
            model.degradation = str(deg)
            return model
        path = weights_path(key, scale, deg.family, deg.equivalent_sigma, noise_robust)
        if not path.exists():
            if deg.family != "bicubic" and weights_path(key, scale).exists():
                have = degradation_models(deg.family, scale)
                raise SuperResError(
                    f"model {key!r} has no x{scale} weights for degradation {deg}; models trained for "
                    f"{deg.family} at x{scale}: {', '.join(have) or 'none'} (or degradation 'bicubic')"
                )
            have = shipped_scales(key)
            raise SuperResError(
                f"model {key!r} has no x{scale} weights; it has "
                f"{', '.join(f'x{s}' for s in have) or 'none'} (use one of those or the 'ibp' model)"
            )
        model = from_safetensors(path, name=key)
        # a registry name reloads the bicubic weights; other files load from their path
        model.origin = key if path == weights_path(key, scale) else str(path)
        model.degradation = str(deg) if deg.family != "bicubic" else "bicubic"
        return model
    if key in USER:
        from .package import is_package, load_package

        trusted = key in TRUSTED
        if is_package(USER[key]):
            model = load_package(USER[key], trust_code=trusted)
        else:
            model = from_safetensors(USER[key], name=key)
        model.name = key
        model.origin = None if trusted else str(USER[key])  # its code is not re-run from a path elsewhere
        if model.scale != check_model_scale(scale):
            raise SuperResError(
                f"model {key!r} enlarges x{model.scale}, not x{scale}: {opt('scale', model.scale)}"
            )
        return model
    path = Path(key).expanduser()
    from .foreign import STATE_DICT_SUFFIXES, load_state_dict_file
    from .package import is_package, load_package

    if is_package(path):
        model = load_package(path, trust_code=trust_code)
        if scale_given and model.scale != check_model_scale(scale):
            raise SuperResError(
                f"{path.name} enlarges x{model.scale}, not x{scale}: {opt('scale', model.scale)}"
            )
        return model

    if path.suffix.lower() in STATE_DICT_SUFFIXES or path.exists():
        if not path.exists():
            raise SuperResError(f"weights file {path} does not exist; check the path")
        if path.suffix.lower() == ".safetensors" and "arch" in read_metadata(path):
            if config is not None:
                raise SuperResError(f"{path.name} records its own configuration; load it without config=")
            model = from_safetensors(path)
        else:  # a state dict from elsewhere: architecture and configuration from its tensors
            model = load_state_dict_file(path, check_model_scale(scale), config, scale_given)
        # stated options live only in this object (workers get it whole); else reload from the file
        model.origin = str(path.resolve()) if config is None else None
        return model
    close = difflib.get_close_matches(key, [*NAMED, "default"], n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise SuperResError(
        f"unknown model {key!r}.{hint} Known models: {', '.join(['default', *NAMED])}, or a weights file path"
    )


def check_model_scale(scale) -> int:
    """A model's own enlargement: a whole number from 2 to 8 (an output scale may be any number above
    1: see :func:`napari_superres.engine.options.check_scale`, which picks the model's from it)."""
    try:
        s = int(scale)
    except (TypeError, ValueError):
        raise SuperResError(f"scale must be an integer from 2 to 8 for a model, got {scale!r}") from None
    if s != scale or not 2 <= s <= 8:
        raise SuperResError(f"scale must be an integer from 2 to 8 for a model, got {scale!r}")
    return s


def list_models() -> list[dict]:
    """Every named model: architecture, scales, whether weights ship, and their measured quality.

    Reads only file headers: no torch import.
    """
    out = []
    for name, entry in NAMED.items():
        row = {"name": name, "arch": entry["arch"], "default": name == DEFAULT, "trained": entry["trained"]}
        if entry["trained"]:
            row["trainable_scales"] = list(architecture(entry["arch"])["scales"])
            row["scales"] = shipped_scales(name)
            row["shipped"] = bool(row["scales"])
            row["quality"] = {
                s: read_metadata(weights_path(name, s)).get("set5_psnr", "") for s in row["scales"]
            }
            row["degradations"] = {
                fam: shipped_scales(name, fam) for fam in FAMILIES if shipped_scales(name, fam)
            }
        else:
            row["scales"] = list(range(2, 9))
            row["shipped"] = True
            row["quality"] = {}
        out.append(row)
    for name, path in USER.items():
        meta = USER_META.get(name) or read_metadata(path)
        s = int(meta["scale"])
        quality = {
            s: meta.get("set5_psnr", "") or (f"val {meta['val_psnr']}" if meta.get("val_psnr") else "")
        }
        out.append(
            {
                "name": name,
                "arch": meta["arch"],
                "default": False,
                "trained": True,
                "scales": [s],
                "shipped": True,
                "quality": quality,
                "path": str(path),
            }
        )
    return out
