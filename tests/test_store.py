"""OME-Zarr output: metadata, pyramid, refusal rules and resume after a killed process."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

import napari_superres as nsr
from napari_superres.errors import SuperResError
from napari_superres.writer import iter_write


def attrs(path):
    return json.loads((Path(path) / "zarr.json").read_text())["attributes"]


def test_ome_zarr_metadata_scale_translation_and_pyramid(tmp_path, rng):
    img = (rng.random((3, 300, 280)) * 1000).astype(np.uint16)
    out = tmp_path / "out.ome.zarr"
    arr = nsr.upscale(img, "bicubic", 2, axes="ZYX", out=out, tile=128)
    assert isinstance(arr, zarr.Array) and arr.shape == (3, 600, 560) and arr.dtype == np.uint16
    ome = attrs(out)["ome"]
    assert ome["version"] == "0.5"
    ms = ome["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    tr0 = ms["datasets"][0]["coordinateTransformations"]
    assert tr0[0]["scale"] == [1.0, 0.5, 0.5]
    assert tr0[1]["translation"] == [0.0, -0.25, -0.25]  # t_in - s_in (s-1)/(2s)
    assert len(ms["datasets"]) == 2  # 600 -> 300: one extra level
    lvl1 = zarr.open_group(str(out), mode="r")["1"]
    assert lvl1.shape == (3, 300, 280)
    # level 1 is the 2x2 mean of level 0, and of a x2 result it sits on the input pixel grid
    assert ms["datasets"][1]["coordinateTransformations"][1]["translation"] == [0.0, 0.0, 0.0]
    expect = np.rint(arr[:].astype(float).reshape(3, 300, 2, 280, 2).mean(axis=(2, 4)))
    assert np.array_equal(lvl1[:], expect.astype(np.uint16))
    assert attrs(out)["napari_superres"]["status"] == "complete"
    assert not (out / ".superres-done").exists()  # completion is recorded; markers are cleaned up


def test_output_validates_as_ngff_0_5(tmp_path, rng):
    from ome_zarr_models.v05.image import Image

    img = (rng.random((2, 3, 300, 280)) * 1000).astype(np.uint16)
    out = tmp_path / "tczyx.ome.zarr"
    nsr.upscale(img, "bicubic", 2, axes="CZYX", out=out)
    model = Image.from_zarr(zarr.open_group(str(out), mode="r"))
    assert model.attributes.ome.version == "0.5"
    assert [a.name for a in model.attributes.ome.multiscales[0].axes] == ["c", "z", "y", "x"]


def test_physical_metadata_of_an_ome_zarr_input_carries_over(tmp_path, rng):
    img = (rng.random((40, 50)) * 200).astype(np.uint8)
    first = tmp_path / "a.ome.zarr"
    nsr.upscale(img, "bicubic", 2, out=first)
    g = zarr.open_group(str(first), mode="r+")
    ome = dict(g.attrs["ome"])
    ms = ome["multiscales"][0]
    ms["axes"][0]["unit"] = ms["axes"][1]["unit"] = "micrometer"
    ms["datasets"][0]["coordinateTransformations"] = [
        {"type": "scale", "scale": [0.4, 0.4]},
        {"type": "translation", "translation": [10.0, 20.0]},
    ]
    g.attrs["ome"] = ome
    second = tmp_path / "b.ome.zarr"
    arr = nsr.upscale(first, "bicubic", 3, out=second)
    assert arr.shape == (240, 300)
    ms2 = attrs(second)["ome"]["multiscales"][0]
    t = ms2["datasets"][0]["coordinateTransformations"]
    assert np.allclose(t[0]["scale"], [0.4 / 3, 0.4 / 3])
    assert np.allclose(t[1]["translation"], [10 - 0.4 * 2 / 6, 20 - 0.4 * 2 / 6])
    assert ms2["axes"][0]["unit"] == "micrometer"


def test_rgb_is_written_in_ome_axis_order(tmp_path, rng):
    rgb = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
    arr = nsr.upscale(rgb, "bicubic", 2, out=tmp_path / "rgb.zarr")
    assert arr.shape == (3, 60, 80)
    lazy = nsr.upscale(rgb, "bicubic", 2).compute()
    assert np.array_equal(np.moveaxis(arr[:], 0, -1), lazy)


def test_existing_output_is_refused_unless_overwrite(tmp_path, textured):
    out = tmp_path / "o.zarr"
    nsr.upscale(textured, "bicubic", 2, out=out)
    before = zarr.open_group(str(out), mode="r")["0"][:]
    with pytest.raises(SuperResError, match="other settings.*overwrite"):
        nsr.upscale(textured, "espcn", 2, out=out)
    assert np.array_equal(zarr.open_group(str(out), mode="r")["0"][:], before)  # untouched
    arr = nsr.upscale(textured, "espcn", 2, out=out, overwrite=True, degradation="bicubic")
    assert not np.array_equal(arr[:], before)
    other = tmp_path / "notzarr"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(SuperResError, match="exists"):
        nsr.upscale(textured, "bicubic", 2, out=other)
    with pytest.raises(SuperResError, match="not a zarr"):
        nsr.upscale(textured, "bicubic", 2, out=other, overwrite=True)
    assert (other / "precious.txt").read_text() == "keep me"


def test_output_that_is_the_input_is_refused(tmp_path, textured):
    src = tmp_path / "in.zarr"
    z = zarr.create_array(str(src), shape=textured.shape, chunks=(32, 32), dtype=textured.dtype)
    z[:] = textured
    for target in (src, src / "sub"):
        with pytest.raises(SuperResError, match="is the input"):
            nsr.upscale(src, "bicubic", 2, out=target, overwrite=True)
    assert np.array_equal(zarr.open_array(str(src), mode="r")[:], textured)


RUNNER = textwrap.dedent(
    """
    import sys, numpy as np, napari_superres as nsr
    img = np.load(sys.argv[1])
    nsr.upscale(img, "ibp", 2, tile=16, out=sys.argv[2], progress=lambda m: print(m.get("done"), flush=True))
    """
)


@pytest.mark.slow
def test_resume_after_kill_9_computes_only_missing_chunks_and_matches(tmp_path, rng):
    img = (rng.random((160, 176)) * 60000).astype(np.uint16)
    np.save(tmp_path / "img.npy", img)
    out = tmp_path / "killed.ome.zarr"
    script = tmp_path / "run.py"
    script.write_text(RUNNER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "img.npy"), str(out)], stdout=subprocess.PIPE, text=True
    )
    markers = out / ".superres-done"
    deadline = time.time() + 120
    while time.time() < deadline:
        if markers.exists() and len(list(markers.iterdir())) >= 20:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(markers.iterdir()))
    total = 11 * 10
    assert 0 < done_before < total, "the run was not interrupted mid-way"
    assert attrs(out)["napari_superres"]["status"] == "running"

    msgs = list(iter_write(img, out, model="ibp", scale=2, tile=16))
    assert msgs[0]["done"] == done_before  # only the missing chunks are computed
    assert attrs(out)["napari_superres"]["status"] == "complete"
    resumed = zarr.open_group(str(out), mode="r")["0"][:]
    clean = nsr.upscale(img, "ibp", 2, tile=16, out=tmp_path / "clean.ome.zarr")[:]
    assert np.array_equal(resumed, clean)


def test_non_integer_scale_output_and_metadata(tmp_path, textured, monkeypatch):
    from napari_superres.models import SRModel

    calls = []
    real = SRModel.__call__
    monkeypatch.setattr(SRModel, "__call__", lambda self, x: (calls.append(1), real(self, x))[1])
    out = tmp_path / "x25.ome.zarr"
    arr = nsr.upscale(textured, "espcn", 2.5, out=out, tile=40, degradation="bicubic")  # no auto estimate
    assert len(calls) == 3 * 4  # the network runs once per output block, none twice
    assert arr.shape == (243, 328)  # ceil(97 * 2.5), ceil(131 * 2.5)
    assert np.array_equal(
        arr[:], nsr.upscale(textured, "espcn", 2.5, tile=40, degradation="bicubic").compute()
    )
    ms = attrs(out)["ome"]["multiscales"][0]
    t = ms["datasets"][0]["coordinateTransformations"]
    assert np.allclose(t[0]["scale"], [0.4, 0.4])
    assert np.allclose(t[1]["translation"], [-1.5 / 5, -1.5 / 5])
    prov = attrs(out)["napari_superres"]["provenance"]
    assert "x3 network" in prov["non_integer_scale"]


def test_channel_names_carry_over_from_ome_zarr(tmp_path, rng):
    img = (rng.random((2, 40, 40)) * 1000).astype(np.uint16)
    first = tmp_path / "c.ome.zarr"
    nsr.upscale(img, "bicubic", 2, axes="CYX", out=first)
    g = zarr.open_group(str(first), mode="r+")
    ome = dict(g.attrs["ome"])
    ome["omero"] = {"channels": [{"label": "DAPI"}, {"label": "GFP"}]}
    g.attrs["ome"] = ome
    second = tmp_path / "c2.ome.zarr"
    nsr.upscale(first, "bicubic", 2, out=second)
    labels = [c["label"] for c in attrs(second)["ome"]["omero"]["channels"]]
    assert labels == ["DAPI", "GFP"]


def test_normalisation_statistics_are_sampled_once_per_write(tmp_path, monkeypatch, textured):
    import napari_superres.engine.plan as plan

    calls = []
    real = plan.stats

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(plan, "stats", counting)
    msgs = list(iter_write(textured, tmp_path / "o.zarr", model="bicubic", tile=16))
    assert sum(m["stage"] == "level0" for m in msgs) > 3  # several groups of chunks
    assert len(calls) == 1


def test_stopping_the_writer_leaves_nothing_running_and_resumes_exactly(tmp_path, rng, monkeypatch):
    """Closing the progress generator mid-run (Cancel, Ctrl-C) lets the tiles in flight finish and
    drops the rest: no chunk is written after it returns, and a rerun computes exactly the others."""
    from napari_superres.models import SRModel

    img = (rng.random((96, 128)) * 60000).astype(np.uint16)
    out = tmp_path / "stopped.ome.zarr"
    gen = iter_write(img, out, model="espcn", scale=2, tile=16, workers=2)
    for msg in gen:
        if msg.get("done", 0) >= 10:
            break
    gen.close()
    markers = out / ".superres-done"
    kept = len(list(markers.iterdir()))
    time.sleep(0.5)
    assert len(list(markers.iterdir())) == kept  # nothing still running in the background
    assert 10 <= kept < 48
    real = SRModel.__call__
    calls = []
    monkeypatch.setattr(SRModel, "__call__", lambda self, x: calls.append(1) or real(self, x))
    resumed = nsr.upscale(img, "espcn", 2, tile=16, out=out)[:]
    assert len(calls) == 48 - kept
    monkeypatch.setattr(SRModel, "__call__", real)
    assert np.array_equal(resumed, nsr.upscale(img, "espcn", 2, tile=16).compute())
