"""Lazy, chunked, seam-free application of a model to an array of any size and dimensionality.

Every output chunk is one task that reads its input window *plus a halo* of the model's
receptive-field radius, clipped at the image borders, runs the network, and keeps the centre.
Because a convolution-only network sees nothing beyond its receptive field, the tiled result
equals the whole-image result for any chunking (up to float rounding); at the image border the
tile *is* the border, so the network's own padding happens exactly where it does on the whole
image.

Intensities are normalised with one global range (per channel), computed lazily from a fixed
sample of windows, never per tile (per-tile statistics would show as seams).

Only Y and X are enlarged; every other axis (T, C, Z, RGB samples) passes through plane by plane,
each plane through the 1-channel model.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from .errors import SuperResError
from .io import SourceImage, open_input
from .normalize import HIGH_PERCENTILE, LOW_PERCENTILE, cast_back, fixed_range

DEFAULT_TILE = 256  # measured fastest for ESPCN on a 2-core CPU (docs/benchmarks.md)
STATS_WINDOW = 256
STATS_WINDOWS_PER_CHANNEL = 8


# ----------------------------------------------------------------------------- task functions
def _read_region(source, slices):
    """A window of an array-like source as a numpy array (tasks call this)."""
    return np.asarray(source[slices])


def _assemble(blocks, slices):
    """Concatenate neighbouring dask blocks and cut the window out (tasks call this)."""
    return np.block(blocks)[slices]


def _stats(windows, channel_of_window, n_channels, low, high, nodata=None):
    """Per-channel (lo, hi) robust percentile range of the sampled windows (nodata pixels left out)."""
    from .normalize import robust_range

    out = np.zeros((n_channels, 2))
    for c in range(n_channels):
        vals = [np.ravel(w) for w, ch in zip(windows, channel_of_window) if ch == c]
        if nodata is not None:
            vals = [v[v != nodata] for v in vals]
        out[c] = robust_range(np.concatenate(vals) if vals else np.zeros(0), low, high)
    return out


@dataclass
class _TileSpec:
    scale: int
    spatial: tuple[int, int]  # positions of Y and X in the block
    crop: tuple  # per axis of the enlarged block: a slice to keep, or (offset, matrix) to resample
    out_dtype: np.dtype  # the output type (integers rounded and clipped)
    normalize: str  # "range" or "none"
    nodata: float | None = None  # missing pixels: filled before the network, set back after
    halo: int = 0  # the model's reach, for splitting a tile that does not fit in the device's memory
    precision: str = "fp32"  # or "bf16" / "fp16": autocast, faster on GPUs, not bit-exact across tiles
    batch: int = 1  # tiles of concurrent tasks gathered into one forward pass (see _Batcher)


def _sr_tile(block, model, ranges, channel, spec: _TileSpec):
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
    planes = moved.reshape(-1, *moved.shape[-2:]).astype(np.float32)
    missing = None
    if spec.nodata is not None:
        missing = moved.reshape(planes.shape) == spec.nodata
        planes = _fill_nearest(planes, missing, ranges[channel][0] if ranges is not None else 0.0)
    if spec.normalize == "range":
        lo, hi = (np.float32(v) for v in ranges[channel])
        planes = (planes - lo) / (hi - lo)
    bad = ~np.isfinite(planes)
    has_bad = bool(bad.any())
    if has_bad:  # NaN/Inf: filled with 0 for the network, NaN again in the output
        planes = np.where(bad, 0.0, planes).astype(np.float32)
    dev = next(iter(model.module.parameters()), torch.zeros(0)).device
    x = torch.from_numpy(planes)[:, None]
    x = x.pin_memory().to(dev, non_blocking=True) if dev.type == "cuda" else x.to(dev)
    if spec.batch > 1:
        y = _batcher(model, spec.batch)(x, spec.halo, spec.precision)
    else:
        y = _forward(model, x, spec.halo, spec.precision)
    y = y[:, 0].float().cpu().numpy()
    s = spec.scale
    if has_bad:
        y[np.repeat(np.repeat(bad, s, axis=1), s, axis=2)] = np.nan
    if spec.normalize == "range":
        y = y * (hi - lo) + lo
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
PRECISIONS = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}


def _device_lock(dev):
    """One caller at a time per GPU (dask threads would only contend for it); none on the CPU."""
    import contextlib

    if dev.type == "cpu":
        return contextlib.nullcontext()
    with _PROCESS_LOCK:
        return _DEVICE_LOCKS.setdefault(str(dev), threading.Lock())


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _forward(model, x, halo: int, precision: str = "fp32"):
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
        return torch.cat([_forward(model, x[:h], halo, precision), _forward(model, x[h:], halo, precision)])
    axis = x.ndim - 2 if x.shape[-2] >= x.shape[-1] else x.ndim - 1
    n, s = x.shape[axis], model.scale
    if n < 2 * halo + 16:
        raise SuperResError(
            f"the device ran out of memory on a {x.shape[-2]}x{x.shape[-1]} tile even after splitting; "
            "use a smaller tile= or device='cpu'"
        )
    mid = n // 2
    top = _forward(model, x.narrow(axis, 0, mid + halo), halo, precision).narrow(axis, 0, mid * s)
    rest = _forward(model, x.narrow(axis, mid - halo, n - mid + halo), halo, precision)
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
            y = _forward(self.model, xb, group[0][1], group[0][2])
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
    with _PROCESS_LOCK:
        b = _recall(key)
        if b is None or b.model is not model:
            b = _remember(key, _Batcher(model, max_batch))
        return b


def auto_batch(dev) -> int:
    """Tiles per forward pass: 1 on the CPU (batches measured slower there, docs/benchmarks.md), 8 on
    GPUs (not yet measured on one; ``batch=`` overrides)."""
    return 1 if dev.type == "cpu" else 8


# ----------------------------------------------------------------------------- graph helpers
_PROCESS_CACHE: dict = {}  # per process: opened sources and loaded models, by their reference
_PROCESS_LOCK = threading.Lock()
_CACHE_LIMITS = {"source": 2, "model": 4, "batcher": 4}  # the most recently used of each kind are kept
CACHE_MAX_BYTES = 256 << 20  # decoded source chunks kept per source, at most


def _remember(key, value):
    """Keep ``value`` under ``key``, dropping the least recently used entries of its kind over the limit
    (call with the lock held)."""
    _PROCESS_CACHE.pop(key, None)
    _PROCESS_CACHE[key] = value
    same = [k for k in _PROCESS_CACHE if k[0] == key[0]]
    for old in same[: max(0, len(same) - _CACHE_LIMITS[key[0]])]:
        del _PROCESS_CACHE[old]
    return value


def _recall(key):
    """The cached value (marked as recently used), or None (call with the lock held)."""
    value = _PROCESS_CACHE.pop(key, None)
    if value is not None:
        _PROCESS_CACHE[key] = value
    return value


def _store_chunks(data) -> tuple | None:
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
    reads windows through its own chunk cache, so nothing but the path travels with the tasks."""

    def __init__(self, path: str, axes: str, cache_bytes: int = CACHE_MAX_BYTES):
        self.path, self.axes, self.cache_bytes = path, axes, cache_bytes

    def _cache(self):
        from .io import ChunkCache, open_input

        key = ("source", self.path, self.axes, self.cache_bytes)
        with _PROCESS_LOCK:
            hit = _recall(key)
            if hit is not None:
                return hit
            data = open_input(self.path, self.axes).data
            return _remember(key, ChunkCache(data, self.cache_bytes) if _store_chunks(data) else data)

    def __getitem__(self, slices):
        return np.asarray(self._cache()[slices])


