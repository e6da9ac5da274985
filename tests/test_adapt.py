"""Adapting a model to one image: it never does worse on the held-back part, it is saved with what
was done, an output's rerun reuses it, and bad budgets are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import napari_superres as nsr
from napari_superres.adapt import MAX_STEPS, MIX, adapt, iter_adapt, sidecar
from napari_superres.cli import main
from napari_superres.degradation import parse_degradation
from napari_superres.models import load_model, read_metadata

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def binned():
    """A detailed photograph's luma, shrunk by 2x2 binning: what a camera with big pixels records."""
    from napari_superres._sample_data import astronaut_rgb
    from napari_superres.metrics import rgb_to_y

    hr = rgb_to_y(astronaut_rgb()[:256, 128:384].astype(np.float64)) / 255.0
    lr = parse_degradation("binning").downsample(torch.from_numpy(hr)[None], 2)[0].numpy()
    return hr, (lr * 65535).round().astype(np.uint16)


def test_adapting_a_near_miss_start_keeps_the_adapted_weights_and_records_them(monkeypatch, tmp_path):
    """A PSF the shipped weights do not have (sigma 0.7): the run is fixed at 100 steps (the budget's
    clock never ends it), so the outcome does not depend on the machine's speed."""
    import napari_superres.adapt as adapt_module
    from napari_superres._sample_data import astronaut_rgb
    from napari_superres.metrics import rgb_to_y

    monkeypatch.setattr(adapt_module, "MAX_STEPS", 100)
    hr = rgb_to_y(astronaut_rgb()[:256, 128:384].astype(np.float64)) / 255.0
    lr = parse_degradation("gaussian:0.7").downsample(torch.from_numpy(hr)[None], 2)[0].numpy()
    lr = (lr * 65535).round().astype(np.uint16)
    out = tmp_path / "adapted.safetensors"
    res = adapt(lr, "default", 2, degradation="gaussian:0.7", seconds=300, out=out)
    assert res.kept == "adapted" and res.steps == 100
    assert res.gain_db == pytest.approx(res.adapted_gain_db) and res.gain_db > 0.3  # held-back part
    record = json.loads(read_metadata(out)["adapted"])
    assert record["start"] == "espcn" and record["degradation"] == "gaussian:0.7" and record["steps"] == 100
    assert record["mix"] == MIX  # how far the kept weights moved from the start
    assert record["added_noise"]["share"] == adapt_module.NOISY_SHARE and record["noise_sigma"] > 0
    assert record["shrinks"] == list(adapt_module.SHRINKS)
    assert not [k for k in read_metadata(out) if k.startswith("real_gain")]  # the start's figures, not these
    again = load_model(out, 2)  # loads like any weights file, and enlarges the image
    assert again.degradation == "gaussian:0.7"
    adapted = nsr.upscale(lr, str(out), 2)
    start = nsr.upscale(lr, "default", 2, degradation="gaussian:0.7")
    assert adapted.shape == start.shape == (256, 192)
    assert not np.array_equal(adapted, start)


def test_when_no_held_back_check_beats_the_start_the_start_is_kept_and_nothing_written(
    binned, tmp_path, monkeypatch
):
    import napari_superres.adapt as adapt_module

    monkeypatch.setattr(adapt_module, "MAX_STEPS", 30)  # 30 steps, however busy the machine
    _, lr = binned
    out = tmp_path / "adapted.safetensors"
    res = adapt(lr, "default", 2, degradation="binning", seconds=300, out=out, lr=0.0)  # weights never move
    assert res.kept == "start" and res.gain_db == 0.0 and res.steps == 30
    assert not out.exists()  # nothing to keep


