import numpy as np
import pytest
import torch
from PIL import Image

from napari_superres.degradation import contributions, degrade, gaussian_kernel, imresize, resize


def test_bicubic_downscale_matches_pillow_on_uint8(rng):
    """Pillow's antialiased bicubic is the protocol's reference away from the borders
    (at the borders Pillow renormalises the kernel where MATLAB mirrors the image)."""
    yy, xx = np.mgrid[0:60, 0:90]
    img = np.stack([127 + 120 * np.sin(yy / 3 + c) * np.cos(xx / 4) for c in range(3)], -1)
    img = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
    ours = imresize(img, 0.5).astype(int)
    pil = np.asarray(Image.fromarray(img).resize((45, 30), Image.BICUBIC)).astype(int)
    assert ours.shape == pil.shape
    inner = (slice(2, -2), slice(2, -2))
    assert np.abs(ours[inner] - pil[inner]).max() <= 1
    assert np.mean(ours[inner] != pil[inner]) < 0.25  # Pillow rounds its weights to fixed point


def test_resize_rows_sum_to_one_and_constant_is_preserved():
    for scale in (0.25, 1 / 3, 0.5, 2, 3, 2.5):
        w, _ = contributions(37, int(np.ceil(37 * scale)), scale)
        assert np.allclose(w.sum(1), 1)
    flat = torch.full((1, 23, 17), 7.0, dtype=torch.float64)
    assert torch.allclose(resize(flat, 3), torch.tensor(7.0, dtype=torch.float64))
    assert torch.allclose(resize(flat, 1 / 3), torch.tensor(7.0, dtype=torch.float64))


def test_enlarge_then_shrink_returns_close_to_input(rng):
    yy, xx = np.mgrid[0:40, 0:40]
    x = torch.from_numpy(np.sin(yy / 4.0) * np.cos(xx / 3.0))[None]
    back = resize(resize(x, 2), 0.5)
    assert back.shape == x.shape
    assert float((back - x).abs()[:, 3:-3, 3:-3].max()) < 0.05


@pytest.mark.parametrize("sigma", [1.0, (0.8, 2.5)])
def test_gaussian_kernel_is_normalised_and_anisotropic(sigma):
    k = gaussian_kernel(sigma)
    assert np.isclose(k.sum(), 1)
    if not np.isscalar(sigma):
        # wider along x than along y
        assert k[k.shape[0] // 2].std() < k[:, k.shape[1] // 2].std() or k.shape[0] == k.shape[1]
        assert (k[k.shape[0] // 2] > 1e-4).sum() > (k[:, k.shape[1] // 2] > 1e-4).sum()


def test_degrade_shapes_and_noise_statistics():
    hr = torch.full((2, 64, 48), 0.5, dtype=torch.float64)
    lr = degrade(hr, 4, blur_sigma=1.0)
    assert lr.shape == (2, 16, 12)
    assert torch.allclose(lr, torch.tensor(0.5, dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    noisy = degrade(hr, 2, noise_sigma=0.1, generator=g)
    assert abs(float(noisy.std()) - 0.1) < 0.01
    shot = degrade(hr, 2, poisson_peak=100.0, generator=g)
    assert abs(float(shot.var()) - 0.5 / 100) < 0.001


def test_noise_is_estimated_from_the_flat_parts_not_from_edges_or_texture():
    """adapt adds noise back to the image's own level: the level must be the noise's, not the
    detail's (a plain high-pass RMS of this scene reads its fine stripes as strong noise)."""
    from napari_superres.degradation import estimate_noise

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    scene = np.where(xx > 128, 0.8, 0.1) + 0.3 * np.sin(xx / 1.5) * (yy > 64) * (xx < 128)
    assert estimate_noise(scene) < 0.001  # edges and stripes alone: no noise
    for sigma in (0.005, 0.05):
        noisy = scene + sigma * rng.standard_normal(scene.shape)
        assert estimate_noise(noisy) == pytest.approx(sigma, rel=0.15)