def _process_model(origin: str, scale: int, consistency: int, device: str, token: str, degradation=None):
    """The model, loaded once per process from its registry name or weights file (graph tasks call this).

    ``degradation``: the operator of its back-projection steps (None: bicubic).
    """
    from .models import load_model

    key = ("model", origin, scale, consistency, device, token)
    with _PROCESS_LOCK:
        hit = _recall(key)
        if hit is not None:
            return hit
        name = f"{origin}+bp{consistency}" if consistency else origin
        mdl = load_model(name, scale, degradation=degradation if consistency else None)
        return _remember(key, mdl.to(device))


class _Reader:
    """Makes graph tasks that read a window of the source, whatever kind of array it is."""

    def __init__(self, data, token, path_source=None, cache_bytes: int = CACHE_MAX_BYTES):
        import dask.array as da

        self.data = data
        self.is_dask = isinstance(data, da.Array)
        self.layer: dict = {}
        if self.is_dask:
            self.deps = [data]
        else:
            if path_source is not None:
                data = path_source
            elif _store_chunks(data):
                from .io import ChunkCache

                data = ChunkCache(data, cache_bytes)  # decode each stored chunk once, not once per tile
            self.key = f"superres-source-{token}"
            self.layer[self.key] = data
            self.deps = []

    def task(self, region):
        slices = tuple(slice(a, b) for a, b in region)
        if not self.is_dask:
            return (_read_region, self.key, slices)
        arr = self.data
        index_lists, local = [], []
        for dim, (a, b) in enumerate(region):
            bounds = np.concatenate([[0], np.cumsum(arr.chunks[dim])])
            i0 = int(np.searchsorted(bounds, a, side="right") - 1)
            i1 = int(np.searchsorted(bounds, b, side="left"))
            index_lists.append(range(i0, max(i1, i0 + 1)))
            local.append(slice(int(a - bounds[i0]), int(b - bounds[i0])))

        def nest(dim, prefix):
            if dim == len(index_lists):
                return (arr.name, *prefix)
            return [nest(dim + 1, (*prefix, i)) for i in index_lists[dim]]

        return (_assemble, nest(0, ()), tuple(local))