def test_adapting_to_a_noisy_fluorescence_image_does_not_draw_its_noise(monkeypatch):
    """Synthetic nuclei (shot and read noise), 2x2 binned. The image's own pairs are less noisy than the
    image (shrinking averages noise away): trained on them alone, the network takes the input's noise
    for detail and draws it over the background; with noise back to the image's level on half the
    inputs, the flat background stays as smooth as the shipped network leaves it."""
    import napari_superres.adapt as adapt_module
    from napari_superres._sample_data import make_nuclei
    from napari_superres.bench import FLAT_MARGIN, noise_ratio

    monkeypatch.setattr(adapt_module, "MAX_STEPS", 300)  # a fixed run, whatever the machine's speed
    hr = make_nuclei((4, 256, 256), count=50)[2].astype(np.float64)
    lr = parse_degradation("binning").downsample(torch.from_numpy(hr)[None], 2)[0].numpy().astype(np.float32)
    bic = np.asarray(nsr.upscale(lr, "bicubic", 2), np.float64)

    def flat(model) -> float:
        sr = np.asarray(nsr.upscale(lr, model, 2, degradation="binning"), np.float64)
        return noise_ratio(sr, bic, hr, margin=FLAT_MARGIN)

    start, shipped_share = flat("default"), adapt_module.NOISY_SHARE
    got = {}
    for share in (shipped_share, 0.0):
        monkeypatch.setattr(adapt_module, "NOISY_SHARE", share)
        res = adapt(lr, "default", 2, degradation="binning", seconds=300)
        assert res.kept == "adapted"
        got[share] = flat(res.model)
    assert got[shipped_share] <= start + 0.05, (start, got)
    assert got[0.0] > got[shipped_share] + 0.1, (start, got)  # without the noise: grain


def test_a_slow_start_does_not_cut_the_budget_short(binned, monkeypatch):
    """A machine busy at the start (the first steps slow) still gets the whole budget: the run does
    not stop at a step count guessed from its first steps."""
    import time

    from napari_superres.training.data import PairSampler

    _, lr = binned
    batch, calls = PairSampler.batch, []

    def slow_at_first(self, *a, **k):
        calls.append(1)
        if len(calls) <= 20:
            time.sleep(0.05)  # a second for the first 20 steps
        return batch(self, *a, **k)

    monkeypatch.setattr(PairSampler, "batch", slow_at_first)
    res = adapt(lr, "default", 2, degradation="binning", seconds=4)
    assert res.seconds >= 3.8 or res.steps >= MAX_STEPS, (res.seconds, res.steps)
    assert res.steps > 20  # it went on past the slow steps


def test_upscale_with_adapt_writes_beside_the_output_and_a_rerun_reuses_it(monkeypatch, tmp_path):
    import napari_superres.adapt as adapt_module
    from napari_superres._sample_data import make_nuclei

    monkeypatch.setattr(adapt_module, "MAX_STEPS", 150)  # the run's length does not hang on the machine

    plane = make_nuclei((4, 192, 192), count=40)[2]  # fluorescent nuclei: unlike the photographs trained on
    out = tmp_path / "x.ome.zarr"
    events = []
    nsr.upscale(plane, "default", 2, degradation="binning", adapt=300, out=out, progress=events.append)
    assert any(e.stage == "adapt" for e in events) and events[-1].stage == "done"
    record = json.loads(read_metadata(sidecar(out))["adapted"])
    assert record["held_back_gain_db"] > 0  # kept because it did better on the held-back rows
    provenance = json.loads((out / "zarr.json").read_text())["attributes"]["napari_superres"]["provenance"]
    assert provenance["adapted"]["start"] == "espcn" and provenance["adapted"]["degradation"] == "binning"
    again = []
    nsr.upscale(plane, "default", 2, degradation="binning", adapt=300, out=out, progress=again.append)
    assert "adapted to this image before" in again[0].message  # no second training
    assert again[-1].already_complete


