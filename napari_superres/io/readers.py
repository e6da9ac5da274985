"""Readers and writers: PNG/JPEG/BMP, TIFF (lazily, through tifffile's zarr store), zarr, OME-Zarr."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SuperResError, first_line, opt

PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
TIFF_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8"}
IMAGE_SUFFIXES = PIL_SUFFIXES | TIFF_SUFFIXES  # files read whole by read_image_file


def read_image_file(path: str | Path) -> np.ndarray:
    """A whole small image file (PNG, JPEG, BMP, WebP, TIFF) as a numpy array (YX, YXC for colour)."""
    p = Path(path)
    if not p.exists():
        raise SuperResError(f"{p} does not exist; check the path")
    suffix = p.suffix.lower()
    try:
        if suffix in PIL_SUFFIXES:
            from PIL import Image

            with Image.open(p) as im:
                if im.mode in ("P", "CMYK", "LA", "PA"):
                    im = im.convert("RGBA" if "A" in im.mode else "RGB")
                return np.asarray(im)
        if suffix in TIFF_SUFFIXES:
            import tifffile

            return tifffile.imread(p)
    except (OSError, ValueError) as exc:
        raise SuperResError(f"cannot read {p} as an image ({exc}); check the file is not damaged") from exc
    raise SuperResError(f"unknown image format {suffix!r} for {p}; use PNG, JPEG, BMP, WebP or TIFF")


# ----------------------------------------------------------------------------- lazy inputs
OME_ORDER = "TCZYX"
_TIFF_AXES = {"S": "C", "I": "Z", "Q": "Z", "E": "C", "R": "Z"}


class SourceImage:
    """An input image: a lazily sliceable array, its axes, and its physical metadata.

    ``data`` is a numpy, zarr or dask array; ``scale`` and ``translation`` hold one number per
    axis (1 and 0 when unknown); ``units`` maps axis letters to units; ``channel_names`` lists
    channel labels when known; ``path`` is where it came from (None for arrays in memory).
    """

    def __init__(
        self,
        data,
        axes,
        scale=None,
        translation=None,
        units=None,
        channel_names=None,
        path=None,
        name="image",
    ):
        self.data = data
        self.axes = axes
        self.scale = list(scale) if scale is not None else [1.0] * len(axes)
        self.translation = list(translation) if translation is not None else [0.0] * len(axes)
        self.units = dict(units or {})
        self.channel_names = list(channel_names) if channel_names else None
        self.path = path
        self.name = name
        self.geo = None  # GeoTIFF georeference (see napari_superres.io.geo), when the input has one
        self.nodata = None  # the value of missing pixels, when the input declares one

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return np.dtype(self.data.dtype)


def infer_axes(shape) -> str:
    """Axis letters for an array shape: YX, YXC (RGB/RGBA last), ZYX, TZYX, TCZYX."""
    nd = len(shape)
    if nd == 2:
        return "YX"
    if nd == 3 and shape[-1] in (3, 4) and shape[0] > 4:
        return "YXC"
    guesses = {3: "ZYX", 4: "TZYX", 5: "TCZYX"}
    if nd not in guesses:
        raise SuperResError(
            f"cannot infer axes of a {nd}-D array with shape {tuple(shape)}: {opt('axes', 'TCZYX')} or the like"
        )
    return guesses[nd]


def check_axes(axes, shape) -> str:
    """Validate an axes string against a shape; returns it upper-cased."""
    if not isinstance(axes, str):
        raise SuperResError(f"axes must be a string such as 'ZYX', got {axes!r}")
    ax = axes.upper()
    bad = sorted(set(ax) - set(OME_ORDER))
    if bad or len(set(ax)) != len(ax) or "Y" not in ax or "X" not in ax or len(ax) != len(shape):
        raise SuperResError(
            f"axes {axes!r} do not fit an array of shape {tuple(shape)}: give one letter per dimension "
            "from T, C, Z, Y, X, each at most once, including Y and X (e.g. 'YX', 'ZYX', 'YXC')"
        )
    return ax


def ome_multiscale_attrs(attrs: dict):
    ome = attrs.get("ome", attrs)
    ms = ome.get("multiscales")
    return (ms[0], ome) if ms else (None, ome)


def _open_zarr(path: Path):
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:  # zarr raises several types for "not a zarr"
        if path.is_dir() and not any((path / n).exists() for n in ("zarr.json", ".zarray", ".zgroup")):
            raise SuperResError(
                f"{path} is a folder, not an image: give one image file (TIFF, PNG, JPEG) or a zarr / "
                "OME-Zarr store; for many files, run once per file"
            ) from None
        raise SuperResError(f"cannot open {path} as zarr ({exc.__class__.__name__}); check the path") from exc
    if isinstance(node, zarr.Array):
        return SourceImage(node, infer_axes(node.shape), path=str(path), name=path.stem)
    ms, ome = ome_multiscale_attrs(dict(node.attrs))
    if ms is None:
        arrays = sorted(k for k, _ in node.arrays())
        raise SuperResError(
            f"{path} is a zarr group without OME-Zarr multiscales; open one of its arrays "
            f"({', '.join(arrays) or 'none found'}) by path"
        )
    arr, axes, scale, translation, axes_meta = _ome_level0(path, node, ms)
    units = {a["name"].upper(): a["unit"] for a in axes_meta if isinstance(a, dict) and a.get("unit")}
    channels = [c.get("label", "") for c in ome.get("omero", {}).get("channels", [])] or None
    return SourceImage(
        arr,
        check_axes(axes, arr.shape),
        scale,
        translation,
        units,
        channels,
        path=str(path),
        name=ms.get("name") or path.name.split(".")[0],
    )


def _ome_level0(path: Path, node, ms: dict):
    """Level 0 of OME-Zarr multiscales ``ms``: ``(array, axes, scale, translation, axes metadata)``,
    with every field checked, so metadata that lies is said in one line instead of failing later."""

    def bad(problem: str):
        return SuperResError(
            f"the OME-Zarr metadata of {path} is inconsistent: {problem}; fix its zarr.json, or open "
            "the level-0 array inside the store by its path"
        )

    datasets = ms.get("datasets")
    if not isinstance(datasets, list) or not datasets or not isinstance(datasets[0], dict):
        raise bad("multiscales lists no datasets")
    ds0 = datasets[0]
    try:
        arr = node[str(ds0.get("path"))]
    except Exception:  # zarr raises KeyError or its own errors for a missing member
        raise bad(f"dataset path {ds0.get('path')!r} is not an array in the store") from None
    if not hasattr(arr, "shape"):
        raise bad(f"dataset path {ds0.get('path')!r} is a group, not an array")
    axes_meta = ms.get("axes") or [{"name": a} for a in "tczyx"[-arr.ndim :]]
    names = [a if isinstance(a, str) else a.get("name") if isinstance(a, dict) else None for a in axes_meta]
    if not all(isinstance(n, str) and len(n) == 1 for n in names):
        raise bad(f"axes {names} need one-letter names (t, c, z, y, x)")
    if len(names) != arr.ndim:
        raise bad(f"{len(names)} axes for a {arr.ndim}-D array")
    scale, translation = [1.0] * arr.ndim, [0.0] * arr.ndim
    for tr in list(ms.get("coordinateTransformations", [])) + list(ds0.get("coordinateTransformations", [])):
        kind = tr.get("type") if isinstance(tr, dict) else None
        if kind not in ("scale", "translation"):
            continue
        values = tr.get(kind)
        if not isinstance(values, list) or len(values) != arr.ndim:
            raise bad(f"a {kind} needs {arr.ndim} values (one per axis), got {values!r}")
        try:
            values = [float(v) for v in values]
        except (TypeError, ValueError):
            raise bad(f"a {kind} holds a value that is not a number: {values!r}") from None
        if not all(np.isfinite(values)) or (kind == "scale" and min(values) <= 0):
            raise bad(f"a {kind} must be finite{' and positive' if kind == 'scale' else ''}, got {values}")
        if kind == "scale":
            scale = [a * b for a, b in zip(scale, values)]
        else:
            translation = [a + b for a, b in zip(translation, values)]
    return arr, "".join(names).upper(), scale, translation, axes_meta


_LENGTH_UNITS = {
    "um": "micrometer",
    "µm": "micrometer",
    "micron": "micrometer",
    "nm": "nanometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "pixel": None,
}


def _unit(text) -> str | None:
    t = str(text or "").strip()
    return _LENGTH_UNITS.get(t, t or None) if t.lower() != "pixel" else None


def _ome_tiff_metadata(xml: str, axes: str, shape) -> dict:
    """Pixel sizes, units, time step and channel names from OME-XML; checks Size* against the pixels."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    pixels = next((el for el in root.iter() if el.tag.endswith("}Pixels") or el.tag == "Pixels"), None)
    if pixels is None:
        return {}
    a = pixels.attrib
    for letter in "TCZYX":
        size = a.get(f"Size{letter}")
        if size is None:
            continue
        have = shape[axes.index(letter)] if letter in axes else 1
        if int(size) != have and not (letter == "C" and int(size) == 1 and letter not in axes):
            raise SuperResError(
                f"the OME metadata says Size{letter}={size} but the pixel data have {have} along {letter}; "
                "the file is inconsistent: fix its metadata (e.g. with bfconvert) before enlarging it"
            )
    scale, units = {}, {}
    for letter in "XYZ":
        if a.get(f"PhysicalSize{letter}"):
            scale[letter] = float(a[f"PhysicalSize{letter}"])
            units[letter] = _unit(a.get(f"PhysicalSize{letter}Unit", "µm"))
    if a.get("TimeIncrement"):
        scale["T"] = float(a["TimeIncrement"])
        units["T"] = {"s": "second", "ms": "millisecond", "min": "minute", "h": "hour"}.get(
            a.get("TimeIncrementUnit", "s"), a.get("TimeIncrementUnit", "s")
        )
    names = [el.attrib.get("Name", "") for el in pixels if el.tag.endswith("Channel")]
    return {"scale": scale, "units": units, "channel_names": names if any(names) else None}


