"""Sample data for napari, bundled or made here (no downloads).

``nuclei``: a synthetic 16-bit fluorescence stack, made deterministically (seed 0) by this
procedure: 120 ellipsoidal nuclei (radius 2-3.2 µm in XY, 0.6-0.9 of that in Z) with a fine chromatin
texture are placed in a 24 x 256 x 256 volume of 0.8 x 0.2 x 0.2 µm voxels; the volume is blurred
with an anisotropic Gaussian point-spread function (sigma 1.5 voxels in Z, 1.2 in Y and X), given
a background of 100 counts and a peak of about 3 000 counts, Poisson (shot) noise and Gaussian
read noise (sigma 5 counts), and stored as uint16.

``astronaut``: the RGB photograph that ships with the package (``data/astronaut.png``, from
scikit-image's public-domain sample, NASA).
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np

NUCLEI_SHAPE = (24, 256, 256)
NUCLEI_VOXEL_UM = (0.8, 0.2, 0.2)


def make_nuclei(
    shape=NUCLEI_SHAPE, count: int = 120, seed: int = 0, voxel=NUCLEI_VOXEL_UM, psf=(1.5, 1.2, 1.2)
):
    """The synthetic nuclei stack described above, as a uint16 ZYX array (``voxel`` in µm, ``psf`` sigmas in voxels)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    dz, dy, dx = voxel
    zz, yy, xx = np.meshgrid(
        np.arange(nz) * dz, np.arange(ny) * dy, np.arange(nx) * dx, indexing="ij", sparse=True
    )
    texture = ndimage.gaussian_filter(rng.random(shape), (0.7, 1.0, 1.0))
    texture = (texture - texture.min()) / np.ptp(texture)
    vol = np.zeros(shape, np.float64)
    for _ in range(count):
        cz, cy, cx = rng.random(3) * (nz * dz, ny * dy, nx * dx)
        r = rng.uniform(2.0, 3.2)  # µm
        rz = r * rng.uniform(0.6, 0.9)
        inside = ((zz - cz) / rz) ** 2 + ((yy - cy) / r) ** 2 + ((xx - cx) / r) ** 2 <= 1.0
        vol = np.maximum(vol, inside * rng.uniform(0.5, 1.0))
    vol *= 0.6 + 0.4 * texture
    vol = ndimage.gaussian_filter(vol, psf)
    counts = 100 + 3000 * vol / max(vol.max(), 1e-9)
    noisy = rng.poisson(counts) + rng.normal(0, 5, shape)
    return np.clip(np.rint(noisy), 0, 65535).astype(np.uint16)


def nuclei():
    """napari sample: the synthetic 16-bit nuclei stack with its voxel size."""
    return [
        (
            make_nuclei(),
            {
                "name": "nuclei (synthetic, 16-bit)",
                "scale": NUCLEI_VOXEL_UM,
                "units": ("micrometer",) * 3,
                "axis_labels": ("z", "y", "x"),
                "colormap": "gray",
            },
            "image",
        )
    ]


def astronaut_rgb() -> np.ndarray:
    """The bundled RGB photograph (YXC, uint8): the demo's, the figures' and the tests' real image."""
    from .io import read_image_file

    return read_image_file(files("napari_superres") / "data" / "astronaut.png")


def astronaut():
    """napari sample: the bundled RGB photograph."""
    return [(astronaut_rgb(), {"name": "astronaut"}, "image")]
