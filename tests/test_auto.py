"""degradation='auto': a global choice from the image, reported, cached, recorded; bicubic when nothing helps."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import napari_superres as nsr
from napari_superres.cli import main
from napari_superres.degradation import parse_degradation
from napari_superres.engine.auto import estimate_degradation, sample_windows
from napari_superres.models import degradation_models, load_model


@pytest.fixture
def photo_y():
    from napari_superres._sample_data import astronaut_rgb
    from napari_superres.metrics import rgb_to_y

    return rgb_to_y(astronaut_rgb()) / 255.0


def _shrunk(img, deg, scale=2):
    t = torch.from_numpy(np.ascontiguousarray(img))[None]
    h, w = img.shape[0] // scale * scale, img.shape[1] // scale * scale
    return parse_degradation(deg).downsample(t[..., :h, :w], scale)[0].numpy()


def test_windows_are_a_fixed_spread_of_the_middle_plane(rng):
    stack = rng.random((5, 300, 400))
    wins = sample_windows(stack, "ZYX")
    assert len(wins) >= 6 and all(w.shape == (128, 128) for w in wins)
    assert np.array_equal(wins[0], stack[2, :128, :128])
    assert all(np.array_equal(a, b) for a, b in zip(wins, sample_windows(stack, "ZYX")))


@pytest.mark.skipif(not degradation_models("binning", 2), reason="no binning weights shipped")
def test_auto_recognises_binning_from_the_image_itself(photo_y):
    lr = _shrunk(photo_y, "binning")
    report = estimate_degradation(sample_windows(lr, "YX"), "default", 2)
    assert report["choice"] == "binning"
    assert report["internal_check_db"] > 0 and not report["fallback"]
    bic = estimate_degradation(sample_windows(_shrunk(photo_y, "bicubic"), "YX"), "default", 2)
    assert bic["choice"] == "bicubic"


def test_auto_falls_back_to_bicubic_on_pure_noise_and_says_so(rng):
    noise = rng.normal(0.5, 0.2, (256, 256)).astype(np.float32)
    out = nsr.upscale(noise, "default", 2, degradation="auto")
    report = estimate_degradation(sample_windows(noise, "YX"), "default", 2)
    if report["fallback"]:
        assert "worse than bicubic" in report["message"]
        expected = nsr.upscale(noise, "bicubic", 2).compute()
        assert np.allclose(out.compute(), expected)
    assert report["internal_check_db"] < 0.3  # noise has nothing to restore


def test_auto_is_recorded_in_the_output_and_printed_by_the_cli(tmp_path, photo_y, capsys):
    import tifffile

    src = tmp_path / "in.tif"
    tifffile.imwrite(src, np.clip(_shrunk(photo_y, "binning") * 65535, 0, 65535).astype(np.uint16))
    rc = main(["upscale", str(src), str(tmp_path / "o.ome.zarr"), "--degradation", "auto"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "degradation auto:" in cap.err and "expected gain" in cap.out
    attrs = json.loads((tmp_path / "o.ome.zarr" / "zarr.json").read_text())["attributes"]["napari_superres"]
    prov = attrs["provenance"]
    assert prov["degradation_auto"]["choice"] == prov["degradation"] or prov["degradation_auto"]["fallback"]
    assert set(prov["degradation_auto"]) >= {
        "confidence",
        "expected_gain_db",
        "internal_check_db",
        "mismatch",
    }


def test_the_gain_auto_tells_a_user_to_expect_is_what_bench_measured_on_real_images(photo_y):
    """Not the internal check (optimistic, and it does not rank real images): the mean and range of
    auto's gains in the real-data table (docs/bench-real.json), recorded in the weights auto blends."""
    from napari_superres.writer import auto_summary

    table = json.loads((Path(__file__).parents[1] / "docs" / "bench-real.json").read_text())
    for scale in (2, 3, 4):
        gains = [
            v["gain"]
            for r in table["rows"]
            if r["method"] == "auto (default model)" and r["scale"] == scale
            for v in r["per_image"].values()
        ]
        report = estimate_degradation(
            sample_windows(_shrunk(photo_y, "binning", scale), "YX"), "default", scale
        )
        assert report["expected_gain_db"] == pytest.approx(np.mean(gains), abs=0.006)
        assert report["expected_range_db"] == pytest.approx([min(gains), max(gains)], abs=0.006)
        line = auto_summary(report)
        assert f"expected gain over bicubic {np.mean(gains):+.2f} dB" in line
        assert f"this image's own check {report['internal_check_db']:+.2f} dB" in line


