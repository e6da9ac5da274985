"""The tile runtime: what one graph task does (read a window, run the network, keep the centre),
the forward pass with its out-of-memory split, batching of concurrent tiles for GPUs, and the
per-process cache of opened sources and loaded models (each dask.distributed worker has its own).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..errors import SuperResError, opt
from ..io import ChunkCache, open_input
from ..models import load_model
from ..normalize import cast_back, robust_range, work_dtype
from .options import PRECISIONS


# ----------------------------------------------------------------------------- task functions
def read_region(source, slices):
    """A window of an array-like source as a numpy array (tasks call this)."""
    return np.asarray(source[slices])


def assemble(blocks, slices):
    """Concatenate neighbouring dask blocks and cut the window out (tasks call this)."""
    return np.block(blocks)[slices]


def stats(windows, channel_of_window, n_channels, low, high, nodata=None):
    """Per-channel (lo, hi) robust percentile range of the sampled windows (nodata pixels left out)."""
    out = np.zeros((n_channels, 2))
    for c in range(n_channels):
        vals = [np.ravel(w) for w, ch in zip(windows, channel_of_window) if ch == c]
        if nodata is not None:
            vals = [v[v != nodata] for v in vals]
        out[c] = robust_range(np.concatenate(vals) if vals else np.zeros(0), low, high)
    return out


@dataclass
class TileSpec:
    scale: int
    spatial: tuple[int, int]  # positions of Y and X in the block
    crop: tuple  # per axis of the enlarged block: a slice to keep, or (offset, matrix) to resample
    out_dtype: np.dtype  # the output type (integers rounded and clipped)
    normalize: str  # "range" or "none"
    nodata: float | None = None  # missing pixels: filled before the network, set back after
    halo: int = 0  # the model's reach, for splitting a tile that does not fit in the device's memory
    precision: str = "fp32"  # or "bf16" / "fp16": autocast, faster on GPUs, not bit-exact across tiles
    batch: int = 1  # tiles of concurrent tasks gathered into one forward pass (see _Batcher)


def sr_tile(block, model, ranges, channel, spec: TileSpec):
    """Run the model on every YX plane of ``block`` (all of one channel) and keep the centre.

    ``ranges[channel]`` is the (lo, hi) mapped to [0, 1] before the network and back after.
    """
    import torch

    if threading.current_thread() is not threading.main_thread() and torch.get_num_threads() != 1:
        # in a dask worker thread: dask's threads already fill the cores, so one torch thread each
        # (the setting is per thread; the main thread keeps its own)
        torch.set_num_threads(1)

    y_ax, x_ax = spec.spatial
    other = [i for i in range(block.ndim) if i not in (y_ax, x_ax)]
    moved = np.moveaxis(block, other + [y_ax, x_ax], list(range(block.ndim)))
    lead = moved.shape[:-2]
    work = work_dtype(block.dtype)  # float64 for 32/64-bit integers: no value lost on the way back
    planes = moved.reshape(-1, *moved.shape[-2:]).astype(work)
    missing = None
    if spec.nodata is not None:
        missing = moved.reshape(planes.shape) == spec.nodata
        planes = _fill_nearest(planes, missing, ranges[channel][0] if ranges is not None else 0.0)
    if spec.normalize == "range":
        lo, hi = (work.type(v) for v in ranges[channel])
        planes = (planes - lo) / (hi - lo)
    bad = ~np.isfinite(planes)
    has_bad = bool(bad.any())
    if has_bad:  # NaN/Inf: filled with 0 for the network, NaN again in the output
        planes = np.where(bad, 0.0, planes)
    dev = next(iter(model.module.parameters()), torch.zeros(0)).device
    x = torch.from_numpy(planes.astype(np.float32, copy=False))[:, None]
    x = x.pin_memory().to(dev, non_blocking=True) if dev.type == "cuda" else x.to(dev)
    if spec.batch > 1:
        y = _batcher(model, spec.batch)(x, spec.halo, spec.precision)
    else:
        y = forward(model, x, spec.halo, spec.precision)
    y = y[:, 0].float().cpu().numpy()
    s = spec.scale
    if has_bad:
        y[np.repeat(np.repeat(bad, s, axis=1), s, axis=2)] = np.nan
    if spec.normalize == "range":
        y = y.astype(work) * (hi - lo) + lo
    y = _crop(y, lead, block.ndim, other, (y_ax, x_ax), spec.crop)
    out = cast_back(y, spec.out_dtype)
    if missing is not None:  # the mask enlarged by nearest neighbour, cut like the image
        mask = np.repeat(np.repeat(missing, s, axis=1), s, axis=2).astype(np.float32)
        mask = _crop(mask, lead, block.ndim, other, (y_ax, x_ax), spec.crop) >= 0.5
        nd = np.asarray(spec.nodata, out.dtype)
        if out.dtype.kind in "iu":  # a valid pixel must never read as nodata
            info = np.iinfo(out.dtype)
            out[(out == nd) & ~mask] = nd + 1 if nd < info.max else nd - 1
        else:
            out[(out == nd) & ~mask] = np.nextafter(nd, np.inf)
        out[mask] = nd
    return out


def _crop(y, lead, ndim, other, spatial, crop):
    """Planes ``(n, H*s, W*s)`` back into the block's layout, keeping (or resampling) the centre."""
    y = y.reshape(*lead, *y.shape[-2:])
    y = np.moveaxis(y, list(range(ndim)), other + list(spatial))
    for axis, keep in enumerate(crop):
        if isinstance(keep, slice):
            y = y[(slice(None),) * axis + (keep,)]
        else:  # non-integer scale: antialiased resampling rows of the global MATLAB-style matrix
            offset, mat = keep
            window = np.moveaxis(y, axis, 0)[offset : offset + mat.shape[1]]
            y = np.moveaxis(np.tensordot(mat, window, axes=(1, 0)), 0, axis)
    return y