def _imagej_metadata(tf, page) -> dict:
    """Pixel sizes (XResolution/YResolution, spacing, finterval) and unit from an ImageJ TIFF."""
    ij = tf.imagej_metadata or {}
    unit = _unit(ij.get("unit"))
    scale, units = {}, {}
    for letter, tag in (("X", "XResolution"), ("Y", "YResolution")):
        res = page.tags.get(tag)
        if res is not None and unit is not None:
            num, den = res.value
            if num:
                scale[letter], units[letter] = den / num, unit
    if ij.get("spacing") and unit is not None:
        scale["Z"], units["Z"] = float(ij["spacing"]), unit
    if ij.get("finterval"):
        scale["T"], units["T"] = float(ij["finterval"]), "second"
    return {"scale": scale, "units": units}


def _open_tiff(path: Path):
    import tifffile
    import zarr

    from .geo import linear_unit, pixel_size, read_geotiff

    try:
        with tifffile.TiffFile(path) as tf:
            series = tf.series[0]
            axes = "".join(_TIFF_AXES.get(a, a) for a in series.axes)
            shape = tuple(series.shape)
            if len(set(axes)) != len(axes) or set(axes) - set(OME_ORDER):
                axes = infer_axes(shape)
            if tf.is_ome:
                meta = _ome_tiff_metadata(tf.ome_metadata, axes, shape)
            elif tf.is_imagej:
                meta = _imagej_metadata(tf, tf.pages[0])
            else:
                meta = {}
            geo = read_geotiff(tf.pages[0])
        store = tifffile.imread(path, aszarr=True, level=0)
        arr = zarr.open(store, mode="r")
    except SuperResError:
        raise
    except Exception as exc:  # tifffile raises many types on damaged files
        raise SuperResError(
            f"cannot read {path} as TIFF ({exc.__class__.__name__}: {exc}); check the file is not damaged"
        ) from exc
    scale = [float(meta.get("scale", {}).get(a, 1.0)) for a in axes]
    units = {a: u for a, u in meta.get("units", {}).items() if u and a in axes}
    if geo and "transform" in geo:  # ground units per pixel; the full georeference travels in src.geo
        sy, sx = pixel_size(geo["transform"])
        scale[axes.index("Y")], scale[axes.index("X")] = sy, sx
        ground = linear_unit(geo)
        if ground and not (units.get("Y") or units.get("X")):
            units["Y"] = units["X"] = ground
    src = SourceImage(
        arr, axes, scale, None, units, meta.get("channel_names"), path=str(path), name=path.name.split(".")[0]
    )
    if geo:
        src.geo = {k: v for k, v in geo.items() if k != "nodata"} or None
        src.nodata = geo.get("nodata")
    return src


