"""The napari dock widgets: Upscale, Train / fine-tune, Evaluate.

A thin surface: the work is done by generators of the library (``writer.iter_output``,
``training.iter_train``) and plain functions (``layers``, ``bench.compare``); the widgets only
collect settings, run the generators in a ``thread_worker`` with a napari progress bar and a
Cancel button (:mod:`.common`), and turn results into placed layers. Errors become one-line
notifications.
"""

from __future__ import annotations

from .common import DEGRADATION_CHOICES, GAUSSIAN_CHOICE, NEW_NETWORK
from .evaluate import EvaluateWidget
from .train import TrainWidget
from .upscale import UpscaleWidget

__all__ = [
    "DEGRADATION_CHOICES",
    "GAUSSIAN_CHOICE",
    "NEW_NETWORK",
    "EvaluateWidget",
    "TrainWidget",
    "UpscaleWidget",
]