def _change_by_adapting(hr, degradation, **kwargs):
    """The default network adapted to the LR that ``degradation`` makes of ``hr`` (x2): its gain over
    bicubic against the HR, which adapting never sees, minus the shipped network's; and what adapt did."""
    from napari_superres.bench import real_score

    hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
    lr = (
        parse_degradation(degradation).downsample(torch.from_numpy(hr)[None], 2)[0].numpy().astype(np.float32)
    )
    bic = np.asarray(nsr.upscale(lr, "bicubic", 2).compute(), np.float64)
    start = np.asarray(nsr.upscale(lr, "default", 2, degradation=degradation).compute(), np.float64)
    res = adapt(lr, "default", 2, degradation=degradation, **kwargs)
    sr = np.asarray(nsr.upscale(lr, res.model, 2, degradation=degradation).compute(), np.float64)
    return real_score(sr, hr, bic)[1] - real_score(start, hr, bic)[1], res


def test_adapting_helps_on_real_images_it_has_not_seen(monkeypatch):
    """Real held-out images, 2x2 binned: adapting the binning model to each LR (200 steps, however
    fast the machine) gains on average."""
    if not REAL.exists():
        pytest.skip(f"real images not found at {REAL}")
    import napari_superres.adapt as adapt_module
    from napari_superres.realdata import validation_images

    monkeypatch.setattr(adapt_module, "MAX_STEPS", 200)
    deltas = [_change_by_adapting(hr, "binning", seconds=300)[0] for _item, hr in validation_images(REAL)[:4]]
    assert np.mean(deltas) > 0.1, deltas


def test_adapting_does_not_lose_where_training_all_the_way_on_the_image_did():
    """The held-out Landsat crop, shrunk by bicubic: the network trained all the way on the LR's own
    pairs lost 0.25 dB against the HR (while its held-back check said +0.7); the weights kept, three
    quarters of the way from the start, lose less than 0.15."""
    if not REAL.exists():
        pytest.skip(f"real images not found at {REAL}")
    from napari_superres.realdata import validation_images

    hr = next(hr for item, hr in validation_images(REAL) if item.name.startswith("landsat"))
    change, res = _change_by_adapting(hr, "bicubic")  # the default budget: its 1 000 steps
    assert res.kept == "adapted" and change > -0.15, change


@pytest.mark.parametrize(
    "seconds, match",
    [(0, "positive number of seconds"), (-5, "positive number"), ("soon", "positive number")],
)
def test_a_budget_that_is_not_a_positive_time_is_refused(binned, seconds, match):
    with pytest.raises(nsr.SuperResError, match=match):
        next(iter_adapt(binned[1], "default", 2, seconds=seconds))


def test_models_without_weights_and_tiny_images_are_refused(binned):
    with pytest.raises(nsr.SuperResError, match="nothing to adapt"):
        adapt(binned[1], "bicubic", 2, seconds=1)
    with pytest.raises(nsr.SuperResError, match="too small to adapt"):
        adapt(np.zeros((20, 20), np.uint16), "default", 2, seconds=1)


def test_cli_adapt_bad_budget_is_one_line_and_writes_nothing(binned, tmp_path, capsys):
    import tifffile

    img = tmp_path / "img.tif"
    tifffile.imwrite(img, binned[1])
    out = tmp_path / "w.safetensors"
    assert main(["adapt", str(img), str(out), "--seconds", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "seconds" in err[0] and not out.exists()


def test_after_auto_adapting_starts_from_the_noise_robust_weights_auto_enlarges_with(binned):
    """degradation="auto" enlarges with noise-robust weights; adapting after it starts from those, not
    from the plain bicubic weights trained on clean photographs (which draw texture over noise)."""
    hr, _ = binned
    lr = parse_degradation("bicubic").downsample(torch.from_numpy(hr)[None], 2)[0].numpy().astype(np.float32)
    events = list(iter_adapt(lr, "default", 2, degradation="auto", seconds=2, lr=0.0))  # weights never move
    assert events[0]["message"] == "degradation auto: bicubic"
    res = events[-1]["result"]
    assert res.kept == "start"
    robust = load_model("default", 2, degradation="bicubic", noise_robust=True)
    assert res.model.token == robust.token != load_model("default", 2, degradation="bicubic").token
