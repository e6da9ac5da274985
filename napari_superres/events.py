"""Progress events of a write: what the writers yield and the CLI bar, the widget and the TIFF writer read.

A :class:`Progress` is a dataclass; it also answers ``event["done"]`` and ``event.get("message")``,
so a ``progress=`` callback written for the dictionaries of earlier releases keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STAGES = ("adapt", "auto", "level0", "pyramid", "tiff", "done")


@dataclass
class Progress:
    """One step of a write.

    ``stage``: ``"adapt"`` (fine-tuning the model on the image first: ``done`` of about ``total``
    steps), ``"auto"`` (what ``degradation="auto"`` chose, in ``message``), ``"level0"`` (chunks of
    the result: ``done`` of ``total``, with ``mp_per_s`` and ``eta`` once computing), ``"pyramid"``
    (``level`` of ``levels``), ``"tiff"`` (streaming into the TIFF), ``"done"`` (``array``: the written
    level 0; ``levels``; ``source``; ``degradation``; ``auto``; ``already_complete`` when nothing was left
    to compute).
    """

    stage: str
    done: int = 0
    total: int = 0
    elapsed: float = 0.0
    message: str = ""
    mp_per_s: float | None = None
    eta: float | None = None
    level: int | None = None
    levels: int | None = None
    array: Any = field(default=None, repr=False)
    source: Any = field(default=None, repr=False)
    degradation: str | None = None
    auto: dict | None = None
    already_complete: bool = False

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"unknown progress stage {self.stage!r}; one of {', '.join(STAGES)}")

    # mapping-style reading, for callbacks written against the dictionaries of earlier releases
    def __getitem__(self, key: str):
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: str) -> bool:
        return key in self.__dataclass_fields__ and getattr(self, key) not in (None, "")

    def get(self, key: str, default=None):
        value = getattr(self, key, None) if key in self.__dataclass_fields__ else None
        return default if value is None else value

    @property
    def finished(self) -> bool:
        return self.stage == "done"
