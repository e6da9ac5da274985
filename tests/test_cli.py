"""The command line: one-line errors with exit status 2, nothing written; the happy paths."""

import re
import subprocess
import sys

import numpy as np
import pytest
import tifffile
import zarr


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "napari_superres", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def tiff(tmp_path, textured):
    p = tmp_path / "stack.tif"
    tifffile.imwrite(
        p, np.stack([textured] * 2), tile=(64, 64), metadata={"axes": "ZYX"}, photometric="minisblack"
    )
    return p


def test_upscale_a_tiff_to_ome_zarr_with_summary(tmp_path, tiff, textured):
    out = tmp_path / "out.ome.zarr"
    r = run("upscale", tiff, out, "--model", "espcn", "--scale", "2", "--tile", "48")
    assert r.returncode == 0, r.stderr
    assert "MP/s" in r.stdout and str(out) in r.stdout and "(2, 194, 262)" in r.stdout
    arr = zarr.open_group(str(out), mode="r")["0"]
    assert arr.shape == (2, 194, 262) and arr.dtype == np.uint16
    assert abs(float(arr[0].mean()) - float(textured.mean())) < 0.01 * textured.mean()


@pytest.mark.parametrize(
    "args, message",
    [
        (["upscale", "missing.tif", "o.zarr"], "does not exist"),
        (["upscale", "notes.txt", "o.zarr"], "unknown input format"),
        (["upscale", "{tiff}", "o.zarr", "--axes", "QYX"], "axes"),
        (["upscale", "{tiff}", "o.zarr", "--scale", "1"], "above 1"),
        (["upscale", "{tiff}", "o.zarr", "--scale", "9"], "at most 8"),
        (["upscale", "{tiff}", "o.zarr", "--scale", "two"], "scale must be a number"),
        (["upscale", "{tiff}", "o.zarr", "--model", "weights.bin"], "cannot read"),
        (["upscale", "{tiff}", "o.zarr", "--model", "weights.safetensors"], "not a safetensors file"),
        (["train", "{tiff}", "--config", "{{residual: 1}}", "--out", "w.safetensors"], "not valid JSON"),
        (["train", "{tiff}", "--out", "weights.safetensors"], "exists; choose another output"),
        (["upscale", "{tiff}", "o.zarr", "--model", "espcm"], "Did you mean espcn"),
        (["upscale", "{tiff}", "o.zarr", "--model", "espcn", "--scale", "8"], "x2, x3, x4"),
        (["upscale", "tiny.tif", "o.zarr"], "needs at least"),
        (["upscale", "nan.tif", "o.zarr", "--normalize", "1,1"], "finite LO < HI"),
        (["upscale", "nan.tif", "o.zarr", "--normalize", "0,inf"], "finite LO < HI"),
        (["upscale", "{tiff}", "o.zarr", "--consistency", "100000"], "--consistency must be a number"),
        (["upscale", "{tiff}", "o.zarr", "--model", "espcn+bp999999"], "(+bpN) must be 1 to 50"),
        (["upscale", "{tiff}", "{tiff}"], "is the input"),
        (["upscale", "{tiff}", "existing"], "to replace it: --overwrite"),
        (["bench", "nowhere"], "does not exist"),
        (["upscale", "existing", "o.zarr"], "is a folder, not an image"),
    ],
)
def test_bad_input_gives_one_line_and_status_2(tmp_path, tiff, args, message):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "weights.bin").write_bytes(b"\x80\x04not a safetensors file at all")
    (tmp_path / "weights.safetensors").write_bytes(b"\x80\x04not a safetensors file at all")
    tifffile.imwrite(tmp_path / "tiny.tif", np.zeros((2, 40), np.uint16))
    tifffile.imwrite(tmp_path / "nan.tif", np.full((20, 20), np.nan, np.float32))
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "keep.txt").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run(*[a.format(tiff=tiff) for a in args], cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert not re.search(r"\b[a-z_]+=(True|None|'|\d| )", lines[0]), lines  # flags, not Python syntax
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_models_lists_shipped_weights_and_quality():
    r = run("models")
    assert r.returncode == 0
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("espcn"))
    assert "(default)" in line and "x2,x3,x4" in line and "shipped" in line
    assert "x2 36." in line  # measured Set5 PSNR recorded in the weights by `bench --record`


def test_demo_writes_ome_zarr_and_beats_bicubic(tmp_path):
    r = run("demo", tmp_path / "demo.ome.zarr")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "demo.ome.zarr" / "zarr.json").exists()
    last = r.stdout.strip().splitlines()[-1]
    ours = float(last.split("default model ")[1].split(" dB")[0])
    bic = float(last.split("bicubic ")[1].split(" dB")[0])
    assert ours > bic + 1.0


@pytest.mark.slow
@pytest.mark.parametrize("stop, status", [("SIGINT", 130), ("SIGTERM", 143)], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_keeps_finished_chunks_and_the_rerun_resumes(tmp_path, rng, stop, status):
    """Ctrl-C, and SIGTERM (``kill``, a batch system's time limit) likewise: the tiles in flight finish,
    the output's lock is released, and the same command resumes."""
    import os
    import signal
    import time

    from napari_superres.io.lock import lock_path

    src = tmp_path / "big.tif"
    tifffile.imwrite(
        src,
        (rng.random((2, 300, 320)) * 60000).astype(np.uint16),
        tile=(64, 64),
        photometric="minisblack",
        metadata={"axes": "ZYX"},
    )
    out = tmp_path / "o.ome.zarr"
    cmd = [
        sys.executable,
        "-m",
        "napari_superres",
        "upscale",
        str(src),
        str(out),
        "--model",
        "ibp",
        "--tile",
        "16",
    ]
    proc = subprocess.Popen(
        cmd,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    markers = out / ".superres-done"
    deadline = time.time() + 120
    while time.time() < deadline and not (markers.exists() and len(os.listdir(markers)) >= 30):
        time.sleep(0.05)
    proc.send_signal(getattr(signal, stop))
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == status
    assert err.strip().splitlines()[-1].startswith("interrupted: finished chunks are kept")
    assert not lock_path(out).exists()  # released on the way out
    kept = len(os.listdir(markers))
    assert 30 <= kept < 2 * 19 * 20
    r = run(*cmd[3:])
    assert r.returncode == 0, r.stderr
    assert f"resuming: {kept} of" in r.stderr


def test_every_option_explains_itself_and_its_default():
    from napari_superres.cli_args import parser

    p = parser()
    verbs = next(a for a in p._actions if a.dest == "verb").choices
    for verb, sub in verbs.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"napari-superres {verb} {action.option_strings[0]} has no help text"
    text = " ".join(verbs["train"].format_help().split())
    assert "(default: 2000)" in text and "(default: 0.001)" in text