def test_bench_record_writes_autos_real_gains_where_auto_reads_them(tmp_path, monkeypatch, photo_y):
    from napari_superres import cli, models
    from napari_superres.bench import RealResult
    from napari_superres.writer import auto_summary

    copy = tmp_path / "espcn_x2_bicubic_noise.safetensors"
    copy.write_bytes(models.weights_path("espcn", 2, "bicubic", noise_robust=True).read_bytes())
    real_path = models.weights_path
    monkeypatch.setattr(
        models,
        "weights_path",
        lambda n, s, f="bicubic", sigma=None, noise_robust=False: (
            copy
            if (n, s, f, noise_robust) == ("espcn", 2, "bicubic", True)
            else real_path(n, s, f, sigma, noise_robust)
        ),
    )

    def row(deg, a, b):  # the image bench skipped ("c") has no gain
        per = {"a": {"gain": a}, "b": {"gain": b}, "c": {"skipped": "too small"}}
        return RealResult(deg, "auto (default model)", 2, 0, 0, 0, None, None, 2, 0, per)

    rows = [row("bicubic", 1.0, 2.0), row("binning", -0.5, 0.5)]
    cli._record_auto(rows, "napari-superres bench --real DATA --record")
    report = estimate_degradation(sample_windows(_shrunk(photo_y, "binning"), "YX"), "default", 2)
    assert (report["expected_gain_db"], report["expected_range_db"]) == (0.75, [-0.5, 2.0])
    assert auto_summary(report, short=True).endswith("expected gain +0.75 dB")
    assert "expected gain over bicubic +0.75 dB (real test images: -0.50 to +2.00)" in auto_summary(report)
    assert "bicubic / binning" in report["expected_from"]


@pytest.mark.skipif(not degradation_models("binning", 2), reason="no binning weights shipped")
def test_auto_enlarges_with_the_weighted_blend_of_the_candidates_and_tiles_exactly(photo_y):
    lr = _shrunk(photo_y, "binning")[:120, :150].astype(np.float32)
    report = estimate_degradation(sample_windows(lr, "YX"), "default", 2)
    w = report["weights"]
    assert set(w) == {"bicubic", "binning"} and abs(sum(w.values()) - 1) < 1e-6
    assert report["choice"] == max(w, key=w.get) and report["confidence"] == w[report["choice"]]
    out = nsr.upscale(lr, "default", 2, degradation="auto").compute()
    parts = {  # the candidates' noise-robust weights, where they are a file of their own
        c: nsr.upscale(
            lr, load_model("default", 2, degradation=c, noise_robust=True), 2, degradation=None
        ).compute()
        for c in w
    }
    np.testing.assert_allclose(out, sum(w[c] * parts[c] for c in w), atol=1e-5)
    tiled = nsr.upscale(lr, "default", 2, degradation="auto", tile=40).compute()
    np.testing.assert_allclose(tiled, out, atol=1e-6)


def _puncta(rng, n=150, size=256):
    """A fluorescence-like field: bright puncta on a dark, flat background."""
    yy, xx = np.mgrid[:size, :size]
    hr = np.zeros((size, size))
    for _ in range(n):
        cy, cx = rng.uniform(5, size - 5, 2)
        r = rng.uniform(1.5, 3)
        hr += rng.uniform(0.3, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return 0.05 + 0.8 * hr / hr.max()


@pytest.mark.skipif(not degradation_models("binning", 2), reason="no binning weights shipped")
def test_auto_draws_no_texture_over_a_noisy_background(rng):
    """Noisy fluorescence: the background of auto's result is no rougher than bicubic
    interpolation's; the clean-photograph bicubic weights (degradation='bicubic') roughen it."""
    from napari_superres.bench import noise_ratio

    hr = _puncta(rng)
    lr = rng.poisson(_shrunk(hr, "binning") * 300) / 300
    lr = (lr * 1000).astype(np.uint16)
    bic = nsr.upscale(lr, "bicubic", 2).compute() / 1000.0

    def ratio(deg):
        return noise_ratio(nsr.upscale(lr, "default", 2, degradation=deg).compute() / 1000.0, bic, hr)

    assert ratio("auto") < 1.0
    assert ratio("bicubic") > 1.3


def test_a_blend_reloads_from_its_origin_as_the_same_model():
    """A cluster's workers load the blend by its origin (parts by name or file), not from the graph."""
    from napari_superres.models.wrappers import blended, with_self_ensemble

    parts = [
        load_model("espcn", 2, degradation="bicubic", noise_robust=True),
        load_model("espcn", 2, degradation="binning"),
    ]
    blend = blended(parts, [0.6, 0.4])
    again = load_model(blend.origin, 2)
    assert again.token == blend.token and again.config["blend"] == {"bicubic": 0.6, "binning": 0.4}
    assert load_model(with_self_ensemble(blend).origin, 2).token == with_self_ensemble(blend).token


def test_a_blend_refuses_networks_of_different_scales():
    from napari_superres.errors import SuperResError
    from napari_superres.models import load_model
    from napari_superres.models.wrappers import blended

    with pytest.raises(SuperResError, match="same scale"):
        blended([load_model("espcn", 2), load_model("espcn", 3)], [0.5, 0.5])
