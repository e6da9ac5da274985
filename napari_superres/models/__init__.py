"""Models: what one is (:mod:`.spec`), its weights files (:mod:`.weights`), the names a user picks
(:mod:`.registry`), state dicts from elsewhere (:mod:`.foreign`), wrappers that ensemble or
back-project (:mod:`.wrappers`), and one file per architecture in ``arch/``.

>>> from napari_superres.models import load_model
>>> m = load_model("bicubic", scale=3)
>>> m.scale, m.halo, m.exact_tiling
(3, 2, True)
"""

from __future__ import annotations

from .registry import (
    USER,
    check_model_scale,
    degradation_models,
    list_models,
    load_model,
    on_registry_change,
    register,
)
from .spec import (
    DEFAULT,
    DEFAULT_ITERATIONS,
    ENSEMBLE_SUFFIX,
    MAX_ITERATIONS,
    NAMED,
    SRModel,
    architecture,
    architectures,
    build,
)
from .weights import (
    AUTO_REAL_GAIN,
    WEIGHTS_DIR,
    gaussian_widths,
    read_metadata,
    save_weights,
    shipped_scales,
    trained_degradation,
    update_metadata,
    weights_path,
)

__all__ = [
    "AUTO_REAL_GAIN",
    "DEFAULT",
    "DEFAULT_ITERATIONS",
    "MAX_ITERATIONS",
    "ENSEMBLE_SUFFIX",
    "NAMED",
    "USER",
    "WEIGHTS_DIR",
    "SRModel",
    "architecture",
    "architectures",
    "build",
    "check_model_scale",
    "degradation_models",
    "list_models",
    "load_model",
    "on_registry_change",
    "read_metadata",
    "register",
    "save_weights",
    "shipped_scales",
    "trained_degradation",
    "update_metadata",
    "weights_path",
    "gaussian_widths",
]
