"""Readers and writers: PNG/JPEG/BMP, TIFF (lazily, through tifffile's zarr store), zarr, OME-Zarr."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import SuperResError

PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
TIFF_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8"}


def read_image_file(path: str | Path) -> np.ndarray:
    """A whole small image file (PNG, JPEG, BMP, TIFF) as a numpy array (YX, YXC for colour)."""
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
    raise SuperResError(f"unknown image format {suffix!r} for {p}; use PNG, JPEG, BMP or TIFF")
