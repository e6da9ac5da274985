"""One writer per output: an operating-system file lock held for the whole run.

The lock is a small file beside the output (``.NAME.superres-lock``) holding the owner's process id,
host and start time, locked with ``flock`` (``msvcrt.locking`` on Windows). The operating system
drops the lock when its process dies, however it dies (``kill -9`` included), so a stale lock is taken
over without guessing from process ids. A second writer, with or without ``overwrite``, is refused in
one line naming the first. The file is removed when the run ends; a waiting writer that locked a
file removed meanwhile notices (its inode is no longer the path's) and tries again.

On network file systems without working locks (some NFS set-ups) the lock cannot protect the output:
run one writer per output there.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
from pathlib import Path

from ..errors import SuperResError


def lock_path(out) -> Path:
    out = Path(out)
    return out.parent / f".{out.name}.superres-lock"


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _owner(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return f"process {info['pid']} on {info['host']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def output_lock(out):
    """Hold the lock of output ``out`` for the ``with`` block, or raise :class:`SuperResError` when
    another run holds it."""
    path = lock_path(out)
    for _ in range(10):  # the holder may remove the file between our open and our lock: retry
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SuperResError(
                f"cannot create the lock file {path} ({exc.strerror}); check the folder's permissions"
            ) from None
        if not _try_lock(fd):
            os.close(fd)
            raise SuperResError(
                f"output {out} is being written by {_owner(path)}; wait for it to finish or stop it, "
                "or choose another output"
            )
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:
        raise SuperResError(f"cannot lock {path}: other runs keep replacing it; try again")
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked: a waiting writer then sees a new inode and retries
        os.close(fd)
