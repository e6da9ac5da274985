"""napari-superres: deep-CNN super-resolution for images of any size.

The public API; heavy modules (torch, dask, zarr) load only when a function is first called.

>>> import numpy as np, napari_superres as nsr
>>> nsr.upscale(np.zeros((64, 64), np.uint8), "bicubic", 2).shape
(128, 128)
"""

from __future__ import annotations

from ._version import __version__

__all__ = [
    "upscale",
    "add_upscaled",
    "load_model",
    "list_models",
    "register",
    "train",
    "evaluate",
    "SuperResError",
    "__version__",
]

from .errors import SuperResError


def upscale(image, model="default", scale=2, **kwargs):
    """Enlarge an array, file, zarr or napari layer; see :func:`napari_superres.engine.upscale`."""
    from .api import upscale as _upscale

    return _upscale(image, model, scale, **kwargs)


def add_upscaled(viewer, layer, model="default", scale=2, **kwargs):
    """Add the enlarged napari ``layer`` (or layer name) to ``viewer``, placed over it; returns the layer."""
    from .layers import add_upscaled as _add_upscaled

    return _add_upscaled(viewer, layer, model, scale, **kwargs)


def register(path, name=None):
    """Make a trained weights file pickable by name (its stem by default) in every model list."""
    from .models import register as _register

    return _register(path, name)


def load_model(name_or_path="default", scale=None, config=None, degradation=None):
    """A model by name or weights file (``scale``: 2 for named models; a weights file that does not show
    its scale needs it said); ``degradation=`` loads its weights trained for that degradation."""
    from .models import load_model as _load_model

    return _load_model(name_or_path, scale, config, degradation)


def list_models():
    from .models import list_models as _list_models

    return _list_models()


def train(arch="espcn", data=None, scale=2, **kwargs):
    from .training import train as _train

    return _train(arch, data, scale, **kwargs)


def evaluate(dirs, models=("bicubic", "default"), scales=(2,), **kwargs):
    from .bench import evaluate as _evaluate

    return _evaluate(dirs, models, scales, **kwargs)
