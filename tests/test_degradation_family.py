"""The degradation family: names, physics, back-projection under it, and one-line refusals."""

import json

import numpy as np
import pytest
import torch

import napari_superres as nsr
from napari_superres.cli import main
from napari_superres.degradation import (
    DegradationError,
    parse_degradation,
    sigma_from_fwhm,
)
from napari_superres.models import load_model


def test_binning_is_the_block_mean_and_gaussian_blurs_before_it():
    hr = torch.arange(36, dtype=torch.float64).reshape(1, 6, 6)
    lr = parse_degradation("binning").downsample(hr, 2)
    assert lr.shape == (1, 3, 3)
    assert float(lr[0, 0, 0]) == (0 + 1 + 6 + 7) / 4
    # odd sizes: the detector's last partial pixel is not read
    assert parse_degradation("binning").downsample(torch.ones(1, 7, 9), 2).shape == (1, 3, 4)
    # a PSF removes detail binning alone keeps: a checkerboard at the HR pixel pitch of period 4
    yy, xx = np.mgrid[0:32, 0:32]
    stripes = torch.from_numpy(np.sin(2 * np.pi * xx / 4.0) + 0.0 * yy)[None]
    plain = parse_degradation("binning").downsample(stripes, 2)
    blurred = parse_degradation("gaussian:1.5").downsample(stripes, 2)
    assert float(blurred[..., 4:-4, 4:-4].std()) < 0.3 * float(plain[..., 4:-4, 4:-4].std())


def test_names_round_trip_and_physics():
    assert str(parse_degradation("Gaussian:1")) == "gaussian:1.0"
    assert str(parse_degradation("binning")) == "binning"
    # a PSF of FWHM 0.235 um sampled at 0.1 um HR pixels is sigma 1 HR pixel
    assert sigma_from_fwhm(0.2355, 0.1) == pytest.approx(1.0, abs=1e-3)
    d = parse_degradation("gaussian:fwhm=0.2355,pixel=0.1")
    assert d.kind == "gaussian" and d.sigma == pytest.approx(1.0, abs=1e-3)


def test_a_measured_kernel_is_normalised_and_matched_to_its_family(tmp_path):
    k = np.zeros((9, 9))
    k[4, 4] = 1.0
    point = parse_degradation(k)
    assert point.family == "binning"  # a point PSF: binning alone
    y, x = np.mgrid[-6:7, -6:7]
    wide = np.exp(-(x**2 + y**2) / (2 * 1.5**2)) * 7  # unnormalised on purpose
    np.save(tmp_path / "psf.npy", wide)
    d = parse_degradation(str(tmp_path / "psf.npy"))
    assert d.family == "gaussian" and d.equivalent_sigma == pytest.approx(1.5, abs=0.05)
    assert np.isclose(np.sum(d.kernel), 1.0)


@pytest.mark.parametrize(
    "bad, words",
    [
        ("nearest", "unknown degradation"),
        ("gaussian:9", "out of range"),
        ("gaussian:abc", "cannot read"),
        (np.ones((3, 3, 3)), "2-D"),
        (-np.ones((3, 3)), "non-negative"),
    ],
)
def test_bad_degradations_say_what_is_accepted(bad, words):
    with pytest.raises(DegradationError, match=words):
        parse_degradation(bad)


def test_back_projection_agrees_with_the_degradation_it_is_told(rng):
    """ibp under binning: the result, binned, gives back the input (it did not under bicubic)."""
    lr = rng.random((40, 40)).astype(np.float32)
    for name in ("binning", "gaussian:1.0"):
        deg = parse_degradation(name)
        told = nsr.upscale(lr, "ibp", 2, degradation=name, normalize=None).compute()
        blind = nsr.upscale(lr, "ibp", 2, normalize=None).compute()
        err_told = np.abs(deg.downsample(torch.from_numpy(told)[None], 2)[0].numpy() - lr)[4:-4, 4:-4].mean()
        err_blind = np.abs(deg.downsample(torch.from_numpy(blind)[None], 2)[0].numpy() - lr)[
            4:-4, 4:-4
        ].mean()
        assert err_told < 0.5 * err_blind


@pytest.mark.parametrize("deg", ["binning", "gaussian:1.5"])
def test_tiling_stays_exact_under_every_degradation(rng, deg):
    img = rng.random((70, 90)).astype(np.float32)
    whole = nsr.upscale(img, "espcn+bp2", 2, degradation=deg, normalize=None, tile=512).compute()
    tiled = nsr.upscale(img, "espcn+bp2", 2, degradation=deg, normalize=None, tile=24).compute()
    assert np.abs(whole - tiled).max() < 1e-4


def test_models_load_weights_for_their_degradation_or_refuse_in_one_line():
    m = load_model("espcn", 2, degradation="binning")
    assert m.degradation == "binning"
    assert "binning" in m.metadata["degradation"]
    assert load_model("espcn", 2).degradation == "bicubic"
    with pytest.raises(nsr.SuperResError, match="no x2 weights for degradation binning.*espcn"):
        load_model("srcnn", 2, degradation="binning")