def _fill_nearest(planes, missing, fallback):
    """Missing pixels take the value of the nearest valid pixel of their plane (no edge for the network
    to ring at); a plane with no valid pixel takes ``fallback``."""
    from scipy import ndimage

    out = planes.copy()
    for i in range(planes.shape[0]):
        if not missing[i].any():
            continue
        if missing[i].all():
            out[i] = fallback
            continue
        idx = ndimage.distance_transform_edt(missing[i], return_distances=False, return_indices=True)
        out[i] = planes[i][idx[0], idx[1]]
    return out


_DEVICE_LOCKS: dict = {}


def _device_lock(dev):
    """One caller at a time per GPU (dask threads would only contend for it); none on the CPU."""
    import contextlib

    if dev.type == "cpu":
        return contextlib.nullcontext()
    with PROCESS_LOCK:
        return _DEVICE_LOCKS.setdefault(str(dev), threading.Lock())


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def forward(model, x, halo: int, precision: str = "fp32"):
    """``model(x)``, on an out-of-memory error split and retried: first the batch of planes, then
    the tile itself into two halves that each keep ``halo`` pixels of context, so the joined
    result is the same as the whole one."""
    import torch

    try:
        with _device_lock(x.device):
            if PRECISIONS[precision] is None:
                return model(x)
            with torch.autocast(x.device.type, dtype=getattr(torch, PRECISIONS[precision])):
                return model(x).float()
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if not _is_oom(exc):
            raise
        if x.device.type == "cuda":
            torch.cuda.empty_cache()
    if x.shape[0] > 1:
        h = x.shape[0] // 2
        return torch.cat([forward(model, x[:h], halo, precision), forward(model, x[h:], halo, precision)])
    axis = x.ndim - 2 if x.shape[-2] >= x.shape[-1] else x.ndim - 1
    n, s = x.shape[axis], model.scale
    if n < 2 * halo + 16:
        raise SuperResError(
            f"the device ran out of memory on a {x.shape[-2]}x{x.shape[-1]} tile even after splitting; "
            f"use a smaller {opt('tile')} or {opt('device', 'cpu')}"
        )
    mid = n // 2
    top = forward(model, x.narrow(axis, 0, mid + halo), halo, precision).narrow(axis, 0, mid * s)
    rest = forward(model, x.narrow(axis, mid - halo, n - mid + halo), halo, precision)
    return torch.cat([top, rest.narrow(axis, halo * s, (n - mid) * s)], dim=axis)


