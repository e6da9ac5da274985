"""Planning the dask graph of an upscale: one task per output block (its input window plus the halo),
the global normalisation range, the model loaded once per process, the order writers compute
blocks in, and the :class:`Plan` writers record. Building never runs the network
(``degradation="auto"`` runs it once on a few windows, cached).

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

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..errors import SuperResError, opt
from ..io import SourceImage, open_input
from ..normalize import HIGH_PERCENTILE, LOW_PERCENTILE, fixed_range
from .options import UpscaleOptions, check_nodata
from .run import (
    CACHE_MAX_BYTES,
    PROCESS_LOCK,
    PathSource,
    Reader,
    TileSpec,
    auto_batch,
    process_model,
    recall,
    remember,
    sr_tile,
    stats,
    store_chunks,
)
from .tiles import TileLayer

DEFAULT_TILE = 256  # measured fastest for ESPCN on a 2-core CPU (docs/benchmarks.md)
STATS_WINDOW = 256
STATS_WINDOWS_PER_CHANNEL = 8

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


SUPPORT = "superres-support-"  # name prefix of the layer of the tasks all tiles share


@dataclass
class TileTask:
    """The task of one output block (picklable: the lazy tile layer travels to a cluster's scheduler)."""

    axis_plans: list
    reader: Reader
    model_key: str
    range_key: str
    c_ax: int | None
    spec: TileSpec

    def __call__(self, idx: tuple):
        blocks = [self.axis_plans[d][i] for d, i in enumerate(idx)]
        region = [b[0] for b in blocks]
        channel = region[self.c_ax][0] if self.c_ax is not None else 0  # one plane of one channel per block
        spec = dataclasses.replace(self.spec, crop=tuple(b[2] for b in blocks))
        return (sr_tile, self.reader.task(region), self.model_key, self.range_key, channel, spec)


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

        return get(self.support_graph(), self.range_key)

    def support_graph(self) -> dict:
        """Every task of the graph but the tiles' (the source, model and ranges, and a dask input's
        own graph): small for stored inputs, whatever the image's size."""
        return {
            k: v
            for layer in self.graph.layers.values()
            if not isinstance(layer, TileLayer)
            for k, v in layer.items()
        }


def source_token(src: SourceImage) -> str:
    """Identifies the input and its content: a content hash for numpy, the graph name for dask, and for
    stores and files their location with :func:`~napari_superres.io.stamp.input_stamp` (sizes, times
    and sampled pixels), so a rewritten input is never taken for the one read before."""
    import dask.array as da
    from dask.base import tokenize

    from ..io.stamp import input_stamp

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
    local = src.path or getattr(store, "root", None)
    return tokenize(where, src.shape, str(src.dtype), input_stamp(local, data, src.axes))


def _range_layer(norm, src: SourceImage, reader: Reader, token: str, nodata=None):
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
            task = (stats, windows, chans, n_ch, LOW_PERCENTILE, HIGH_PERCENTILE, nodata)
            return {key: task}, key, None
        fixed = np.tile(np.array(rng, dtype=np.float64), (n_ch, 1))
    elif isinstance(norm, tuple):
        fixed = np.tile(np.array(norm, dtype=np.float64), (n_ch, 1))
    key = f"superres-fixedrange-{token}"
    return {key: fixed}, key, fixed


def build(image, options: UpscaleOptions, *, streaming: bool = False):
    """The lazy enlarged array and its :class:`Plan`. Never runs the network (``degradation="auto"``
    runs it once on a few windows of the input to choose, a global choice cached per input).

    ``image``: anything :func:`~napari_superres.io.open_input` takes (a :class:`SourceImage` is used as
    it is). ``streaming``: the caller computes the blocks in :func:`stream_order` (the writers do), so
    the cache of decoded source chunks holds one band of a strip; memory then stays flat however large
    the image. Otherwise (a lazy array computed in any order) it keeps up to ``CACHE_MAX_BYTES``.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

    from ..device import resolve_device
    from ..models import load_model

    o = options
    src = open_input(image, o.axes)
    src_token = source_token(src)  # reads the input's stamp: once per build
    s, n = o.scale, o.model_scale
    deg, auto = _resolve_degradation(o.degradation, src, src_token, o.model, n, o.nodata)
    if auto is not None:  # the blend of the candidates' weights, or bicubic interpolation
        from .auto import auto_model

        mdl = auto_model(auto, o.model, n)
    else:
        mdl = load_model(o.model, n, degradation=deg)
    if mdl.axial:
        raise SuperResError(
            f"model {mdl.name!r} enlarges along one axis only; use napari_superres.isotropic for Z stacks"
        )
    if mdl.scale != n:
        raise SuperResError(f"model {mdl.name!r} enlarges x{mdl.scale}, not x{n}: {opt('scale', mdl.scale)}")
    if o.consistency:
        from ..models.wrappers import with_consistency

        told = deg if o.degradation is not None else None  # unsaid: the weights' own degradation
        mdl = with_consistency(mdl, o.consistency, told)
    dev = resolve_device(o.device)
    precision = o.precision
    if precision == "fp16" and dev.type == "cpu":
        raise SuperResError(f"fp16 runs on GPUs; on the CPU: {opt('precision', 'bf16')} (or fp32)")
    batch = auto_batch(dev) if o.batch is None else o.batch
    mdl.to(dev)
    if src.dtype.kind not in "biuf":
        raise SuperResError(f"cannot enlarge {src.dtype} data; give an integer or floating-point image")
    norm = o.normalize
    if norm is None and src.dtype.kind != "f":
        raise SuperResError(
            f"{opt('normalize', None)} passes float32 values through and needs float input: "
            f"{opt('normalize', 'auto')}"
        )
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
    nodata = check_nodata(src.nodata if o.nodata is None else o.nodata, src.dtype)
    halo = mdl.halo
    # with nodata, windows reach one halo further: a missing pixel the network sees is filled from
    # a valid pixel at most one halo away, inside the window, so tiling stays exact
    read_halo = 2 * halo if nodata is not None else halo
    t = o.tile if o.tile is not None else default_tile(halo)
    c_ax = axes_s.index("C") if "C" in axes_s else None
    if not mdl.exact_tiling and (H > t or W > t):
        import warnings

        warnings.warn(
            f"model {mdl.name!r} is not exactly tileable (global pooling, or a reach we do not know): each {t}-pixel tile is read "
            f"with a {halo}-pixel halo, and tiles can differ slightly from a whole-image run; "
            "a larger tile= makes the difference smaller",
            UserWarning,
            stacklevel=4,
        )

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
    chunk_sizes = store_chunks(src.data)
    if streaming and chunk_sizes and len(chunk_sizes) == len(shape):
        window = t + 2 * read_halo
        need = band_bytes(shape, chunk_sizes, src.dtype.itemsize, axes_s, window, STRIP_TILES * t)
        cache_bytes = min(CACHE_MAX_BYTES, need)
    path_source = PathSource(src.path, src.axes, cache_bytes, src_token) if by_path else None
    reader = Reader(src.data, token, path_source, cache_bytes)
    layers = dict(reader.layer)

    range_layer, range_key, ranges = _range_layer(norm, src, reader, token, nodata)
    layers.update(range_layer)
    model_key = f"superres-model-{mdl.token}-{dev}"
    if mdl.origin is not None:  # loaded once per process from its name or file, never shipped whole
        iters = int(mdl.config.get("consistency_iterations", 0))
        told = mdl.config.get("consistency_degradation")
        layers[model_key] = (process_model, mdl.origin, n, iters, str(dev), mdl.token, told)
        with PROCESS_LOCK:
            key = ("model", mdl.origin, n, iters, str(dev), mdl.token)
            if recall(key) is None:
                remember(key, mdl)
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
    spec = TileSpec(
        scale=n,
        spatial=(y_ax, x_ax),
        crop=(),
        out_dtype=final_dtype,
        normalize="none" if norm is None else "range",
        nodata=nodata,
        halo=halo,
        precision=precision,
        batch=int(batch),
    )

    tile_task = TileTask(axis_plans, reader, model_key, range_key, c_ax, spec)
    # the tiles' tasks are made when asked for; the few they share (the source, the model, the
    # normalisation ranges) form a small layer of their own
    base = HighLevelGraph.from_collections(name, TileLayer(name, axis_plans, tile_task), reader.deps)
    inputs = set(base.dependencies[name])
    graph = HighLevelGraph(
        {**base.layers, SUPPORT + name: MaterializedLayer(layers)},
        {**base.dependencies, name: inputs | {SUPPORT + name}, SUPPORT + name: inputs},
    )
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
        degradation=str(deg) if o.degradation is not None else mdl.degradation,
        auto=auto,
    )
    return result, plan


def auto_report(image, options: UpscaleOptions) -> dict | None:
    """What ``degradation="auto"`` makes of ``image`` under ``options`` (the report :func:`build`
    uses, from the same per-input cache), or None when the options name a degradation or the model
    has one set of weights. For a caller that holds only the lazy result (napari's preview)."""
    if options.degradation != "auto":
        return None
    o = options
    src = open_input(image, o.axes)
    return _resolve_degradation(o.degradation, src, source_token(src), o.model, o.model_scale, o.nodata)[1]


def _resolve_degradation(degradation, src, src_token: str, model, n: int, nodata):
    """The :class:`~napari_superres.degradation.Degradation` to use, and the ``auto`` report (or None).

    ``degradation``: as :class:`UpscaleOptions` holds it (None, ``"auto"`` or a Degradation);
    ``src_token``: :func:`source_token` of ``src``, the key of the cached choice."""
    from ..degradation import parse_degradation

    if degradation == "auto":
        from ..models import load_model
        from .auto import candidates, estimate_degradation, sample_windows

        if len(candidates(model, n)) < 2:  # one set of weights (or none): nothing to choose
            own = load_model(model, n).degradation
            try:
                return parse_degradation(own), None
            except SuperResError:  # weights for a family of PSF widths: as before, bicubic
                return parse_degradation(None), None

        if src.dtype.kind not in "biuf":
            raise SuperResError(f"cannot enlarge {src.dtype} data; give an integer or floating-point image")
        key = (src_token, str(model), n, str(nodata))
        report = estimate_degradation(
            sample_windows(src.data, src.axes), model, n, device="cpu", key=key, nodata=nodata
        )
        return parse_degradation(report["choice"]), report
    return parse_degradation(degradation), None


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
    from ..degradation import contributions

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
