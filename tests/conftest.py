import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

SR_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sr"


@pytest.fixture
def sr_data():
    if not (SR_DATA / "Set5").is_dir():
        pytest.skip(f"benchmark images not found at {SR_DATA}")
    return SR_DATA


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def textured(rng):
    """A smooth-plus-texture uint16 image, like a microscopy field, 97 x 131 (odd sizes)."""
    yy, xx = np.mgrid[0:97, 0:131]
    base = 2000 + 1500 * np.sin(yy / 7.0) * np.cos(xx / 5.0) + rng.normal(0, 80, (97, 131))
    return np.clip(base, 0, 65535).astype(np.uint16)
