"""Nothing stale, mixed or half-said: a changed input is noticed, one writer per output, corrupt inputs and
OS errors end in one line, the lazy graph stays small. docs/reliability.md lists each case and its test."""

import os
import subprocess
import sys
import time

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


@pytest.mark.slow
def test_sigterm_stops_the_cli_like_ctrl_c_and_the_run_resumes(tmp_path, rng):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, (rng.random((1024, 1024)) * 60000).astype(np.uint16))
    out = tmp_path / "o.ome.zarr"
    cmd = [
        sys.executable,
        "-m",
        "napari_superres",
        "upscale",
        str(src),
        str(out),
        "--model",
        "espcn+x8",
        "--tile",
        "128",
    ]
    run = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    markers = out / ".superres-done"
    for _ in range(600):
        if markers.exists() and len(list(markers.iterdir())) >= 2:
            break
        time.sleep(0.05)
    run.terminate()
    err = run.communicate(timeout=60)[1]
    assert run.returncode == 143 and "Traceback" not in err
    assert "run the same command again to resume" in err
    assert not lock_path(out).exists()  # released on the way out
    done = len(list(markers.iterdir()))
    assert 2 <= done < 64
    resumed = subprocess.run(cmd, capture_output=True, text=True)
    assert resumed.returncode == 0 and f"resuming: {done} of 64" in resumed.stderr + resumed.stdout
