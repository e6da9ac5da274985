"""The deep-CNN family: published sizes, exact tiling, declared receptive fields, fine-tuning."""

import numpy as np
import pytest
import torch

import napari_superres as nsr
from napari_superres.models import NAMED, build
from napari_superres.models import architecture as _arch

PUBLISHED = [  # (name, scale, parameters in the paper)
    ("srcnn", 2, 57_000),
    ("fsrcnn", 2, 12_464),
    ("vdsr", 2, 665_000),
    ("drrn", 2, 297_000),
    ("edsr-baseline", 2, 1_370_000),
    ("edsr", 2, 40_700_000),
    ("rdn", 2, 22_100_000),
    ("rcan", 2, 15_400_000),
    ("dbpn", 4, 10_400_000),
]
ZOO = [
    n
    for n, e in NAMED.items()
    if e["arch"] not in ("bicubic", "ibp", "espcn") and (n.endswith("-lite") or n in ("srcnn", "fsrcnn"))
]


def _model(name, scale):
    e = NAMED[name]
    torch.manual_seed(0)
    return build(e["arch"], scale, e["config"], name=name)


def _scales(name):
    return [s for s in (2, 3, 4) if s in _arch(NAMED[name]["arch"])["scales"]]


@pytest.mark.parametrize("name,scale,paper", PUBLISHED)
def test_published_configurations_match_the_papers(name, scale, paper):
    assert abs(_model(name, scale).parameters - paper) / paper < 0.03


@pytest.mark.parametrize("name", ZOO)
def test_lite_models_tile_exactly(name, rng):
    img = rng.random((37, 41)).astype(np.float32)
    for scale in _scales(name)[:2]:
        m = _model(name, scale)
        whole = nsr.upscale(img, m, scale, tile=1000, normalize=None).compute()
        tiled = nsr.upscale(img, m, scale, tile=13, normalize=None)
        assert tiled.numblocks[0] > 1
        diff = np.abs(tiled.compute() - whole).max()
        if m.exact_tiling:
            assert diff < 1e-5, (name, scale, diff)
        else:  # channel attention pools the whole input: close, not exact (here the halo spans the image)
            assert diff < 0.05, (name, scale, diff)


