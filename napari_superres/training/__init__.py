"""Training and fine-tuning: patch pairs from the degradation model (:mod:`.data`), L1 (or L2) loss,
Adam and a cosine schedule (:mod:`.loop`), resumable checkpoints (:mod:`.checkpoint`).

>>> from napari_superres.training import train                                  # doctest: +SKIP
>>> model = train("espcn", "T91/", scale=2, steps=2000, out="espcn_x2.safetensors")  # doctest: +SKIP
"""

from __future__ import annotations

from ..models import save_weights, update_metadata
from .checkpoint import schedule_text
from .data import GAIN_RANGE, NOISE_PRESET, PairSampler, load_images, training_degradations, training_noise
from .loop import LOSSES, init_model, iter_train, train, validate

__all__ = [
    "GAIN_RANGE",
    "LOSSES",
    "NOISE_PRESET",
    "PairSampler",
    "init_model",
    "iter_train",
    "load_images",
    "save_weights",
    "schedule_text",
    "train",
    "training_degradations",
    "training_noise",
    "update_metadata",
    "validate",
]
