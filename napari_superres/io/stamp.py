"""A cheap identity of an input's content, so a changed input is never mistaken for the one read before.

A file or store is identified by the names, sizes and modification times (nanoseconds) of its files,
and by a hash of a few small windows of its pixels (a rewrite within the file system's time resolution,
or a copy that kept the old times, still changes the windows in all but contrived cases). Reading the
windows decodes a few chunks; listing a store is one ``stat`` per chunk file.

>>> import numpy as np
>>> a = np.arange(100, dtype=np.uint8).reshape(10, 10)
>>> sample_hash(a, "YX") == sample_hash(a.copy(), "YX"), sample_hash(a, "YX") == sample_hash(a[::-1], "YX")
(True, False)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .readers import array_place, unreadable

WINDOW = 64  # pixels along Y and X of each sampled window
POSITIONS = (0.0, 0.5, 1.0)  # where along each axis: start, middle, end


def files_stamp(path) -> str:
    """Hash of (relative name, size, mtime_ns) of ``path`` and, for a folder, every file under it.
    Symbolic links to folders are not followed (no loops)."""
    p = Path(path)
    st = p.stat()
    entries = [(".", st.st_size if p.is_file() else 0, st.st_mtime_ns if p.is_file() else 0)]
    if p.is_dir():
        stack = [str(p)]
        while stack:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    else:
                        s = e.stat()
                        entries.append((os.path.relpath(e.path, p), s.st_size, s.st_mtime_ns))
    entries.sort()
    return hashlib.sha256(repr(entries).encode()).hexdigest()[:16]


def sample_hash(data, axes: str, where: str | None = None) -> str:
    """Hash of windows of ``WINDOW`` x ``WINDOW`` pixels at the start, middle and end along Y and X (9 per
    plane), in the first, middle and last plane along each other axis (channels are read whole), with
    the shape and dtype."""
    import itertools

    h = hashlib.sha256(repr((tuple(data.shape), str(np.dtype(data.dtype)))).encode())
    per_axis = []
    for ax, n in zip(axes, data.shape):
        if ax == "C" or n == 0:
            per_axis.append([slice(None)])
            continue
        w = min(n, WINDOW) if ax in "YX" else 1
        per_axis.append([slice(a, a + w) for a in sorted({round((n - w) * f) for f in POSITIONS})])
    for slices in itertools.product(*per_axis):
        try:
            window = np.asarray(data[slices])
        except Exception as exc:  # a damaged file: said in one line here, before any output exists
            raise unreadable(exc, where or array_place(data)) from None
        h.update(np.ascontiguousarray(window).tobytes())
    return h.hexdigest()[:16]


def input_stamp(path, data, axes: str) -> str:
    """The identity of an input's content: :func:`files_stamp` of its path (when it has one) and
    :func:`sample_hash` of its pixels."""
    files = files_stamp(path) if path is not None and os.path.exists(path) else ""
    return f"{files}-{sample_hash(data, axes, None if path is None else str(path))}"
