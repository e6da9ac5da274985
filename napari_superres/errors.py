"""The one exception type the user sees: a one-line message saying what is wrong and what to do.

A message names the option to change where the user set it: ``opt("overwrite", True)`` in a message
reads ``overwrite=True`` from Python (``str(exc)``), ``--overwrite`` on the command line
(``exc.render("cli")``) and "the 'overwrite' check box" in a napari dock (``exc.render("widget")``):
one message source, three renderings.
"""

from __future__ import annotations

import re

# option -> (command-line flag, napari control); a flag of None means "not on the command line"
OPTIONS = {
    "adapt": ("--adapt", "the 'adapt to this image' check box"),
    "axes": ("--axes", None),
    "batch": ("--batch", None),
    "channel": ("--channel", None),
    "config": ("--config", None),
    "cog": ("--cog", None),
    "consistency": ("--consistency", "the 'consistency steps' field"),
    "degradation": ("--degradation", "the 'degradation' field"),
    "device": ("--device", "the 'device' field"),
    "factor": ("--factor", None),
    "model": ("--model", "the 'model' field"),
    "nodata": ("--nodata", "the 'nodata' field"),
    "normalize": ("--normalize", "the 'normalisation' field"),
    "out": ("--out", "the output field"),
    "overwrite": ("--overwrite", "the 'overwrite' check box"),
    "precision": ("--precision", None),
    "real_data": ("--real", None),
    "scale": ("--scale", "the 'scale' field"),
    "scheduler": ("--scheduler", None),
    "seconds": ("--seconds", None),
    "steps": ("--steps", "the 'steps' field"),
    "tile": ("--tile", "the 'tile' field"),
    "trust_code": ("--trust-code", None),
}
SURFACES = ("python", "cli", "widget")
_MARK = re.compile(r"«(\w+)(?:=([^»]*))?»")


_UNSET = object()


def opt(name: str, value=_UNSET) -> str:
    """The place of option ``name`` (set to ``value``, if given) in a message, for :func:`render`."""
    if name not in OPTIONS:
        raise KeyError(f"unknown option {name!r}")  # a programming error, caught by the tests
    return f"«{name}»" if value is _UNSET else f"«{name}={value!r}»"


def render(text: str, surface: str = "python") -> str:
    """``text`` with each :func:`opt` mark written as the user of ``surface`` sets that option:
    ``name=value`` in Python, ``--flag value`` on the command line, "set the 'field' to value" or
    "tick the 'box' check box" in a dock."""
    if surface not in SURFACES:
        raise ValueError(f"surface must be one of {SURFACES}, got {surface!r}")

    def one(m: re.Match) -> str:
        name, value = m.group(1), m.group(2)
        flag, control = OPTIONS[name]
        if surface == "python" or (surface == "cli" and flag is None):
            return name if value is None else f"{name}={value}"
        plain = None if value is None else "none" if value == "None" else value.strip("'\"")
        if surface == "cli":
            return flag if value in (None, "True") else f"{flag} {plain}"
        control = control or f"the '{name}' option"
        if value is None:
            return control
        if "check box" in control and value in ("True", "False"):
            return ("tick " if value == "True" else "untick ") + control
        return f"set {control} to {plain}"

    return _MARK.sub(one, text)


class SuperResError(ValueError):
    """Bad input or a refused operation. The CLI prints it on one line and exits with status 2."""

    def __str__(self) -> str:
        return render(super().__str__(), "python")

    def render(self, surface: str) -> str:
        """The message as the user of ``surface`` ("python", "cli" or "widget") reads it."""
        return render(super().__str__(), surface)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for the reason
    in brackets of a one-line error.

    >>> first_line(ValueError("bad header\\nmore detail")), first_line(EOFError())
    ('bad header', 'EOFError')
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def from_os_error(exc: OSError, target) -> SuperResError:
    """An operating-system error while writing ``target``, in one line, with what to do. Finished
    parts of an output are kept, so the advice is to fix the cause and run again."""
    import errno

    where = exc.filename or target
    again = "finished chunks are kept: run the same command again to resume"
    known = {
        errno.ENOSPC: f"no space left on the device holding {target}; free space (or choose another output), then {again}",
        errno.EDQUOT: f"disk quota exceeded writing {target}; free space, then {again}",
        errno.EACCES: f"permission denied writing {where}; check the folder's permissions, then {again}",
        errno.EPERM: f"operation not permitted on {where}; check the folder's permissions, then {again}",
        errno.EROFS: f"{target} is on a read-only file system; choose another output",
        errno.ELOOP: f"{where} is a symbolic link loop; remove it or choose another output",
    }
    if exc.errno in known:
        return SuperResError(known[exc.errno])
    return SuperResError(f"cannot write {where} ({exc.strerror or exc}); {again}")