@pytest.mark.parametrize("name", ZOO)
def test_declared_halo_covers_the_receptive_field(name, rng):
    scale = _scales(name)[0]
    m = _model(name, scale)
    if not m.exact_tiling:
        pytest.skip("global pooling: every pixel reaches everywhere")
    n = 2 * m.halo + 21
    x = torch.from_numpy(rng.random((1, 1, n, n)).astype(np.float32))
    y0 = m(x)
    x[0, 0, n // 2, n // 2] += 1.0
    ys, xs = np.nonzero((m(x) - y0).abs()[0, 0].numpy() > 1e-6)
    reach = max(np.abs(ys // scale - n // 2).max(), np.abs(xs // scale - n // 2).max())
    assert reach <= m.halo, (name, reach, m.halo)


def test_inexact_models_warn_when_tiled(rng):
    img = rng.random((40, 40)).astype(np.float32)
    with pytest.warns(UserWarning, match="not exactly tileable"):
        nsr.upscale(img, _model("rcan-lite", 2), 2, tile=16, normalize=None)


def test_attention_and_dilation_options_in_residual_bodies(rng):
    img = rng.random((30, 34)).astype(np.float32)
    torch.manual_seed(0)
    dil = build("edsr", 2, {"blocks": 4, "features": 16, "dilations": (1, 2, 4), "nonlocal_every": 2})
    assert dil.exact_tiling and dil.halo > build("edsr", 2, {"blocks": 4, "features": 16}).halo
    whole = nsr.upscale(img, dil, 2, tile=1000, normalize=None).compute()
    np.testing.assert_allclose(nsr.upscale(img, dil, 2, tile=11, normalize=None).compute(), whole, atol=1e-5)
    fa = build("edsr", 2, {"blocks": 2, "features": 16, "attention": "fa"})
    assert not fa.exact_tiling and fa(torch.rand(1, 1, 12, 12)).shape == (1, 1, 24, 24)


@pytest.mark.parametrize("arch", ["srcnn", "fsrcnn"])
def test_residual_option_adds_the_bicubic_image(arch, rng):
    """SRCNN and FSRCNN with ``residual=True`` (how their weights ship): the same network plus bicubic."""
    x = torch.from_numpy(rng.random((1, 1, 14, 18)).astype(np.float32))
    torch.manual_seed(0)
    plain = build(arch, 3, {})
    torch.manual_seed(0)
    res = build(arch, 3, {"residual": True})
    assert res.parameters == plain.parameters
    bic = nsr.load_model("bicubic", 3)
    torch.testing.assert_close(res(x), plain(x) + bic(x), atol=1e-5, rtol=0)


def test_fine_tuning_on_the_users_image_beats_the_generic_model(textured):
    from napari_superres.degradation import degrade
    from napari_superres.metrics import psnr

    big = np.tile(textured, (2, 2))[:180, :240]
    train_part, held_out = big[:140], big[140:]
    model = nsr.train(
        data=train_part,
        init="espcn",
        scale=2,
        steps=150,
        batch_size=8,
        patch_size=24,
        lr=3e-4,
        channel="raw",
        val_every=1000,
    )
    lo, hi = float(big.min()), float(big.max())
    hr = (held_out.astype(np.float64) - lo) / (hi - lo)
    lr_img = degrade(torch.from_numpy(hr)[None], 2)[0].numpy().astype(np.float32)

    def score(m):
        sr = nsr.upscale(lr_img, m, 2, normalize=None).compute()
        return psnr(sr[2:-2, 2:-2], hr[2:-2, 2:-2], peak=1.0)

    assert score(model) > score("espcn") + 0.1


def test_consistency_step_agrees_with_the_input_and_tiles_exactly(textured):
    from napari_superres.degradation import resize
    from napari_superres.metrics import psnr

    img = (textured / 65535.0).astype(np.float32)
    plain = nsr.upscale(img, "espcn", 2, normalize=None).compute()
    whole = nsr.upscale(img, "espcn", 2, normalize=None, consistency=5, tile=1000).compute()
    tiled = nsr.upscale(img, "espcn", 2, normalize=None, consistency=5, tile=20).compute()
    np.testing.assert_allclose(tiled, whole, atol=1e-5)

    def agreement(sr):
        back = resize(torch.from_numpy(sr.astype(np.float64))[None], 0.5, img.shape)[0].numpy()
        return psnr(back, img, peak=1.0)

    assert agreement(whole) > agreement(plain) + 3  # downscaling the result gives the input back
    assert nsr.load_model("espcn+bp5", 2).halo == nsr.load_model("espcn", 2).halo + 22


def test_self_ensemble_tiles_exactly_and_sharpens_a_photograph():
    """NAME+x8: the mean over 8 flips and turns; same halo, tiled == whole (non-square tiles turn
    into their transpose), and it beats one pass on a real photograph."""
    from napari_superres._sample_data import astronaut_rgb
    from napari_superres.degradation import degrade
    from napari_superres.metrics import psnr, rgb_to_y

    y = rgb_to_y(astronaut_rgb()) / 255
    hr = y[40:200, 120:312]  # 160 x 192: a face and the flag's edges
    lr = degrade(torch.from_numpy(hr)[None], 2)[0].numpy().astype(np.float32)
    m = nsr.load_model("espcn+x8", 2)
    assert m.halo == nsr.load_model("espcn", 2).halo and m.exact_tiling
    whole = nsr.upscale(lr, "espcn+x8", 2, normalize=None, tile=1000).compute()
    tiled = nsr.upscale(lr, "espcn+x8", 2, normalize=None, tile=24).compute()
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    single = nsr.upscale(lr, "espcn", 2, normalize=None).compute()

    def score(sr):
        return psnr(sr[2:-2, 2:-2], hr[2:-2, 2:-2], peak=1.0)

    assert score(whole) > score(single) + 0.03  # measured +0.11 dB (edsr-lite: +0.18)
    with pytest.raises(nsr.SuperResError, match="self-ensemble goes first"):
        nsr.load_model("espcn+bp3+x8", 2)