class _Batcher:
    """Gathers the tiles that concurrent tasks send to one model into batched forward passes.

    Each dask thread hands its tile over and waits; one feeder thread per model takes every tile
    waiting (up to ``max_batch`` planes, the same shape and precision), stacks them, runs them in one
    pass (with the out-of-memory splitting of :func:`_forward`) and hands each its own planes back.
    It is meant for GPUs, where one small tile per call leaves the device idle between kernels; on the
    CPU one thread per tile is faster (measured in docs/benchmarks.md), so batching is off there. The feeder exits
    after a few idle seconds and starts again on demand.
    """

    IDLE_S = 5.0

    def __init__(self, model, max_batch: int):
        import queue

        self.model, self.max_batch = model, max_batch
        self.queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def __call__(self, x, halo: int, precision: str):
        from concurrent.futures import Future

        fut: Future = Future()
        with self.lock:
            self.queue.put((x, halo, precision, fut))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="superres-batcher", daemon=True)
                self.thread.start()
        return fut.result()

    def _take(self, block: bool):
        import queue

        try:
            return self.queue.get(timeout=self.IDLE_S) if block else self.queue.get_nowait()
        except queue.Empty:
            return None

    def _loop(self):
        pending: list = []
        while True:
            if not pending:
                item = self._take(block=True)
                if item is None:  # idle: exit, unless a tile arrived meanwhile
                    with self.lock:
                        if self.queue.empty():
                            self.thread = None
                            return
                    continue
                pending.append(item)
            while (item := self._take(block=False)) is not None:
                pending.append(item)
            group, pending = self._group(pending)
            self._run(group)

    def _group(self, pending):
        """The first tile and the waiting ones like it, up to ``max_batch`` planes; and the others."""
        x0, halo, precision, _ = pending[0]
        group, rest, planes = [], [], 0
        for item in pending:
            x = item[0]
            same = tuple(x.shape[1:]) == tuple(x0.shape[1:]) and item[1:3] == (halo, precision)
            if same and (not group or planes + x.shape[0] <= self.max_batch):
                group.append(item)
                planes += x.shape[0]
            else:
                rest.append(item)
        return group, rest

    def _run(self, group):
        import torch

        try:
            xb = group[0][0] if len(group) == 1 else torch.cat([g[0] for g in group])
            y = forward(self.model, xb, group[0][1], group[0][2])
        except BaseException as exc:  # every waiting task gets the error
            for g in group:
                g[3].set_exception(exc)
            return
        at = 0
        for g in group:
            n = g[0].shape[0]
            g[3].set_result(y[at : at + n])
            at += n


def _batcher(model, max_batch: int) -> _Batcher:
    """The feeder of ``model`` in this process (one per model object and batch size)."""
    key = ("batcher", id(model), max_batch)
    with PROCESS_LOCK:
        b = recall(key)
        if b is None or b.model is not model:
            b = remember(key, _Batcher(model, max_batch))
        return b


def auto_batch(dev) -> int:
    """Tiles per forward pass: 1 on the CPU (batches measured slower there, docs/benchmarks.md), 8 on
    GPUs (not yet measured on one; ``batch=`` overrides)."""
    return 1 if dev.type == "cpu" else 8


# ----------------------------------------------------------------------------- graph helpers
PROCESS_CACHE: dict = {}  # per process: opened sources and loaded models, by their reference
PROCESS_LOCK = threading.Lock()
CACHE_LIMITS = {"source": 2, "model": 4, "batcher": 4}  # the most recently used of each kind are kept
CACHE_MAX_BYTES = 256 << 20  # decoded source chunks kept per source, at most


def remember(key, value):
    """Keep ``value`` under ``key``, dropping the least recently used entries of its kind over the limit
    (call with the lock held)."""
    PROCESS_CACHE.pop(key, None)
    PROCESS_CACHE[key] = value
    same = [k for k in PROCESS_CACHE if k[0] == key[0]]
    for old in same[: max(0, len(same) - CACHE_LIMITS[key[0]])]:
        del PROCESS_CACHE[old]
    return value


