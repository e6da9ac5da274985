"""Copy training folders as lossless WebP: the same RGB values in about two thirds of the PNG size.

8-bit RGB images are converted; any other image (grey, with alpha, 16-bit) is copied as it is, so that
``train`` reads the same values from the copy as from the original.

    python scripts/train/pack_webp.py SRC_DIR DST_DIR [FOLDER ...]     (default folders: T91 BSD200)

Used to carry T91 + BSD200 to a GPU machine whose upload is limited (scripts/train/gpu_train_edsr.sh);
``train`` reads .webp folders like PNG ones. Each file is checked after writing (decoded RGB equal
to the source's), and files already packed are skipped, so an interrupted run can be started again.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from napari_superres.io import IMAGE_SUFFIXES, read_image_file


def pack(src: Path, dst: Path, folders: list[str]) -> None:
    for folder in folders:
        out = dst / folder
        out.mkdir(parents=True, exist_ok=True)
        for f in sorted(p for p in (src / folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            target = out / f"{f.stem}.webp"
            if target.exists() or (out / f.name).exists():  # packed or copied before
                continue
            rgb = read_image_file(f)
            if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:  # grey, alpha, 16-bit
                shutil.copy2(f, out / f.name)
                continue
            tmp = dst / ".partial" / target.name  # outside the folder until checked
            tmp.parent.mkdir(exist_ok=True)
            Image.fromarray(rgb).save(tmp, "WEBP", lossless=True, quality=100, method=4)
            if not np.array_equal(read_image_file(tmp), rgb):
                raise SystemExit(f"{f}: the WebP copy does not decode to the same pixels")
            os.replace(tmp, target)
        print(folder, len(list(out.iterdir())), "files")


if __name__ == "__main__":
    pack(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:] or ["T91", "BSD200"])
