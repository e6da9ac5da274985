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


def bar(done: int, total: int, width: int = 20) -> str:
    """``[#####---------------]``: ``done`` of ``total`` as a text bar."""
    k = int(width * min(done, total) / total) if total else 0
    return "[" + "#" * k + "-" * (width - k) + "]"


def duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 12 s"``, ``"2 h 05 min"``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class StatusLine:
    """One line of progress on a stream (stderr by default).

    On a terminal the line is rewritten in place; in a log file a line is written at the first call,
    then at most once every ``every`` seconds, and always for ``final=True`` (so a long job shows it
    is alive within its first seconds without flooding a log).
    """

    def __init__(self, stream=None, every: float = 5.0, quiet: bool = False):
        import sys

        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every, self.quiet = every, quiet
        self.last = None
        self.width = 0

    def __call__(self, text: str, final: bool = False) -> None:
        import time

        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            pad = max(0, self.width - len(text))
            self.stream.write("\r" + text + " " * pad + ("\n" if final else ""))
            self.width = 0 if final else len(text)
        elif final or self.last is None or now - self.last >= self.every:
            self.stream.write(text + "\n")
            self.last = now
        self.stream.flush()

    def line(self, text: str) -> None:
        """A line of its own (a validation result, a warning), leaving the status line below it."""
        if self.quiet:
            return
        if self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()