# ----------------------------------------------------------------------------- napari layers, duck-typed
def _is_layer(obj) -> bool:
    """A napari layer (recognised by its type's module and attributes: napari is never imported here)."""
    return type(obj).__module__.startswith("napari.layers") and hasattr(obj, "data") and hasattr(obj, "scale")


_BY_NDIM = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX"}


def layer_axes(layer) -> str:
    """Axis letters of an image layer's data: its axis labels when they are T/C/Z/Y/X, else by ndim.

    RGB(A) layers get a trailing ``C``: ``YXC``, ``ZYXC``.
    """
    nd = int(layer.ndim)
    labels = [str(a).upper() for a in (getattr(layer, "axis_labels", None) or ())]
    if len(labels) == nd and all(len(a) == 1 and a in OME_ORDER for a in labels) and len(set(labels)) == nd:
        axes = "".join(labels)
    elif nd in _BY_NDIM:
        axes = _BY_NDIM[nd]
    else:
        raise SuperResError(
            f"a {nd}-D layer has no standard axis order; give it axis labels such as t, c, z, y, x"
        )
    if "Y" not in axes or "X" not in axes:
        raise SuperResError(f"layer {layer.name!r} has no y and x axes (axis labels {labels}); relabel them")
    return axes + ("C" if getattr(layer, "rgb", False) else "")


