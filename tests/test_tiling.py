"""The tiled result equals the whole-image result for every model and chunking."""

import dask.array as da
import numpy as np
import pytest

import napari_superres as nsr
from napari_superres.models import load_model


def whole(img, model, scale, **kw):
    return nsr.upscale(img, model, scale, tile=100_000, normalize=None, **kw).compute()


@pytest.mark.parametrize("model", ["espcn", "bicubic", "ibp"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_equals_whole_for_every_chunking(model, scale, rng):
    img = rng.random((53, 71)).astype(np.float32)
    ref = whole(img, model, scale)
    halo = load_model(model, scale).halo
    for tile in (3, halo - 1, 17, 40):  # tiles smaller than the halo, ragged edges, odd sizes
        tiled = nsr.upscale(img, model, scale, tile=max(tile, 1), normalize=None)
        assert tiled.numblocks[0] > 1
        np.testing.assert_allclose(tiled.compute(), ref, atol=1e-5, rtol=0)


def test_non_integer_scale_is_tiled_exactly(rng):
    img = rng.random((45, 38)).astype(np.float32)
    ref = whole(img, "espcn", 2.5)
    assert ref.shape == (113, 95)
    for tile in (4, 11, 30):
        np.testing.assert_allclose(
            nsr.upscale(img, "espcn", 2.5, tile=tile, normalize=None).compute(), ref, atol=1e-5
        )


def test_dask_input_with_odd_chunks_matches_numpy(rng):
    img = rng.random((2, 61, 47)).astype(np.float32)
    ref = whole(img, "espcn", 2, axes="ZYX")
    lazy_in = da.from_array(img, chunks=(2, 13, 29))  # several planes per input chunk
    out = nsr.upscale(lazy_in, "espcn", 2, axes="ZYX", tile=20, normalize=None).compute()
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_too_small_halo_would_show_seams(rng, monkeypatch):
    """The halo is what makes tiling exact: with it shrunk, tiles disagree with the whole image."""
    img = rng.random((40, 40)).astype(np.float32)
    ref = whole(img, "espcn", 2)
    from napari_superres import models

    real = models.load_model

    def shrunk(*a, **k):
        m = real(*a, **k)
        m.halo = 1
        return m

    monkeypatch.setattr(models, "load_model", shrunk)
    bad = nsr.upscale(img, "espcn", 2, tile=10, normalize=None).compute()
    assert np.abs(bad - ref).max() > 1e-3


def test_declared_halo_covers_the_measured_receptive_field():
    """Impulse probe: the output changes only within the declared halo of a perturbed pixel."""
    import torch

    for name, scale in [("espcn", 2), ("espcn", 4), ("bicubic", 3), ("ibp", 2)]:
        m = load_model(name, scale)
        x = torch.zeros(1, 1, 121, 121)
        y0 = m(x)
        x[0, 0, 60, 60] = 1.0
        diff = (m(x) - y0).abs()[0, 0]
        ys, xs = np.nonzero(diff.numpy() > 1e-7)
        reach = max(abs(ys // scale - 60).max(), abs(xs // scale - 60).max())
        assert reach <= m.halo, (name, reach, m.halo)
