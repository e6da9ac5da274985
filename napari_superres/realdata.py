"""Real microscopy and remote-sensing images: the validation split the real-data benchmark scores,
and the training planes (everything else) that degradation-aware models learn from.

The images live outside the repository (``../shared/data/real``; licences in its README). The
split is fixed here, by file, so a benchmark figure always means the same images and none of
them was seen in training: a whole file (or scene, or stack) is either validation or training.

>>> from napari_superres.realdata import VALIDATION
>>> sorted({v.kind for v in VALIDATION})
['fluorescence', 'histology', 'phase', 'remote sensing']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SuperResError

CROP = 256  # validation crops: large enough to judge, small enough for a quick benchmark


@dataclass(frozen=True)
class RealImage:
    """One validation image: a file, the plane in it (index into the leading axes), a crop."""

    name: str
    path: str  # relative to the data root
    plane: tuple = ()  # index applied to the array first (leading axes, or a trailing channel)
    kind: str = "fluorescence"
    origin: tuple[int, int] | None = None  # top-left of the crop; None: the centre


VALIDATION: tuple[RealImage, ...] = (
    RealImage("nuclei-3d z30", "microscopy/cells3d-nuclei/cells3d_nuclei_60x256x256.tif", (30,)),
    RealImage("hela-cells ch0", "microscopy/singles/hela-cells.tif", (Ellipsis, 0)),
    RealImage(
        "sted synaptic",
        "microscopy/confocal-sted-pairs/SynapticProteinsDataset/valid/"
        "Bassoon-Homer_2019-07-08_01_M-Bassoon_GAMA594-R-Homer-GARSTAR635_15nm_block_03.msr_0.tif",
        (1,),
    ),
    RealImage(
        "sted live f-actin",
        "microscopy/confocal-sted-pairs/LiveFActinDataset/valid/2020-09-10_EXP0_CONFSTEDfull17_10.tif",
        (1,),
    ),
    RealImage("phase (QPI)", "microscopy/singles/skimage_cell_QPI.png", (), "phase"),
    RealImage("histology H&E", "microscopy/singles/stardist_histo_HE.jpg", (), "histology"),
    RealImage(
        "landsat-8 B4 30 m",
        "remote-sensing/landsat8-rgb-30m/LC08_L1TP_224078_20200518_20200518_01_RT_B4.TIF",
        (),
        "remote sensing",
    ),
    RealImage(
        "sentinel-2 B04 10 m",
        "remote-sensing/sentinel2-l1c-10m/REFERENCE_SCENES.npy",
        (4, Ellipsis, 3),
        "remote sensing",
    ),
)

# the real x4 pair: confocal (60 nm, stored enlarged x4 onto the 15 nm grid) and STED of the same field
CONFOCAL_STED = RealImage(
    "confocal -> STED (real x4)",
    "microscopy/confocal-sted-pairs/SynapticProteinsDataset/valid/"
    "Bassoon-Homer_2019-07-08_01_M-Bassoon_GAMA594-R-Homer-GARSTAR635_15nm_block_03.msr_0.tif",
    (1,),
)
CONFOCAL_PLANE = (0,)

# files never used for training: the validation files above (the whole Landsat scene 224078, all
# bands), the valid / test folders of the pairs, the 3-D nuclei stack
HELD_OUT = {v.path for v in VALIDATION} - {"remote-sensing/sentinel2-l1c-10m/REFERENCE_SCENES.npy"}
SENTINEL_VALIDATION_SCENE = 4


def default_root() -> Path:
    """``../shared/data/real`` beside the working directory or the repository, when present."""
    here = Path(__file__).resolve().parents[2]
    for cand in (Path.cwd().parent / "shared/data/real", here.parent / "shared/data/real"):
        if cand.is_dir():
            return cand
    return Path.cwd().parent / "shared/data/real"


def _read(path: Path) -> np.ndarray:
    from .io import read_image_file

    if not path.is_file():
        raise SuperResError(f"real-data file {path} is missing; point to the folder of ../shared/data/real")
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    return read_image_file(path)


def _plane(arr: np.ndarray, item: RealImage) -> np.ndarray:
    a = arr[item.plane] if item.plane else arr
    if a.ndim == 3 and a.shape[-1] in (3, 4):  # RGB: BT.601 luma, as the photographs are scored
        from .metrics import rgb_to_y

        a = rgb_to_y(a)
    return np.squeeze(np.asarray(a, dtype=np.float64))


def _crop(a: np.ndarray, origin, size: int = CROP) -> np.ndarray:
    h, w = a.shape
    ch, cw = min(h, size), min(w, size)
    y0, x0 = origin if origin is not None else ((h - ch) // 2, (w - cw) // 2)
    return a[y0 : y0 + ch, x0 : x0 + cw]


def validation_images(root: str | Path | None = None, size: int = CROP) -> list[tuple[RealImage, np.ndarray]]:
    """The validation split: ``(description, HR plane as float64 in its own units)``, cropped to at
    most ``size`` pixels a side (the benchmark's :data:`CROP`; larger for what needs larger images)."""
    root = Path(root) if root is not None else default_root()
    if not root.is_dir():
        raise SuperResError(f"real-data folder {root} does not exist; give the path of ../shared/data/real")
    return [(item, _crop(_plane(_read(root / item.path), item), item.origin, size)) for item in VALIDATION]


def confocal_sted_pair(root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The real x4 pair ``(confocal at 60 nm, STED at 15 nm)``: the confocal binned 4x4 back to its pixels."""
    root = Path(root) if root is not None else default_root()
    arr = _read(root / CONFOCAL_STED.path)
    sted = _crop(_plane(arr, CONFOCAL_STED), None)
    conf = _crop(np.asarray(arr[CONFOCAL_PLANE], dtype=np.float64), None)
    h, w = (s // 4 * 4 for s in conf.shape)
    lr = conf[:h, :w].reshape(h // 4, 4, w // 4, 4).mean(axis=(1, 3))
    return lr, sted[:h, :w]


def _unit(a: np.ndarray) -> np.ndarray:
    from .normalize import robust_range

    lo, hi = robust_range(a)
    return np.clip((a.astype(np.float64) - lo) / (hi - lo), -0.1, 1.1).astype(np.float32)


def training_planes(root: str | Path | None = None, min_side: int = 96) -> list[np.ndarray]:
    """Every real plane outside the validation split, as float32 in [0, 1] (robust range per plane).

    Microscopy pairs contribute their STED (HR) channels; label channels are skipped; RGB images
    give their luma; a time-lapse gives every 8th frame; the held-out Sentinel-2 scene is left out.
    """
    root = Path(root) if root is not None else default_root()
    planes: list[np.ndarray] = []
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root).as_posix()
        if not f.is_file() or f.suffix.lower() not in (".tif", ".tiff", ".png", ".jpg", ".npy"):
            continue
        if (
            rel in HELD_OUT
            or "/valid/" in rel
            or "/test/" in rel
            or "cells3d" in rel
            or "BQA" in rel
            or "_224078_" in rel
        ):
            continue
        arr = _read(f)
        if rel.endswith("REFERENCE_SCENES.npy"):
            scenes = [i for i in range(arr.shape[0]) if i != SENTINEL_VALIDATION_SCENE]
            planes += [_unit(arr[i, ..., b]) for i in scenes for b in (1, 2, 3, 7)]
            continue
        if "confocal-sted-pairs" in rel:
            arr = np.squeeze(arr)
            keep = [1] if arr.shape[0] < 6 else [1, 3]  # STED channels only
            planes += [_unit(arr[c]) for c in keep if arr.ndim == 3]
            continue
        if arr.ndim == 3 and arr.shape[-1] in (3, 4):
            planes.append(_unit(_plane(arr, RealImage("", rel))))
        elif arr.ndim == 3:
            step = 8 if arr.shape[0] > 8 else 1
            planes += [_unit(p) for p in arr[::step]]
        else:
            planes.append(_unit(arr))
    return [p for p in planes if min(p.shape) >= min_side]


def training_crops(root: str | Path | None = None, count: int = 30, size: int = 256) -> list[np.ndarray]:
    """Centre crops (``size`` x ``size``, float64) of about ``count`` planes spread over the training
    split (planes of at least 200 pixels a side): a second sample to check a choice made on the
    validation split (scripts/measure)."""
    planes = training_planes(root, min_side=200)
    out = []
    for p in planes[:: max(1, len(planes) // count)]:
        y, x = max(0, (p.shape[0] - size) // 2), max(0, (p.shape[1] - size) // 2)
        out.append(p[y : y + size, x : x + size].astype(np.float64))
    return out