STRIP_TILES = 8  # writers take tiles in vertical strips this many tiles wide, row by row within a strip


def stream_order(numblocks, y_ax: int, x_ax: int) -> list[tuple]:
    """Block indices in the order the writers compute them: plane by plane, then vertical strips of
    ``STRIP_TILES`` blocks, top to bottom within a strip, so the source chunks in use at any time
    are a band as wide as a strip, however wide the image."""

    def key(idx):
        other = tuple(v for d, v in enumerate(idx) if d not in (y_ax, x_ax))
        return (*other, idx[x_ax] // STRIP_TILES, idx[y_ax], idx[x_ax])

    return sorted(np.ndindex(*numblocks), key=key)


def band_bytes(shape, chunks, itemsize: int, axes: str, window: int, strip: int | None = None) -> int:
    """Bytes of source chunks that one row of tiles of a strip and the next touch: what the chunk
    cache must hold so that tiles taken in :func:`stream_order` decode each chunk about once.

    A window of ``window`` rows (tile plus both halos) crosses at most ``ceil(window / chunk) + 1``
    chunk rows; one more row covers tiles of two rows in flight at once. Across, the strip
    (``strip`` input pixels and the halos; the full width when None) crosses as many chunk columns,
    plus one; one chunk along every other axis (a tile holds one plane of one channel).
    """
    y_ax, x_ax = axes.index("Y"), axes.index("X")
    rows = -(-window // chunks[y_ax]) + 2
    width = shape[x_ax] if strip is None else min(shape[x_ax], strip + window)
    cols = min(-(-shape[x_ax] // chunks[x_ax]), -(-width // chunks[x_ax]) + 1)
    n = rows * chunks[y_ax] * cols * chunks[x_ax]
    for d, c in enumerate(chunks):
        if d not in (y_ax, x_ax):
            n *= c
    return int(n * itemsize)


def default_tile(halo: int) -> int:
    """Tile size in input pixels: 256, or 8 halos (rounded up to 64) for wide receptive fields."""
    return max(DEFAULT_TILE, -(-8 * halo // 64) * 64)


def _stats_windows(shape, axes, seed=0):
    """Deterministic sample windows (regions) for the statistics, with their channel index."""
    rng = np.random.default_rng(seed)
    y_ax, x_ax = axes.index("Y"), axes.index("X")
    c_ax = axes.index("C") if "C" in axes else None
    n_ch = shape[c_ax] if c_ax is not None else 1
    wy, wx = min(STATS_WINDOW, shape[y_ax]), min(STATS_WINDOW, shape[x_ax])
    regions, chans = [], []
    for c in range(n_ch):
        for _ in range(STATS_WINDOWS_PER_CHANNEL):
            region = []
            for d, n in enumerate(shape):
                if d == y_ax:
                    a = int(rng.integers(0, shape[d] - wy + 1))
                    region.append((a, a + wy))
                elif d == x_ax:
                    a = int(rng.integers(0, shape[d] - wx + 1))
                    region.append((a, a + wx))
                elif d == c_ax:
                    region.append((c, c + 1))
                else:
                    a = int(rng.integers(0, n))
                    region.append((a, a + 1))
            regions.append(tuple(region))
            chans.append(c)
    return regions, chans, n_ch


# ----------------------------------------------------------------------------- public
@dataclass
class Plan:
    """What :func:`build` decided; kept so writers can record provenance and resume safely."""

    source: SourceImage
    model: object
    scale: float
    model_scale: int
    tile: int
    normalize: object
    out_dtype: np.dtype
    token: str
    source_token: str
    graph: object = None
    range_key: str | None = None
    fixed_ranges: object = None
    nodata: float | None = None
    precision: str = "fp32"
    degradation: str = "bicubic"  # the degradation the model and back-projection were told
    auto: dict | None = None  # the report of degradation="auto" (choice, confidence, expected gain)

    def ranges(self):
        """The (n_channels, 2) normalisation ranges (computed from the sample), or None."""
        if self.fixed_ranges is not None:
            return self.fixed_ranges
        if self.range_key is None:
            return None
        from dask.threaded import get

        return get(dict(self.graph), self.range_key)


def _source_token(src: SourceImage) -> str:
    """Identifies the input: content hash for numpy, graph name for dask, location for stores."""
    import dask.array as da
    from dask.base import tokenize

    data = src.data
    if isinstance(data, np.ndarray):
        return tokenize(data)
    if isinstance(data, da.Array):
        return data.name
    store = getattr(data, "store", None)
    if src.path:
        where = src.path
    elif store is not None:
        where = f"{store!r}/{getattr(data, 'path', '')}"
    else:  # some other array-like in memory: identified by the object itself
        where = f"{type(data).__name__}@{id(data)}"
    return tokenize(where, src.shape, str(src.dtype))


def _check_scale(scale) -> float:
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise SuperResError(f"scale must be a number above 1 and at most 8, got {scale!r}") from None
    if not (1 < s <= 8) or not math.isfinite(s):
        raise SuperResError(f"scale must be above 1 and at most 8, got {scale!r}")
    return s


def _check_nodata(nodata, dtype):
    """``nodata`` as a number of the image's type, or None (NaN is handled as missing already)."""
    if nodata is None:
        return None
    try:
        v = float(nodata)
    except (TypeError, ValueError):
        raise SuperResError(f"nodata must be a number, got {nodata!r}") from None
    if math.isnan(v):
        return None  # NaN pixels are always treated as missing
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if not (info.min <= v <= info.max) or not v.is_integer():
            raise SuperResError(
                f"nodata {nodata!r} cannot occur in {dt} data (values {info.min} to {info.max}); "
                "give the value the file uses for missing pixels"
            )
        return int(v)
    return v


def _check_normalize(normalize):
    if normalize is None or (isinstance(normalize, str) and normalize.lower() == "none"):
        return None
    if isinstance(normalize, str):
        if normalize.lower() != "auto":
            parts = normalize.split(",")
            if len(parts) == 2:
                return _check_normalize(tuple(parts))
            raise SuperResError(f"normalize must be 'auto', None or a (lo, hi) pair, got {normalize!r}")
        return "auto"
    try:
        lo, hi = (float(v) for v in normalize)
    except (TypeError, ValueError):
        raise SuperResError(f"normalize must be 'auto', None or a (lo, hi) pair, got {normalize!r}") from None
    if not hi > lo:
        raise SuperResError(f"normalize range needs hi > lo, got ({lo}, {hi})")
    return (lo, hi)


def _range_layer(norm, src: SourceImage, reader: _Reader, token: str, nodata=None):
    """Graph entries giving the (n_channels, 2) normalisation ranges under one key.

    Returns ``(layer, key, fixed)``: ``fixed`` is the array when no statistics are needed
    (uint8, bool, a given (lo, hi), or no normalisation), else None and the key's task samples
    fixed windows of the source and takes their percentiles when the graph runs.
    """
    c_ax = src.axes.index("C") if "C" in src.axes else None
    n_ch = src.shape[c_ax] if c_ax is not None else 1
    fixed = None
    if norm == "auto":
        rng = fixed_range(src.dtype)
        if rng is None:
            regions, chans, n_ch = _stats_windows(src.shape, src.axes)
            key = f"superres-range-{token}"
            windows = [reader.task(r) for r in regions]
            task = (_stats, windows, chans, n_ch, LOW_PERCENTILE, HIGH_PERCENTILE, nodata)
            return {key: task}, key, None
        fixed = np.tile(np.array(rng, dtype=np.float64), (n_ch, 1))
    elif isinstance(norm, tuple):
        fixed = np.tile(np.array(norm, dtype=np.float64), (n_ch, 1))
    key = f"superres-fixedrange-{token}"
    return {key: fixed}, key, fixed


def build(
    image,
    model="default",
    scale=2,
    *,
    axes=None,
    normalize="auto",
    tile=None,
    device="auto",
    consistency=False,
    nodata=None,
    precision="fp32",
    batch=None,
    streaming=False,
    degradation=None,
):
    """The lazy enlarged array and its :class:`Plan`. Never runs the network (``degradation="auto"``
    runs it once on a few windows of the input to choose, a global choice cached per input).

    ``streaming``: the caller computes the blocks in :func:`stream_order` (the writers do), so the
    cache of decoded source chunks holds one band of a strip; memory then stays flat however large
    the image. Otherwise (a lazy array computed in any order) it keeps up to ``CACHE_MAX_BYTES``.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    from .device import resolve_device
    from .models import load_model

    src = open_input(image, axes)
    s = _check_scale(scale)
    n = math.ceil(s - 1e-9)
    deg, auto = _resolve_degradation(degradation, src, model, n, device, nodata)
    if auto is not None and auto["fallback"]:
        model = "bicubic"
    mdl = load_model(model, n, degradation=deg)
    if mdl.axial:
        raise SuperResError(
            f"model {mdl.name!r} enlarges along one axis only; use napari_superres.isotropic for Z stacks"
        )
    if mdl.scale != n:
        raise SuperResError(f"model {mdl.name!r} enlarges x{mdl.scale}, not x{n}; pass scale={mdl.scale}")
    if consistency:
        from .models.consistency import DEFAULT_ITERATIONS, with_consistency

        told = deg if degradation is not None else None  # unsaid: the weights' own degradation
        mdl = with_consistency(mdl, DEFAULT_ITERATIONS if consistency is True else consistency, told)
    dev = resolve_device(device)
    if precision not in PRECISIONS:
        raise SuperResError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and dev.type == "cpu":
        raise SuperResError("fp16 runs on GPUs; on the CPU use precision='bf16' or 'fp32'")
    if batch is None:
        batch = auto_batch(dev)
    elif isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise SuperResError(f"batch must be a whole number of tiles (1 or more), got {batch!r}")
    mdl.to(dev)
    if src.dtype.kind not in "biuf":
        raise SuperResError(f"cannot enlarge {src.dtype} data; give an integer or floating-point image")
    norm = _check_normalize(normalize)
    if norm is None and src.dtype.kind != "f":
        raise SuperResError("normalize=None passes float32 values through and needs float input; use 'auto'")
    shape, axes_s = src.shape, src.axes
    y_ax, x_ax = axes_s.index("Y"), axes_s.index("X")
    H, W = shape[y_ax], shape[x_ax]
    if any(d == 0 for d in shape):
        raise SuperResError(f"the image is empty (shape {shape}); nothing to enlarge")
    if min(H, W) < mdl.min_size:
        raise SuperResError(
            f"the image is {H}x{W} pixels (YxX); model {mdl.name!r} needs at least "
            f"{mdl.min_size}x{mdl.min_size}: check the axes or use a larger image"
        )
    nodata = _check_nodata(src.nodata if nodata is None else nodata, src.dtype)
    halo = mdl.halo
    # with nodata, windows reach one halo further: a missing pixel the network sees is filled from
    # a valid pixel at most one halo away, inside the window, so tiling stays exact
    read_halo = 2 * halo if nodata is not None else halo
    try:
        t = int(tile) if tile is not None else default_tile(halo)
    except (TypeError, ValueError):
        t = 0
    if t < 1 or (tile is not None and t != tile):
        raise SuperResError(f"tile must be a positive number of input pixels, got {tile!r}")
    c_ax = axes_s.index("C") if "C" in axes_s else None
    if not mdl.exact_tiling and (H > t or W > t):
        import warnings

        warnings.warn(
            f"model {mdl.name!r} is not exactly tileable (global pooling, or a reach we do not know): each {t}-pixel tile is read "
            f"with a {halo}-pixel halo, and tiles can differ slightly from a whole-image run; "
            "a larger tile= makes the difference smaller",
            UserWarning,
            stacklevel=3,
        )

    src_token = _source_token(src)
    token = tokenize(src_token, mdl.token, n, t, str(norm), axes_s, str(dev), str(nodata), precision)
    # files are read by reference (each worker process opens them itself)
    by_path = (
        src.path is not None
        and not isinstance(src.data, np.ndarray)
        and src.path.lower().endswith((".tif", ".tiff", ".btf", ".tf8", ".zarr"))
    )
    # streaming: the decoded-chunk cache holds the band of chunks the current rows of tiles need, no
    # more, so memory does not grow with the image (a cache of everything grew with it, up to its cap)
    cache_bytes = CACHE_MAX_BYTES
    chunk_sizes = _store_chunks(src.data)
    if streaming and chunk_sizes and len(chunk_sizes) == len(shape):
        window = t + 2 * read_halo
        need = band_bytes(shape, chunk_sizes, src.dtype.itemsize, axes_s, window, STRIP_TILES * t)
        cache_bytes = min(CACHE_MAX_BYTES, need)
    path_source = PathSource(src.path, src.axes, cache_bytes) if by_path else None
    reader = _Reader(src.data, token, path_source, cache_bytes)
    layers = dict(reader.layer)

    range_layer, range_key, ranges = _range_layer(norm, src, reader, token, nodata)
    layers.update(range_layer)
    model_key = f"superres-model-{mdl.token}-{dev}"
    if mdl.origin is not None:  # loaded once per process from its name or file, never shipped whole
        iters = int(mdl.config.get("consistency_iterations", 0))
        told = mdl.config.get("consistency_degradation")
        layers[model_key] = (_process_model, mdl.origin, n, iters, str(dev), mdl.token, told)
        with _PROCESS_LOCK:
            key = ("model", mdl.origin, n, iters, str(dev), mdl.token)
            if _recall(key) is None:
                _remember(key, mdl)
    else:
        layers[model_key] = mdl

    final_dtype = np.dtype(np.float32) if norm is None else src.dtype
    if final_dtype.kind == "f" and final_dtype.itemsize < 4:
        final_dtype = np.dtype(np.float32)

    # ---- one task per output block: window + halo through the network, keep (or resample) the centre
    axis_plans = [
        _spatial_blocks(length, t, read_halo, n, s)
        if d in (y_ax, x_ax)
        else [((i, i + 1), 1, slice(None)) for i in range(length)]
        for d, length in enumerate(shape)
    ]
    name = f"superres-x{s:g}-{token}"
    for idx in np.ndindex(*[len(p) for p in axis_plans]):
        blocks = [axis_plans[d][i] for d, i in enumerate(idx)]
        region = [b[0] for b in blocks]
        spec = _TileSpec(
            scale=n,
            spatial=(y_ax, x_ax),
            crop=tuple(b[2] for b in blocks),
            out_dtype=final_dtype,
            normalize="none" if norm is None else "range",
            nodata=nodata,
            halo=halo,
            precision=precision,
            batch=int(batch),
        )
        channel = region[c_ax][0] if c_ax is not None else 0  # blocks hold one plane of one channel
        layers[(name, *idx)] = (_sr_tile, reader.task(region), model_key, range_key, channel, spec)
    graph = HighLevelGraph.from_collections(name, layers, dependencies=reader.deps)
    out_chunks = tuple(tuple(b[1] for b in p) for p in axis_plans)
    result = da.Array(graph, name, chunks=out_chunks, dtype=final_dtype)
    plan = Plan(
        src,
        mdl,
        s,
        n,
        t,
        norm,
        final_dtype,
        token,
        src_token,
        graph,
        range_key if ranges is None else None,
        ranges,
        nodata=nodata,
        precision=precision,
        degradation=str(deg) if degradation is not None else mdl.degradation,
        auto=auto,
    )
    return result, plan


def _resolve_degradation(degradation, src, model, n: int, device, nodata):
    """The :class:`~napari_superres.degradation.Degradation` to use, and the ``auto`` report (or None)."""
    from .degradation import DegradationError, parse_degradation

    if isinstance(degradation, str) and degradation.strip().lower() == "auto":
        from .estimate import estimate_degradation, sample_windows

        if src.dtype.kind not in "biuf":
            raise SuperResError(f"cannot enlarge {src.dtype} data; give an integer or floating-point image")
        key = (_source_token(src), str(model), n, str(nodata))
        report = estimate_degradation(
            sample_windows(src.data, src.axes), model, n, device="cpu", key=key, nodata=nodata
        )
        return parse_degradation(report["choice"]), report
    try:
        return parse_degradation(degradation), None
    except DegradationError as exc:
        raise SuperResError(str(exc)) from None


def _spatial_blocks(length: int, tile: int, halo: int, n: int, s: float):
    """Output blocks along Y or X: ``(input window with halo, output size, what to keep)``.

    Integer scale: tiles of ``tile`` input pixels, keeping the enlarged centre. Non-integer scale
    ``s``: output blocks of ``round(tile * s)`` pixels; each reads the input pixels its rows of the
    global resampling matrix (x``n`` result -> x``s``) touch, plus the halo, and resamples them in
    the same task, so the network runs once per block and tiling stays exact.
    """
    if abs(s - n) < 1e-9:
        out = []
        for a in range(0, length, tile):
            b = min(length, a + tile)
            ra, rb = max(0, a - halo), min(length, b + halo)
            out.append(((ra, rb), (b - a) * n, slice((a - ra) * n, (b - ra) * n)))
        return out
    from .degradation import contributions

    out_len = math.ceil(length * s - 1e-9)
    w, idx = contributions(length * n, out_len, s / n)
    size = max(1, round(tile * s))
    out = []
    for o0 in range(0, out_len, size):
        o1 = min(out_len, o0 + size)
        rows = idx[o0:o1]
        lo, hi = int(rows.min()), int(rows.max()) + 1  # rows of the x n result these outputs need
        a, b = lo // n, -(-hi // n)
        ra, rb = max(0, a - halo), min(length, b + halo)
        mat = np.zeros((o1 - o0, hi - lo))
        np.add.at(mat, (np.repeat(np.arange(o1 - o0), idx.shape[1]), (rows - lo).ravel()), w[o0:o1].ravel())
        out.append(((ra, rb), o1 - o0, (lo - ra * n, mat)))
    return out


def upscale(
    image,
    model="default",
    scale=2,
    *,
    axes: str | None = None,
    normalize="auto",
    tile: int | None = None,
    device: str = "auto",
    consistency: bool | int = False,
    nodata=None,
    precision: str = "fp32",
    batch: int | None = None,
    degradation=None,
    out=None,
    overwrite: bool = False,
    progress=None,
    scheduler=None,
):
    """Enlarge ``image`` with a super-resolution model, lazily and seam-free.

    Parameters
    ----------
    image : numpy, dask or zarr array, or path
        TIFF, zarr, OME-Zarr, PNG/JPEG path, or an array of any dimensionality.
    model : str or path
        Registry name (``"default"``, ``"espcn"``, ``"ibp"``, ``"bicubic"``) or ``.safetensors``.
    scale : float
        Enlargement of Y and X, above 1 and at most 8. A non-integer scale runs the next integer
        model, then resamples down with antialiasing.
    axes : str, optional
        Axis letters (``"YX"``, ``"ZYX"``, ``"TCZYX"``, ``"YXC"``); inferred when omitted.
    normalize : "auto", None or (lo, hi)
        ``"auto"``: uint8 / 255; other types mapped by global robust percentiles
        (0.1-99.9, per channel, from a fixed sample of windows) and mapped back after.
        ``None``: float values passed through unchanged (float32 out). ``(lo, hi)``: that range.
    tile : int, optional
        Tile (chunk) size in input pixels; each tile is read with a halo. Default 256, or
        8 halos for models with a wide receptive field.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    consistency : bool or int
        After the network, back-project onto the input (5 iterations, or this many) so that
        downscaling the result reproduces the input; the halo grows to keep tiling exact.
    nodata : number, optional
        The value of missing pixels (default: the file's GDAL_NODATA tag, if any). They are left
        out of the statistics, filled from the nearest valid pixel before the network (no ringing
        bleeds from them), and set back to ``nodata`` in the output (the mask enlarged by nearest
        neighbour); no valid output pixel equals ``nodata``.
    precision : "fp32", "bf16" or "fp16"
        Autocast the network to a 16-bit type (faster on GPUs; fp16 only there). Not bit-exact
        across tiles; the quality cost is measured in docs/benchmarks.md.
    batch : int, optional
        Up to this many tiles of concurrent tasks go through the network in one pass. Default:
        8 on a GPU, 1 on the CPU (where batching is slower, measured in docs/benchmarks.md).
    degradation : str, array or Degradation, optional
        How the image was made from the scene: ``"bicubic"`` (the default: what benchmark
        photographs are), ``"binning"`` (a camera or detector integrating over its pixels),
        ``"gaussian:SIGMA"`` (an optical PSF of SIGMA output pixels, then binning;
        ``"gaussian:fwhm=F,pixel=P"`` from physics), a measured PSF (2-D array or .npy/.tif/.txt
        file), or ``"auto"``: estimated from the image (a few windows shrunk by each candidate and
        enlarged back), falling back to bicubic interpolation when no model is expected to beat it.
        Picks the model's weights trained for it and the back-projection operator; recorded in
        the output metadata. See docs/real-data.md.
    out : path, optional
        Write an OME-Zarr there (resumable) and return the written level-0 zarr array.
    overwrite : bool
        Replace an existing output made with other settings.
    progress : callable, optional
        Called with a dict ``{"done": chunks, "total": chunks, ...}`` while writing.
    scheduler : dask.distributed Client or address, optional
        Where ``out`` is computed (default: the active Client, if any, else local threads).

    Returns
    -------
    dask.array.Array (lazy) or zarr.Array (with ``out``)

    Examples
    --------
    >>> import numpy as np, napari_superres as nsr
    >>> big = nsr.upscale(np.zeros((600, 800), np.uint16), scale=2)
    >>> big.shape, big.dtype
    ((1200, 1600), dtype('uint16'))
    """
    opts = dict(
        axes=axes,
        normalize=normalize,
        tile=tile,
        device=device,
        consistency=consistency,
        nodata=nodata,
        precision=precision,
        batch=batch,
        degradation=degradation,
    )
    if out is not None:
        from .store import write

        return write(
            image,
            out,
            model=model,
            scale=scale,
            overwrite=overwrite,
            progress=progress,
            scheduler=scheduler,
            **opts,
        )
    result, _ = build(image, model, scale, **opts)
    return result