def unit_text(unit) -> str | None:
    text = str(unit) if unit is not None else ""
    return None if text in ("", "pixel", "None", "dimensionless") else text


def source_from_layer(layer) -> SourceImage:
    """A napari image layer as a lazily sliceable :class:`SourceImage` (level 0 when multiscale)."""
    kind = getattr(layer, "_type_string", type(layer).__name__.lower())
    if kind != "image":
        raise SuperResError(f"layer {layer.name!r} is a {kind} layer; choose an image layer to enlarge")
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    if 0 in tuple(data.shape):
        raise SuperResError(f"layer {layer.name!r} is empty (shape {tuple(data.shape)}); nothing to enlarge")
    axes = layer_axes(layer)
    spatial = axes.rstrip("C") if getattr(layer, "rgb", False) else axes
    scale = [float(v) for v in layer.scale]
    translate = [float(v) for v in layer.translate]
    units = {}
    for a, u in zip(spatial, getattr(layer, "units", None) or ()):
        text = unit_text(u)
        if text:
            units[a] = text
    if getattr(layer, "rgb", False):
        scale, translate = scale + [1.0], translate + [0.0]
    path = getattr(getattr(layer, "source", None), "path", None)  # the file it was opened from, if any
    return SourceImage(data, axes, scale, translate, units, path=path, name=layer.name or "image")


# ----------------------------------------------------------------------------- any input
def open_input(image, axes: str | None = None) -> SourceImage:
    """Open what the user gave (array, zarr, dask, or a path) lazily, with axes and metadata.

    Paths: TIFF (level 0 of a pyramid, read through tifffile's zarr store), zarr arrays,
    OME-Zarr (level 0 with its axes and scale), PNG/JPEG/BMP (read whole). napari image layers:
    level 0, with the layer's scale, translate and units.
    """
    if isinstance(image, SourceImage):
        src = image
    elif isinstance(image, (str, Path)):
        p = Path(image).expanduser()
        if not p.exists():
            raise SuperResError(f"input {p} does not exist; check the path")
        suffix = p.suffix.lower()
        if p.is_dir() or suffix == ".zarr":
            src = _open_zarr(p)
        elif suffix in TIFF_SUFFIXES:
            src = _open_tiff(p)
        elif suffix in PIL_SUFFIXES:
            data = read_image_file(p)
            src = SourceImage(data, infer_axes(data.shape), path=str(p), name=p.stem)
        else:
            raise SuperResError(
                f"unknown input format {suffix!r} for {p}; use TIFF, zarr, OME-Zarr, PNG or JPEG"
            )
    elif _is_layer(image):
        src = source_from_layer(image)
    elif hasattr(image, "shape") and hasattr(image, "dtype") and hasattr(image, "__getitem__"):
        src = SourceImage(image, infer_axes(image.shape) if axes is None else axes, name="image")
    else:
        raise SuperResError(
            f"cannot use a {type(image).__name__} as an image; give a numpy, dask or zarr array or a file path"
        )
    src.axes = check_axes(axes if axes is not None else src.axes, src.shape)
    return src


