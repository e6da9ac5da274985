"""Where the write tasks run: local threads in stream order (a sliding window, or groups for dask
inputs), or a dask.distributed cluster; and the progress events of level 0."""

from __future__ import annotations

import time

from ..errors import SuperResError
from ..events import Progress


def run_sync(graph, keys, workers: int):
    """Compute ``keys``: in worker threads (one torch thread each), or in this thread when workers == 1."""
    from dask.local import get_sync
    from dask.threaded import get

    if workers == 1:
        return get_sync(graph, keys)
    return get(graph, keys, num_workers=workers)


def sliding_window(dsk, todo, write_task, workers: int):
    """Compute the write tasks of the blocks ``todo`` with ``workers`` threads, submitted in order with at
    most two per thread in flight; yields 1 per finished block. Stopping the iteration lets the
    running blocks finish (each writes its chunk and marker) and drops the ones not started."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from dask.local import get_sync
    from dask.optimization import cull

    def one(key, sub):
        get_sync(sub, [key])

    pending: set = set()
    blocks = iter(todo)
    ex = ThreadPoolExecutor(workers, thread_name_prefix="superres-write")
    try:
        while True:
            while len(pending) < 2 * workers and (idx := next(blocks, None)) is not None:
                key, tasks = write_task(idx)
                dsk.update(tasks)
                sub, _ = cull(dsk, [key])
                for k in tasks:
                    del dsk[k]
                pending.add(ex.submit(one, key, sub))
            if not pending:
                return
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                fut.result()
                yield 1
    finally:
        for fut in pending:
            fut.cancel()
        ex.shutdown(wait=True)


def groups(dsk, todo, write_task, group_size: int, workers: int, client):
    """Compute the write tasks of ``todo`` in groups of ``group_size`` blocks, in local threads (yields
    each group's size when it is done) or on a dask.distributed ``client`` (yields 1 per finished
    future; stopping cancels the futures still running)."""
    from dask.optimization import cull

    for start in range(0, len(todo), group_size):
        keys, added = [], []
        for idx in todo[start : start + group_size]:
            key, tasks = write_task(idx)
            dsk.update(tasks)
            keys.append(key)
            added.extend(tasks)
        sub, _ = cull(dsk, keys)
        if client is None:
            run_sync(sub, keys, workers)
            yield len(keys)
        else:
            from distributed import as_completed

            futures = client.get(sub, keys, sync=False)
            try:
                for fut in as_completed(futures):
                    fut.result()
                    yield 1
            except BaseException:
                client.cancel(futures)
                raise
        for k in added:
            del dsk[k]


def level0_progress(n_done: int, total: int, computed: int, px_per_block: int, t0: float) -> Progress:
    el = time.perf_counter() - t0
    return Progress(
        "level0",
        n_done,
        total,
        el,
        mp_per_s=computed * px_per_block / 1e6 / max(el, 1e-9),
        eta=el / max(computed, 1) * (total - n_done),
    )


def client_for(scheduler):
    """The dask.distributed Client to run on: ``scheduler`` itself, one for an address, the active
    Client when ``scheduler`` is None, or None for the local threads."""
    if isinstance(scheduler, str) and scheduler in ("threads", "sync", "local"):
        return None
    if scheduler is None:
        try:
            from distributed import default_client
        except ImportError:
            return None
        try:
            return default_client()
        except ValueError:  # no active client
            return None
    if isinstance(scheduler, str):
        try:
            from distributed import Client
        except ImportError:
            raise SuperResError(
                "scheduler= an address needs dask.distributed; pip install distributed"
            ) from None
        try:
            return Client(scheduler, timeout=10)
        except OSError as exc:
            raise SuperResError(
                f"cannot reach the dask scheduler at {scheduler} ({exc}); check the address"
            ) from None
    if not hasattr(scheduler, "get") or not hasattr(scheduler, "cancel"):
        raise SuperResError(f"scheduler must be a dask.distributed Client or an address, got {scheduler!r}")
    return scheduler
