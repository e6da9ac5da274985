"""Speed and memory benchmark: ``napari-superres perf``. Prints numbers; asserts nothing.

In one run, on the same synthetic uint16 image, each stage in its own process (so its peak
resident memory is its own; loading the model, a warm-up pass and the one-time imports of dask and
zarr come before the clock starts):

- ``raw``: one forward pass of the network on the whole in-memory image (float32 in [0, 1]);
- ``raw-tiles``: forward passes on non-overlapping tiles, no halo, no I/O (what tiling costs
  the network alone; on CPU usually *faster* than ``raw``, whose feature maps miss the caches);
- ``memory``: ``upscale(...)`` of the in-memory array, computed with the threaded scheduler;
- ``zarr``: zarr -> OME-Zarr end to end through :func:`napari_superres.writer.write`;
- ``monai``: MONAI's ``sliding_window_inference`` (the peer a user would otherwise reach for) with the
  same network, tile and image (overlap 0.25, Gaussian blending), when monai is installed.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STAGES = ("raw", "raw-tiles", "memory", "zarr", "monai")


def _image(size: int, r0: int = 0, r1: int | None = None) -> np.ndarray:
    """Rows r0:r1 of a smooth pattern with noise, like a microscopy field (uint16)."""
    r1 = size if r1 is None else r1
    rng = np.random.default_rng(r0)
    yy, xx = np.mgrid[r0:r1, 0:size]
    img = 20000 + 15000 * np.sin(yy / 17.0) * np.cos(xx / 23.0)
    return np.clip(img + rng.normal(0, 500, img.shape), 0, 65535).astype(np.uint16)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_stage(
    stage: str, model: str, scale: int, size: int, device: str, tile: int | None, workdir: str
) -> dict:
    """Run one stage in this process and return its timing and peak memory."""
    import dask.array  # noqa: F401  one-time imports happen before timing, like loading the model
    import dask.threaded  # noqa: F401
    import torch

    if stage == "zarr":
        import zarr  # noqa: F401

    from .api import upscale
    from .device import resolve_device
    from .models import load_model

    m = load_model(model, scale)
    dev = resolve_device(device)
    m.to(dev)
    m(torch.zeros(1, 1, 32, 32, device=dev))  # warm-up
    src_path = Path(workdir) / "input.zarr"
    out = {"stage": stage}
    if stage in ("raw", "raw-tiles", "memory", "monai"):
        img = _image(size)
    if stage == "raw":
        x = torch.from_numpy(img.astype(np.float32) / 65535.0)[None, None].to(dev)
        t0 = time.perf_counter()
        y = m(x)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out["seconds"] = time.perf_counter() - t0
        np.save(Path(workdir) / "raw.npy", (y[0, 0].cpu().numpy() * 65535.0))
    elif stage == "raw-tiles":
        t = tile or 256
        x = torch.from_numpy(img.astype(np.float32) / 65535.0)[None, None].to(dev)
        t0 = time.perf_counter()
        for i in range(0, size, t):
            for j in range(0, size, t):
                m(x[..., i : i + t, j : j + t])
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out["seconds"] = time.perf_counter() - t0
    elif stage == "monai":
        try:
            from monai.inferers import sliding_window_inference
        except ImportError:
            return {"stage": stage, "skipped": "monai is not installed (pip install monai)"}
        x = torch.from_numpy(img.astype(np.float32) / 65535.0)[None, None].to(dev)
        t = tile or 256
        t0 = time.perf_counter()
        with torch.inference_mode():
            # the same callable as ours (channels-last on CPUs), so only the tiling differs
            y = sliding_window_inference(x, (t, t), 1, m, overlap=0.25, mode="gaussian")
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out["seconds"] = time.perf_counter() - t0
        raw = Path(workdir) / "raw.npy"
        if raw.exists():
            y = np.clip(np.rint(y[0, 0].cpu().numpy() * 65535.0), 0, 65535)
            out["max_abs_diff_vs_raw"] = float(np.abs(y - np.load(raw)).max())
    elif stage == "memory":
        import dask

        t0 = time.perf_counter()
        y = upscale(img, m, scale, tile=tile, device=str(dev), normalize=(0, 65535), degradation=None)
        y = y.compute(scheduler="threads", num_workers=os.cpu_count())
        out["seconds"] = time.perf_counter() - t0
        raw = Path(workdir) / "raw.npy"
        if raw.exists():
            out["max_abs_diff_vs_raw"] = float(np.abs(y.astype(np.float64) - np.load(raw)).max())
        del dask
    elif stage == "zarr":
        from .engine import UpscaleOptions
        from .writer import write

        t0 = time.perf_counter()
        options = UpscaleOptions(m, scale, tile=tile, device=str(dev), normalize=(0, 65535), degradation=None)
        write(src_path, Path(workdir) / "out.ome.zarr", options, overwrite=True)
        out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = _peak_mb()
    out["input_mp"] = size * size / 1e6
    out["output_mp"] = size * size * scale * scale / 1e6
    return out


def _make_zarr_input(path: Path, size: int) -> None:
    import zarr

    z = zarr.create_array(str(path), shape=(size, size), chunks=(512, 512), dtype=np.uint16, overwrite=True)
    for i in range(0, size, 512):
        z[i : i + 512] = _image(size, i, min(size, i + 512))


def main(model="default", scale=2, size=2048, device="auto", tile=None, stages=STAGES) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory(prefix="superres-perf-") as wd:
        if "zarr" in stages:
            _make_zarr_input(Path(wd) / "input.zarr", size)
        for i, st in enumerate(stages, 1):
            t0 = time.perf_counter()
            print(
                f"stage {i} of {len(stages)}: {st} (in a fresh process) ...",
                end="",
                file=sys.stderr,
                flush=True,
            )
            cmd = [
                sys.executable,
                "-m",
                "napari_superres.perf",
                st,
                str(model),
                str(scale),
                str(size),
                device,
                str(tile or 0),
                wd,
            ]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"stage {st} failed: {r.stderr.strip().splitlines()[-1:]}")
            results.append(json.loads(r.stdout.strip().splitlines()[-1]))
            print(f" {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    raw = next((r["seconds"] for r in results if r["stage"] == "raw"), None)
    print(
        f"model {model} x{scale}, {size}x{size} uint16 input, device {device}, tile {tile or 'default'}, "
        f"{os.cpu_count()} CPU cores"
    )
    print(f"{'stage':10} {'seconds':>8} {'MP/s out':>9} {'x raw':>6} {'peak RSS MB':>12}  notes")
    for r in results:
        if "skipped" in r:
            print(f"{r['stage']:10} skipped: {r['skipped']}")
            continue
        ratio = f"{raw / r['seconds']:.2f}" if raw else "-"
        note = (
            f"max |diff| vs raw {r['max_abs_diff_vs_raw']:.3g} (uint16 levels)"
            if "max_abs_diff_vs_raw" in r
            else ""
        )
        print(
            f"{r['stage']:10} {r['seconds']:8.2f} {r['output_mp'] / r['seconds']:9.2f} {ratio:>6} "
            f"{r['peak_rss_mb']:12.0f}  {note}"
        )
    return results


if __name__ == "__main__":
    stage, model, scale, size, device, tile, wd = sys.argv[1:8]
    res = run_stage(stage, model, int(scale), int(size), device, int(tile) or None, wd)
    print(json.dumps(res))