def recall(key):
    """The cached value (marked as recently used), or None (call with the lock held)."""
    value = PROCESS_CACHE.pop(key, None)
    if value is not None:
        PROCESS_CACHE[key] = value
    return value


def store_chunks(data) -> tuple | None:
    """The chunk shape of a chunked store (zarr, a TIFF's zarr view, any array-like with integer
    ``chunks``) that windows should be read from through a :class:`~napari_superres.io.ChunkCache`;
    None for numpy arrays, dask arrays (read through dask) and unchunked array-likes."""
    chunks = getattr(data, "chunks", None)
    if chunks is None or isinstance(data, np.ndarray):
        return None
    try:
        return tuple(int(c) for c in chunks)
    except TypeError:  # dask-style tuples of chunk sizes
        return None


class PathSource:
    """A file input by reference: each process (a dask.distributed worker) opens it once itself and
    reads windows through its own chunk cache, so nothing but the path travels with the tasks.
    ``token`` identifies the content (see :func:`~napari_superres.engine.plan.source_token`): a file
    rewritten since is opened afresh, never served from the chunks decoded before."""

    def __init__(self, path: str, axes: str, cache_bytes: int = CACHE_MAX_BYTES, token: str = ""):
        self.path, self.axes, self.cache_bytes, self.token = path, axes, cache_bytes, token

    def _cache(self):
        key = ("source", self.path, self.axes, self.cache_bytes, self.token)
        with PROCESS_LOCK:
            hit = recall(key)
            if hit is not None:
                return hit
            data = open_input(self.path, self.axes).data
            return remember(
                key, ChunkCache(data, self.cache_bytes, self.path) if store_chunks(data) else data
            )

    def __getitem__(self, slices):
        return np.asarray(self._cache()[slices])


def process_model(origin: str, scale: int, consistency: int, device: str, token: str, degradation=None):
    """The model, loaded once per process from its registry name or weights file (graph tasks call this).

    ``degradation``: the operator of its back-projection steps (None: bicubic).
    """
    key = ("model", origin, scale, consistency, device, token)
    with PROCESS_LOCK:
        hit = recall(key)
        if hit is not None:
            return hit
        name = f"{origin}+bp{consistency}" if consistency else origin
        mdl = load_model(name, scale, degradation=degradation if consistency else None)
        return remember(key, mdl.to(device))


class Reader:
    """Makes graph tasks that read a window of the source, whatever kind of array it is. Holds only
    names and chunk sizes (it travels with the lazy tile layer to a cluster); the source itself is
    in :attr:`layer` (stores and arrays) or in :attr:`deps` (a dask input's own graph)."""

    def __init__(self, data, token, path_source=None, cache_bytes: int = CACHE_MAX_BYTES):
        import dask.array as da

        self.is_dask = isinstance(data, da.Array)
        self.layer: dict = {}
        if self.is_dask:
            self.deps = [data]
            self.name, self.chunks = data.name, data.chunks
        else:
            if path_source is not None:
                data = path_source
            elif store_chunks(data):
                data = ChunkCache(data, cache_bytes)  # decode each stored chunk once, not once per tile
            self.key = f"superres-source-{token}"
            self.layer[self.key] = data
            self.deps = []

    def task(self, region):
        slices = tuple(slice(a, b) for a, b in region)
        if not self.is_dask:
            return (read_region, self.key, slices)
        index_lists, local = [], []
        for dim, (a, b) in enumerate(region):
            bounds = np.concatenate([[0], np.cumsum(self.chunks[dim])])
            i0 = int(np.searchsorted(bounds, a, side="right") - 1)
            i1 = int(np.searchsorted(bounds, b, side="left"))
            index_lists.append(range(i0, max(i1, i0 + 1)))
            local.append(slice(int(a - bounds[i0]), int(b - bounds[i0])))

        def nest(dim, prefix):
            if dim == len(index_lists):
                return (self.name, *prefix)
            return [nest(dim + 1, (*prefix, i)) for i in index_lists[dim]]

        return (assemble, nest(0, ()), tuple(local))

    def __getstate__(self):  # the names and chunks travel; the source and a dask input's graph do not
        return {k: v for k, v in self.__dict__.items() if k not in ("layer", "deps")}
