"""Nothing stale, mixed or half-said: a changed input is noticed, one writer per output, corrupt inputs and
OS errors end in one line, the lazy graph stays small. docs/reliability.md lists each case and its test."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile
import zarr

import napari_superres as nsr
from napari_superres.errors import SuperResError
from napari_superres.io.lock import lock_path
from napari_superres.writer import iter_write


def _zarr(path, data, chunks=(32, 32)):
    z = zarr.open_array(str(path), mode="w", shape=data.shape, dtype=data.dtype, chunks=chunks)
    z[:] = data
    return str(path)


@pytest.fixture
def pair(rng):
    a = (rng.random((64, 64)) * 255).astype(np.uint8)
    return a, 255 - a


@pytest.mark.parametrize("kind", ["zarr", "tiff"])
def test_a_rewritten_input_is_read_again_in_the_same_process(tmp_path, pair, kind):
    a, b = pair
    path = tmp_path / ("s.zarr" if kind == "zarr" else "s.tif")
    write = (lambda d: _zarr(path, d)) if kind == "zarr" else (lambda d: tifffile.imwrite(path, d))
    write(a)
    first = nsr.upscale(str(path), "bicubic", 2).compute()
    write(b)  # same shape and dtype, other pixels
    second = nsr.upscale(str(path), "bicubic", 2).compute()
    assert np.array_equal(second, nsr.upscale(b, "bicubic", 2).compute())
    assert not np.array_equal(first, second)


def test_a_zarr_array_changed_in_place_is_read_again(tmp_path, pair):
    a, b = pair
    z = zarr.open_array(_zarr(tmp_path / "s.zarr", a), mode="r+")
    nsr.upscale(z, "bicubic", 2).compute()
    z[:] = b
    assert np.array_equal(nsr.upscale(z, "bicubic", 2).compute(), nsr.upscale(b, "bicubic", 2).compute())


def test_resuming_against_a_changed_input_refuses_and_overwrite_recomputes(tmp_path, pair):
    a, b = pair
    src = _zarr(tmp_path / "s.zarr", a)
    out = tmp_path / "o.ome.zarr"
    gen = iter_write(src, out, model="bicubic", tile=16, workers=1)
    for event in gen:
        if event.done >= 5:
            break
    gen.close()  # a run stopped part way: 5+ chunks of the old input are on disk
    _zarr(tmp_path / "s.zarr", b)
    with pytest.raises(SuperResError, match=r"input .*s\.zarr has changed since .* was started") as err:
        nsr.upscale(src, "bicubic", 2, tile=16, out=out)
    assert "--overwrite" in err.value.render("cli") and "\n" not in str(err.value)
    fresh = nsr.upscale(src, "bicubic", 2, tile=16, out=out, overwrite=True)[:]
    assert np.array_equal(fresh, nsr.upscale(b, "bicubic", 2).compute())


def test_a_finished_output_whose_input_changed_is_not_called_complete(tmp_path, pair):
    a, b = pair
    src = str(tmp_path / "s.tif")
    tifffile.imwrite(src, a)
    out = tmp_path / "o.ome.zarr"
    nsr.upscale(src, "bicubic", 2, out=out)
    again = list(iter_write(src, out, model="bicubic"))
    assert again[-1].already_complete  # unchanged input: nothing to compute
    tifffile.imwrite(src, b)
    with pytest.raises(SuperResError, match="has changed since .* was finished"):
        list(iter_write(src, out, model="bicubic"))


def test_another_input_into_the_same_output_is_named(tmp_path, pair):
    a, b = pair
    out = tmp_path / "o.ome.zarr"
    nsr.upscale(_zarr(tmp_path / "a.zarr", a), "bicubic", 2, out=out)
    with pytest.raises(SuperResError, match=r"was finished from another input \(.*a\.zarr\)"):
        nsr.upscale(_zarr(tmp_path / "b.zarr", b), "bicubic", 2, out=out)


def test_a_second_writer_is_refused_while_the_first_runs_even_with_overwrite(tmp_path, textured):
    out = tmp_path / "o.ome.zarr"
    first = iter_write(textured, out, model="bicubic", tile=16, workers=1)
    next(first)  # started: holds the output
    for overwrite in (False, True):
        with pytest.raises(SuperResError, match=rf"being written by process {os.getpid()} on ") as err:
            nsr.upscale(textured, "espcn", 2, out=out, overwrite=overwrite)
        assert "\n" not in str(err.value)
    with pytest.raises(SuperResError, match="being written by"):  # same settings: refused too, no crash
        nsr.upscale(textured, "bicubic", 2, tile=16, out=out)
    rest = list(first)  # the first run is unharmed and finishes
    assert rest[-1].stage == "done"
    assert not lock_path(out).exists()  # released and removed
    again = list(iter_write(textured, out, model="bicubic", tile=16))
    assert again[-1].already_complete


def test_a_stopped_writer_releases_the_output(tmp_path, textured):
    out = tmp_path / "o.ome.zarr"
    gen = iter_write(textured, out, model="bicubic", tile=16, workers=1)
    next(gen)
    gen.close()  # Cancel in the widget, Ctrl-C on the command line
    assert np.array_equal(
        nsr.upscale(textured, "bicubic", 2, tile=16, out=out)[:],
        nsr.upscale(textured, "bicubic", 2, tile=16).compute(),
    )


def test_the_lock_of_a_killed_writer_is_taken_over(tmp_path, textured):
    out = tmp_path / "o.ome.zarr"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from napari_superres.io.lock import output_lock\nwith output_lock({str(out)!r}):\n print('held', flush=True)\n import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SuperResError, match=rf"being written by process {holder.pid} "):
            nsr.upscale(textured, "bicubic", 2, out=out)
    finally:
        holder.kill()  # like kill -9: no clean-up runs, the lock file stays
        holder.wait()
    assert lock_path(out).exists()
    assert nsr.upscale(textured, "bicubic", 2, out=out).shape == (194, 262)
    assert not lock_path(out).exists()


def test_an_unreachable_scheduler_leaves_nothing_behind(tmp_path, textured, monkeypatch):
    pytest.importorskip("distributed")
    import distributed

    def refuse(address, timeout=None):  # what Client says when nothing listens (without its 10 s wait)
        raise OSError(f"Timed out trying to connect to {address}")

    monkeypatch.setattr(distributed, "Client", refuse)
    out = tmp_path / "o.ome.zarr"
    with pytest.raises(SuperResError, match="cannot reach the dask scheduler at tcp://127.0.0.1:1"):
        nsr.upscale(textured, "bicubic", 2, out=out, scheduler="tcp://127.0.0.1:1")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ---- corrupt or lying inputs: one line naming the file (and chunk), nothing written


def _truncated_tiff(tmp_path, a, **kw):
    tifffile.imwrite(tmp_path / "whole.tif", a, rowsperstrip=16, **kw)
    data = (tmp_path / "whole.tif").read_bytes()
    (tmp_path / "in.tif").write_bytes(data[: len(data) // 2])
    return tmp_path / "in.tif"


def _damaged_chunk(tmp_path, a, chunk="c/3/3"):
    path = _zarr(tmp_path / "in.zarr", a, chunks=(64, 64))
    (tmp_path / "in.zarr" / chunk).write_bytes(b"not zstd" * 8)
    return path


def _lying_ome(tmp_path, a, change):
    import json

    nsr.upscale(a, "bicubic", 2, out=tmp_path / "in.ome.zarr")
    meta = tmp_path / "in.ome.zarr" / "zarr.json"
    doc = json.loads(meta.read_text())
    change(doc["attributes"]["ome"]["multiscales"][0])
    meta.write_text(json.dumps(doc))
    return tmp_path / "in.ome.zarr"


BAD_INPUTS = {
    "truncated TIFF": (
        lambda t, a: _truncated_tiff(t, a),
        r"cannot read .*in\.tif \(.*\): the file is damaged",
    ),
    "truncated deflate TIFF": (
        lambda t, a: _truncated_tiff(t, a, compression="zlib"),
        r"cannot read .*in\.tif \(.*\): the file is damaged",
    ),
    "damaged zarr chunk": (lambda t, a: _damaged_chunk(t, a, "c/0/0"), r"cannot read .*in\.zarr.*damaged"),
    "scale of one value on 2-D": (
        lambda t, a: _lying_ome(
            t, a, lambda m: m["datasets"][0]["coordinateTransformations"][0].update(scale=[0.5])
        ),
        "a scale needs 2 values",
    ),
    "dataset path that does not exist": (
        lambda t, a: _lying_ome(t, a, lambda m: m["datasets"][0].update(path="nope")),
        "dataset path 'nope' is not an array",
    ),
    "no datasets": (lambda t, a: _lying_ome(t, a, lambda m: m.update(datasets=[])), "lists no datasets"),
    "axes without names": (
        lambda t, a: _lying_ome(t, a, lambda m: [ax.pop("name") for ax in m["axes"]]),
        "need one-letter names",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_a_corrupt_or_lying_input_ends_in_one_line_and_nothing_is_written(tmp_path, rng, case, capsys):
    from napari_superres.cli import main

    make, expect = BAD_INPUTS[case]
    src = make(tmp_path, (rng.random((512, 512)) * 255).astype(np.uint8))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["upscale", str(src), str(tmp_path / "out.ome.zarr")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    import re

    assert re.search(expect, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_damaged_chunk_met_mid_run_is_named_and_the_rest_stays_resumable(tmp_path, rng):
    a = (rng.random((512, 512)) * 255).astype(np.uint8)
    src = _damaged_chunk(tmp_path, a, "c/1/5")  # not among the windows sampled before the run
    out = tmp_path / "o.ome.zarr"
    with pytest.raises(SuperResError, match=r"cannot read chunk \(1, 5\) of .*in\.zarr .*damaged") as err:
        list(iter_write(src, out, model="bicubic", tile=64, workers=1))
    assert "\n" not in str(err.value)
    status = zarr.open_group(str(out), mode="r").attrs["napari_superres"]["status"]
    assert status == "running" and any((out / ".superres-done").iterdir())


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda w, p: p.write_bytes(w.read_bytes()[: w.stat().st_size // 2]), "truncated or damaged"),
        (lambda w, p: p.write_bytes(b"\x80\x04junk"), "cannot read .* as a PyTorch state dict"),
    ],
    ids=["truncated safetensors", "pickle header and junk"],
)
def test_a_damaged_weights_file_ends_in_one_line(tmp_path, textured, make, expect):
    from napari_superres.models import weights_path

    bad = tmp_path / ("w.safetensors" if "truncated" in expect else "w.pt")
    make(weights_path("espcn", 2), bad)
    with pytest.raises(SuperResError, match=expect) as err:
        nsr.upscale(textured, str(bad), 2)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "config, expect", [('{"bogus": 1}', "does not accept"), ("[1, 2]", "not a set of named")]
)
def test_weights_whose_config_is_nonsense_end_in_one_line(tmp_path, config, expect):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from napari_superres.models import load_model, weights_path

    src = weights_path("espcn", 2)
    meta = safe_open(str(src), "pt").metadata() | {"config": config}
    save_file(load_file(str(src)), str(tmp_path / "w.safetensors"), metadata=meta)
    with pytest.raises(SuperResError, match=expect):
        load_model(str(tmp_path / "w.safetensors"))


# ---- the operating system says no


def test_a_full_disk_ends_in_one_line_and_the_run_resumes_identically(tmp_path, textured, monkeypatch):
    import errno

    from napari_superres.writer import ome_zarr

    real, calls = ome_zarr._store_block, []

    def fills_up(*args):
        calls.append(1)
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args)

    out = tmp_path / "o.ome.zarr"
    monkeypatch.setattr(ome_zarr, "_store_block", fills_up)
    with pytest.raises(
        SuperResError, match="no space left on the device holding .*run the same command again"
    ) as err:
        list(iter_write(textured, out, model="espcn", tile=16, workers=1))
    assert "\n" not in str(err.value) and "--" not in err.value.render("python")
    monkeypatch.setattr(ome_zarr, "_store_block", real)
    resumed = nsr.upscale(textured, "espcn", 2, tile=16, out=out)[:]
    assert np.array_equal(resumed, nsr.upscale(textured, "espcn", 2, tile=16).compute())


def test_an_output_that_is_a_symlink_loop_is_refused(tmp_path, textured):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "loop.tif").symlink_to(tmp_path / "loop.tif")
    for name in ("loop", "loop.tif"):
        with pytest.raises(SuperResError, match="symbolic link to nothing"):
            nsr.upscale(textured, "bicubic", 2, out=tmp_path / name)


# ---- the lazy graph stays small at whole-slide sizes


def test_the_lazy_result_of_a_200000_px_square_input_is_small_and_slices_make_few_tasks(
    tmp_path, monkeypatch
):
    import tracemalloc

    from napari_superres.engine import plan

    path = str(tmp_path / "huge.zarr")  # 200000 x 200000 uint16 (80 GB), no chunk written: reads as zeros
    zarr.open_array(path, mode="w", shape=(200_000, 200_000), dtype=np.uint16, chunks=(1024, 1024))
    made = []
    real = plan.TileTask.__call__
    monkeypatch.setattr(plan.TileTask, "__call__", lambda self, idx: made.append(idx) or real(self, idx))
    nsr.upscale(np.zeros((8, 8), np.uint16), "bicubic", 2)  # imports and the model, outside the measurement
    made.clear()
    tracemalloc.start()
    lazy = nsr.upscale(path, "bicubic", 2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert lazy.shape == (400_000, 400_000) and lazy.numblocks == (782, 782)  # 611524 tiles
    assert made == [] and peak < 50e6  # was 611524 tasks and +433 MB before anything was computed
    window = lazy[200_000:200_300, 100_000:100_300].compute()
    assert window.shape == (300, 300) and len(made) <= 4  # the tiles under the window, no more


# ---- image-file outputs: written as images when they fit, else refused


def test_a_png_output_is_an_image_file_with_the_result(tmp_path, textured):
    from PIL import Image

    out = tmp_path / "big.png"
    nsr.upscale(textured, "bicubic", 2, out=out)
    assert out.is_file()  # not a zarr folder with an image's name
    back = np.asarray(Image.open(out))
    assert back.dtype == np.uint16 and np.array_equal(back, nsr.upscale(textured, "bicubic", 2).compute())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]  # no lock or partial file left
    with pytest.raises(SuperResError, match="exists"):
        nsr.upscale(textured, "bicubic", 2, out=out)


@pytest.mark.parametrize(
    "name, image, expect",
    [
        ("o.jpg", np.zeros((20, 20), np.uint16), "holds 8-bit values; this result is uint16"),
        ("o.png", np.zeros((3, 20, 20), np.uint8), "holds one grey or RGB plane; this result has axes ZYX"),
        ("o.png", np.zeros((20, 20), np.float32), "holds 8- or 16-bit values; this result is float32"),
        ("o.jpeg", np.zeros((20, 20, 4), np.uint8), "no transparency"),
        ("o.png", np.zeros((400, 400), np.uint8), "too large for a .png file"),
    ],
)
def test_an_image_file_output_that_cannot_hold_the_result_is_refused(
    tmp_path, monkeypatch, name, image, expect
):
    from napari_superres.writer import image as image_writer

    monkeypatch.setattr(image_writer, "MAX_PIXELS", 500_000)
    with pytest.raises(SuperResError, match=expect) as err:
        nsr.upscale(image, "bicubic", 2, out=tmp_path / name)
    assert ".ome.zarr" in str(err.value) and list(tmp_path.iterdir()) == []
