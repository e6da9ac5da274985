import json

import numpy as np
import pytest
import torch

import napari_superres as nsr
from napari_superres.errors import SuperResError
from napari_superres.models import build, read_metadata, weights_path
from napari_superres.training import save_weights


def test_load_model_descriptor():
    m = nsr.load_model("default", scale=3)
    assert (m.arch, m.scale, m.in_channels, m.halo, m.exact_tiling) == ("espcn", 3, 1, 4, True)
    assert 20_000 < m.parameters < 26_000  # ESPCN's published size
    for key in ("training_data", "steps", "set5_psnr", "command", "date", "val_psnr"):
        assert m.metadata.get(key), key


def test_list_models_reads_headers_only():
    rows = {r["name"]: r for r in nsr.list_models()}
    assert rows["espcn"]["default"] and rows["espcn"]["scales"] == [2, 3, 4]
    assert float(rows["espcn"]["quality"][2]) > 36.5
    assert rows["bicubic"]["shipped"] and not rows["bicubic"]["trained"]


def test_shipped_weights_have_provenance_and_no_pickle():
    raw = weights_path("espcn", 2).read_bytes()
    assert b"\x80\x04" not in raw[:64]  # not a pickle
    meta = read_metadata(weights_path("espcn", 2))
    assert json.loads(meta["config"]) == {"act": "relu"}
    # fine-tuned from the 40 000-step GPU weights: what, on which data, with which command, is recorded
    assert "T91" in meta["training_data"] and "validation split held out" in meta["training_data"]
    assert meta["init"] == "espcn" and meta["steps"] == "4000" and "--gain" in meta["command"]
    assert json.loads(meta["gain_augmentation"])["range"] == [0.5, 2.0]


def test_user_weights_round_trip(tmp_path):
    m = build("espcn", 2, {"features": [16, 8]})
    save_weights(
        m, tmp_path / "mine.safetensors", {"arch": "espcn", "scale": "2", "config": json.dumps(m.config)}
    )
    back = nsr.load_model(tmp_path / "mine.safetensors")
    x = torch.rand(1, 1, 12, 12)
    assert torch.equal(back(x), m(x))


def test_mismatched_or_foreign_weights_are_refused(tmp_path):
    m = build("espcn", 2)
    bad = tmp_path / "bad.safetensors"
    save_weights(m, bad, {"arch": "espcn", "scale": "2", "config": json.dumps({"features": [8, 4]})})
    with pytest.raises(SuperResError, match="do not match"):
        nsr.load_model(bad)
    bad.with_suffix(".txt").write_text("weights?")
    with pytest.raises(SuperResError, match="cannot read"):
        nsr.load_model(bad.with_suffix(".txt"))
    bad.write_bytes(b"\x00\x01")  # a truncated safetensors file
    with pytest.raises(SuperResError, match="not a safetensors file"):
        nsr.load_model(bad)
    with pytest.raises(SuperResError, match="does not exist"):
        nsr.load_model(tmp_path / "missing.safetensors")


def test_shipped_model_improves_a_real_image():
    from napari_superres._sample_data import astronaut_rgb
    from napari_superres.degradation import imresize
    from napari_superres.metrics import psnr, rgb_to_y

    hr = rgb_to_y(astronaut_rgb())
    for s in (2, 3, 4):
        h = hr[: hr.shape[0] // s * s, : hr.shape[1] // s * s]
        lr = imresize(h, 1 / s).astype(np.float32) / 255
        sr = nsr.upscale(lr, "espcn", s, normalize=None).compute() * 255
        bic = nsr.upscale(lr, "bicubic", s, normalize=None).compute() * 255
        assert psnr(sr[s:-s, s:-s], h[s:-s, s:-s]) > psnr(bic[s:-s, s:-s], h[s:-s, s:-s]) + 1.0


def test_every_shipped_weights_file_records_how_it_was_trained():
    from napari_superres.models import NAMED, shipped_scales

    files = [weights_path(n, s) for n in NAMED for s in shipped_scales(n) if NAMED[n]["trained"]]
    assert len(files) >= 6
    for f in files:
        assert b"\x80\x04" not in f.read_bytes()[:64], f.name  # safetensors, not a pickle
        meta = read_metadata(f)
        for key in ("arch", "config", "training_data", "steps", "command", "wall_time_s", "set5_psnr"):
            assert meta.get(key), (f.name, key)
        assert "T91" in meta["training_data"], f.name
        m = nsr.load_model(f)
        assert m.metadata["set5_psnr"] == meta["set5_psnr"]