def array_place(array) -> str:
    """Where a stored array lives, for messages: its store's folder or file, else its type."""
    store = getattr(array, "store", None)
    root = getattr(store, "root", None) or getattr(store, "path", None)
    if root is not None:
        path = getattr(array, "path", "")
        return f"{root}/{path}" if path else str(root)
    return f"the {type(array).__name__} input"


def unreadable(exc: BaseException, where: str, chunk: tuple | None = None) -> SuperResError:
    """The one-line error for pixels that cannot be read: a damaged or truncated file or chunk, or an
    operating-system error (permissions, an I/O error)."""
    what = f"chunk {tuple(int(i) for i in chunk)} of {where}" if chunk is not None else where
    if isinstance(exc, SuperResError):
        return exc
    if isinstance(exc, PermissionError):
        return SuperResError(f"cannot read {what}: permission denied; check the file's permissions")
    return SuperResError(
        f"cannot read {what} ({first_line(exc)}): the file is damaged or incomplete; restore it from a copy or "
        "write it again"
    )


class ChunkCache:
    """Reads windows of a chunked array (zarr, TIFF store), decoding each chunk once while cached.

    Neighbouring tiles share chunks (their halos overlap, and a TIFF strip spans the full width),
    so reading windows straight from the store would decode the same chunk many times. This keeps
    recently decoded chunks in a least-recently-used cache of at most ``max_bytes``; tiles are
    processed row by row, so a band of chunks is decoded once. Thread-safe.
    """

    def __init__(self, array, max_bytes: int = 256 << 20, name: str | None = None):
        import threading
        from collections import OrderedDict

        self.array = array
        self.name = name or array_place(array)
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self.chunks = tuple(int(c) for c in array.chunks)
        self.max_bytes = max_bytes
        self._cache: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __getstate__(self):  # sent to another process: the array travels, the cache starts empty there
        return {"array": self.array, "max_bytes": self.max_bytes, "name": self.name}

    def __setstate__(self, state):
        self.__init__(state["array"], state["max_bytes"], state.get("name"))

    def _chunk(self, idx: tuple) -> np.ndarray:
        with self._lock:
            hit = self._cache.get(idx)
            if hit is not None:
                self._cache.move_to_end(idx)
                return hit
        sl = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(idx, self.chunks, self.shape))
        try:
            data = np.asarray(self.array[sl])
        except Exception as exc:  # decoders raise many types for a damaged chunk
            raise unreadable(exc, self.name, idx) from None
        with self._lock:
            if idx not in self._cache:
                self._cache[idx] = data
                self._bytes += data.nbytes
                while self._bytes > self.max_bytes and len(self._cache) > 1:
                    _, old = self._cache.popitem(last=False)
                    self._bytes -= old.nbytes
        return data

    def __getitem__(self, slices: tuple) -> np.ndarray:
        import itertools

        bounds = [s.indices(n)[:2] for s, n in zip(slices, self.shape)]
        out = np.empty([b - a for a, b in bounds], dtype=self.dtype)
        ranges = [
            range(a // c, (b - 1) // c + 1) if b > a else range(0) for (a, b), c in zip(bounds, self.chunks)
        ]
        for idx in itertools.product(*ranges):
            chunk = self._chunk(idx)
            src, dst = [], []
            for (a, b), i, c in zip(bounds, idx, self.chunks):
                lo, hi = max(a, i * c), min(b, (i + 1) * c)
                src.append(slice(lo - i * c, hi - i * c))
                dst.append(slice(lo - a, hi - a))
            out[tuple(dst)] = chunk[tuple(src)]
        return out