@pytest.mark.parametrize("name", ["espcn", "edsr-lite"])
def test_x3_has_weights_for_binning_and_psfs_trained_with_noise(name):
    for deg in ("binning", "gaussian:1.0", "gaussian:2.0"):
        m = load_model(name, 3, degradation=deg)
        assert _trained_for(m) == deg and m.scale == 3
        assert json.loads(m.metadata["noise"]).get("poisson_peak"), (name, deg)
        assert "T91" in m.metadata["training_data"] and m.metadata["command"]


@pytest.mark.parametrize("name", ["espcn", "edsr-lite"])
def test_noise_robust_bicubic_weights_are_a_file_of_their_own(name):
    """The bicubic weights stay the benchmark protocol's (clean photographs); the noise-robust ones
    that auto uses load only when asked for, and a model without them keeps its plain weights."""
    plain = load_model(name, 2, degradation="bicubic")
    robust = load_model(name, 2, degradation="bicubic", noise_robust=True)
    assert plain.metadata.get("noise", "{}") == "{}" and plain.metadata["set5_psnr"]
    assert json.loads(robust.metadata["noise"]).get("poisson_peak") and robust.metadata["set5_psnr"]
    assert robust.degradation == "bicubic" and robust.origin.endswith(f"{name}_x2_bicubic_noise.safetensors")
    assert load_model(robust.origin).degradation == "bicubic"  # the recorded origin reloads it
    for scale in (3, 4):  # auto is noise-robust at every shipped scale
        robust = load_model(name, scale, degradation="bicubic", noise_robust=True)
        assert robust.origin.endswith(f"{name}_x{scale}_bicubic_noise.safetensors")
    assert load_model("srcnn", 2, degradation="bicubic", noise_robust=True).origin == "srcnn"  # none: plain
    assert load_model(name, 2, degradation="binning", noise_robust=True).degradation == "binning"
    from napari_superres.models import shipped_scales

    assert shipped_scales(name) == [2, 3, 4]  # the extra file is not another scale or family


def _trained_for(model) -> str:
    return json.loads(model.metadata["degradation"])["name"]


def test_a_psf_takes_the_weights_of_the_widest_trained_psf_not_wider_than_it(textured):
    """Weights told of more blur than there is over-sharpen, so a PSF width takes the widest trained
    width at or below it (binning below them all); and the choice shows in the result."""
    assert _trained_for(load_model("espcn", 2, degradation="gaussian:1.0")) == "gaussian:1.0"
    assert _trained_for(load_model("espcn", 2, degradation="gaussian:1.4")) == "gaussian:1.0"
    assert _trained_for(load_model("espcn", 2, degradation="gaussian:0.7")) == "gaussian:0.5"
    assert _trained_for(load_model("espcn", 2, degradation="gaussian:3.0")) == "gaussian:2.0"
    assert _trained_for(load_model("espcn", 2, degradation="gaussian:0.2")) == "binning"
    assert _trained_for(load_model("edsr-lite", 2, degradation="gaussian:1.5")) == "gaussian:1.5"
    assert _trained_for(load_model("edsr-lite", 2, degradation="gaussian:1.4")) == "gaussian:1.0"
    assert _trained_for(load_model("edsr-lite", 2, degradation="gaussian:0.7")) == "gaussian:0.5"
    assert _trained_for(load_model("espcn", 3, degradation="gaussian:1.6")) == "gaussian:1.5"
    assert _trained_for(load_model("espcn", 3, degradation="gaussian:0.5")) == "gaussian:0.5"
    assert _trained_for(load_model("espcn", 4, degradation="gaussian:1.5")) == "gaussian:1.5"
    for scale in (3, 4):
        assert _trained_for(load_model("edsr-lite", scale, degradation="gaussian:1.7")) == "gaussian:1.5"
    # no x4 sigma-0.5 weights (they gained nothing over binning): the binning ones
    assert _trained_for(load_model("espcn", 4, degradation="gaussian:0.7")) == "binning"
    hr = textured[:96, :128].astype(np.float32) / 65535
    lr = parse_degradation("gaussian:0.5").downsample(torch.from_numpy(hr)[None].double(), 2)[0].numpy()

    def error(deg):
        sr = nsr.upscale(lr.astype(np.float32), "espcn", 2, degradation=deg, normalize=None).compute()
        return float(np.abs(sr - hr)[4:-4, 4:-4].mean())

    assert error("gaussian:0.5") < error("gaussian:2.0")  # the matched weights do not over-sharpen


def test_cli_refuses_a_bad_degradation_in_one_line(tmp_path, capsys):
    img = tmp_path / "in.tif"
    import tifffile

    tifffile.imwrite(img, np.zeros((32, 32), np.uint16))
    rc = main(["upscale", str(img), str(tmp_path / "o.ome.zarr"), "--degradation", "gaussian:0"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "out of range" in err
    assert not (tmp_path / "o.ome.zarr").exists()


def test_a_bad_psf_file_is_named_with_the_flag_that_gave_it(tmp_path, capsys):
    import tifffile

    img = tmp_path / "in.tif"
    tifffile.imwrite(img, np.zeros((32, 32), np.uint16))
    np.save(tmp_path / "psf.npy", -np.ones((3, 3)))
    rc = main(["upscale", str(img), str(tmp_path / "o.ome.zarr"), "--degradation", str(tmp_path / "psf.npy")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith("error: --degradation: the PSF kernel in psf.npy must be non-negative")
    assert not (tmp_path / "o.ome.zarr").exists()
