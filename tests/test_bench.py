"""The evaluator follows PROTOCOL.md: bicubic reproduces the published baselines."""

from pathlib import Path

import pytest

from napari_superres.bench import evaluate

PUBLISHED_BICUBIC = {2: 33.66, 3: 30.39, 4: 28.42}
TARGETS = {2: 36.5, 3: 32.5, 4: 30.3}


def test_bicubic_reproduces_published_set5(sr_data):
    rows = evaluate(sr_data / "Set5", ["bicubic"], [2, 3, 4])
    for r in rows:
        assert abs(r.psnr - PUBLISHED_BICUBIC[r.scale]) < 0.02, (r.scale, r.psnr)


@pytest.mark.slow
def test_shipped_espcn_meets_the_set5_targets(sr_data):
    rows = evaluate(sr_data / "Set5", ["default"], [2, 3, 4])
    for r in rows:
        assert r.psnr >= TARGETS[r.scale], (r.scale, r.psnr)
        assert r.consistency > 50  # degrading the output gives back the input closely


def _shipped_zoo():
    from napari_superres.models import NAMED, shipped_scales

    return [(n, s) for n in NAMED if n != "espcn" for s in shipped_scales(n) if NAMED[n]["trained"]]


ZOO_GAIN = {2: 2.5, 3: 2.0, 4: 1.5}  # dB over bicubic on Set5 that every shipped zoo model must reach


@pytest.mark.slow
@pytest.mark.parametrize("name,scale", _shipped_zoo())
def test_every_shipped_zoo_model_beats_bicubic_on_set5(sr_data, name, scale):
    """The issue's bar for shipping: +2.5 dB at x2, +1.5 at x4 (x3 in between), by our own bench,
    and the figure recorded in the weights' metadata is the one the bench gives now."""
    from napari_superres.models import read_metadata, weights_path

    got = {r.model: r.psnr for r in evaluate(sr_data / "Set5", ["bicubic", name], [scale])}
    assert got[name] >= got["bicubic"] + ZOO_GAIN[scale], (name, scale, got)
    assert abs(float(read_metadata(weights_path(name, scale))["set5_psnr"]) - got[name]) < 0.01


def test_flat_background_noise_ratio_tells_texture_from_sharp_edges():
    """Bright disks on a noisy background. A result with sharper disk edges and a smoother background
    than bicubic's draws no texture; one with bicubic's edges and added grain does. The plain
    background mask (HR below its 40th percentile) takes in the edges' high-pass and gets both
    wrong; the flat background (away from any object) gets both right."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    from napari_superres.bench import FLAT_MARGIN, noise_ratio

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:160, :160]
    clean = np.full((160, 160), 0.05)
    for cy, cx in rng.uniform(15, 145, (12, 2)):
        clean[(yy - cy) ** 2 + (xx - cx) ** 2 < 64] = 0.8
    noise = rng.normal(0, 0.01, clean.shape)
    hr = clean + noise
    bic = gaussian_filter(hr, 1.5)
    sharp_smooth = gaussian_filter(clean, 0.5) + gaussian_filter(noise, 3)
    grainy = bic + 0.01 * gaussian_filter(rng.normal(0, 1, clean.shape), 0.8)
    assert noise_ratio(sharp_smooth, bic, hr, margin=FLAT_MARGIN) < 0.5
    assert noise_ratio(grainy, bic, hr, margin=FLAT_MARGIN) > 2.0
    assert noise_ratio(sharp_smooth, bic, hr) > 2.0  # what the plain mask says: the edges, not texture
    assert noise_ratio(grainy, bic, hr) < 1.1  # and the grain it hardly sees
    dense = rng.uniform(0.2, 1, (64, 64))  # nothing but objects: no flat background, no figure
    assert noise_ratio(dense, gaussian_filter(dense, 1), dense, margin=FLAT_MARGIN) is None


REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


@pytest.mark.skipif(not (REAL_DATA / "microscopy").is_dir(), reason=f"real images not found at {REAL_DATA}")
def test_real_benchmark_shows_the_binning_model_beating_the_bicubic_one_on_binned_data(capsys, tmp_path):
    import json

    from napari_superres.cli import main

    out = tmp_path / "real.json"
    rc = main(["bench", "--real", str(REAL_DATA), "--degradation", "binning", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "| binning | x2 | default (true degradation) |" in text and "confocal" in text
    rows = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
    matched, blind = rows["default (true degradation)"], rows["default (bicubic-trained)"]
    assert matched["gain"] > blind["gain"] and matched["gain"] > 0.8
    assert matched["noise_ratio"] < blind["noise_ratio"]  # less texture drawn into flat background
    assert matched["flat_noise_ratio"] < 1.0 < blind["flat_noise_ratio"]
    assert len(matched["per_image"]) == 8


def test_with_auto_the_real_benchmark_also_scores_each_blending_network_as_a_user_gets_it():
    from napari_superres.bench import real_methods

    rows = {
        label: (model, told)
        for label, model, told, _ in real_methods(["default", "edsr-lite", "srcnn", "auto"])
    }
    assert rows["auto (default model)"] == ("default", "auto")
    assert rows["auto (edsr-lite)"] == ("edsr-lite", "auto")  # it ships bicubic and binning weights
    assert "auto (srcnn)" not in rows  # one set of weights: auto leaves it as it is
