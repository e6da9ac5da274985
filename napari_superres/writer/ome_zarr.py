"""The resumable OME-Zarr writer: the enlarged image streamed into an OME-Zarr (NGFF 0.5, zarr v3).

Layout of an output ``OUT.ome.zarr``::

    zarr.json          group: attributes "ome" (NGFF 0.5 multiscales, omero channels) and
                       "napari_superres" (settings fingerprint, status, provenance)
    0/, 1/, 2/ ...     level 0 (the result) and 2x-downsampled levels for viewers
    .superres-done/    while running: one empty marker file per finished level-0 chunk

Each level-0 chunk is computed by exactly one task and written exactly once (dask chunks equal
zarr chunks). A chunk counts as done only when its marker exists, so a run killed at any point
(even ``kill -9``) resumes by computing just the chunks without a marker, and gives the same
bytes as an uninterrupted run. Once everything is written the status attribute becomes
"complete" and the markers are removed. A re-run with other settings, or against an input that has
changed since, refuses unless ``overwrite``; a second writer while one runs is refused
(:mod:`napari_superres.io.lock`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from .._version import __version__
from ..engine import UpscaleOptions, build, stream_order
from ..errors import SuperResError, from_os_error, opt
from ..events import Progress
from ..io import OME_ORDER, open_input
from ..io.geo import enlarged
from ..io.lock import output_lock
from ..io.ngff import build_pyramid, create_levels, level_geometry, ome_attrs, output_geometry, pyramid_shapes
from .schedule import client_for, groups, level0_progress, sliding_window

MARKERS = ".superres-done"


def same_place(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents or a in b.parents


def _refuse_input(out: Path, src) -> None:
    """The output must not be the input, nor inside it, nor hold it (nor be a link to nowhere)."""
    if out.is_symlink() and not out.exists():
        raise SuperResError(
            f"output {out} is a symbolic link to nothing (or a loop); remove it or choose another output"
        )
    if src.path and same_place(out, Path(src.path)):
        raise SuperResError(f"output {out} is the input or inside it; choose another output path")


def _check_output(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise SuperResError(f"output {out} exists and is a file; choose another path or remove it")
    parent = out.resolve().parent
    if not parent.exists():
        raise SuperResError(f"the folder {parent} for the output does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise SuperResError(f"cannot write into {parent}; choose a writable output location")


def _existing(out: Path) -> dict | None:
    """Our attributes of an existing output, {} for another zarr, None when absent."""
    if not out.exists():
        return None
    meta = out / "zarr.json"
    if meta.exists():
        try:
            return json.loads(meta.read_text()).get("attributes", {}).get("napari_superres", {}) or {}
        except (OSError, ValueError):
            return {}
    if any(out.iterdir()):
        return {"foreign": True}
    return None


def _store_block(block, target, slices, marker, perm=None):
    target[slices] = block if perm is None else block.transpose(perm)
    with open(marker, "w"):
        pass
    return None


def _fingerprint(plan, ranges, axes_out) -> dict:
    extra = {} if plan.nodata is None else {"nodata": plan.nodata}  # absent when unused: older outputs resume
    if plan.precision != "fp32":
        extra["precision"] = plan.precision
    if plan.degradation != "bicubic":
        extra["degradation"] = plan.degradation
    return extra | {
        "model": plan.model.name,
        "arch": plan.model.arch,
        "model_token": plan.model.token,
        "scale": plan.scale,
        "model_scale": plan.model_scale,
        "tile": plan.tile,
        "normalize": plan.normalize if not isinstance(plan.normalize, tuple) else list(plan.normalize),
        "ranges": None if ranges is None else np.asarray(ranges).round(6).tolist(),
        "source": plan.source_token,
        "input_shape": list(plan.source.shape),
        "input_dtype": str(plan.source.dtype),
        "input_axes": plan.source.axes,
        "output_axes": axes_out,
        "version": __version__,
    }


def _refuse_other(out: Path, old: dict, fp: dict, src) -> None:
    """Why an existing output of ours cannot be resumed or kept: its input changed since, it came from
    another input, or other settings (always raises)."""
    diff = sorted(k for k in fp if old["fingerprint"].get(k) != fp[k])
    replace = f"to replace it: {opt('overwrite', True)}, or choose another output"
    if diff == ["source"]:
        made_from = old.get("provenance", {}).get("input")
        was = "finished" if old.get("status") == "complete" else "started"
        if made_from == (src.path or "array in memory"):
            raise SuperResError(
                f"the input {made_from} has changed since {out} was {was} from it, so the output does not "
                f"match it; {replace}"
            )
        raise SuperResError(f"output {out} was {was} from another input ({made_from}); {replace}")
    raise SuperResError(
        f"output {out} exists and was made with other settings ({', '.join(diff)}); {replace}"
    )


def options_from(options, kwargs) -> UpscaleOptions:
    """``options``, or the :class:`UpscaleOptions` the keyword arguments (model=, scale=, ...) make."""
    if options is None:
        return UpscaleOptions(**kwargs)
    if kwargs:
        raise TypeError(f"give options or keyword options, not both ({', '.join(kwargs)})")
    return options


def start(image, out, options, kwargs):
    """What every writer does first: ``(options, out, src)``, the options (see :func:`options_from`),
    the output path with ``~`` expanded and the opened input; an output that is the input, lies
    inside it or holds it, or is a link to nowhere, is refused."""
    options = options_from(options, kwargs)
    out = Path(out).expanduser()
    src = open_input(image, options.axes)
    _refuse_input(out, src)
    return options, out, src


def guarded(out: Path, body):
    """``body`` (a writer's generator of events) run under the output's lock (one writer per output,
    from before the output is looked at until the end), with an OS error (disk full, permissions) said
    in one line; what was finished stays for a rerun."""
    with output_lock(out):
        try:
            yield from body
        except OSError as exc:
            raise from_os_error(exc, out) from None


def refuse_file(out: Path, overwrite: bool, kind: str) -> None:
    """A single-file output (TIFF, image) that exists is replaced only with ``overwrite``; a folder
    of that name never."""
    if out.exists() and not overwrite:
        raise SuperResError(
            f"output {out} exists; to replace it: {opt('overwrite', True)}, or choose another"
        )
    if out.is_dir():
        raise SuperResError(f"output {out} is a folder; choose a file name ending in {kind}")


def iter_write(
    image,
    out,
    options: UpscaleOptions | None = None,
    *,
    overwrite=False,
    workers=None,
    scheduler=None,
    **kwargs,
):
    """Write the enlarged image to an OME-Zarr; yields :class:`~napari_superres.events.Progress`
    events; the last (stage ``"done"``) has the written level-0 ``array``.

    ``options``: an :class:`~napari_superres.engine.UpscaleOptions`, or give its fields as keyword
    arguments (``model=``, ``scale=``, ``tile=``, ...).

    Stopping the iteration (or an interruption) leaves finished chunks in place; the same call
    again resumes. ``scheduler``: a dask.distributed Client or scheduler address (default: the
    active Client, if any, else local threads); workers then read their input windows and write
    their chunks themselves, so the input and output paths must be on storage they share.
    """
    options, out, src = start(image, out, options, kwargs)
    _check_output(out)
    yield from guarded(out, _write(src, out, options, overwrite, workers, scheduler))


def _write(src, out: Path, options: UpscaleOptions, overwrite, workers, scheduler):
    import dask.array as da
    import zarr

    client = client_for(scheduler)  # an unreachable scheduler is said before anything is written
    lazy, plan = build(src, options, streaming=True)
    axes_out = "".join(a for a in OME_ORDER if a in src.axes)
    perm = [src.axes.index(a) for a in axes_out]
    result = lazy.transpose(perm)  # its shape and chunks; the tasks are the untransposed tiles
    ranges = plan.ranges()
    fp = _fingerprint(plan, ranges, axes_out)

    old = _existing(out)
    resume = False
    if old is not None:
        if old.get("fingerprint") == fp:
            resume = True
        elif not overwrite:
            if old.get("fingerprint"):
                _refuse_other(out, old, fp, src)
            raise SuperResError(
                f"output {out} exists; to replace it: {opt('overwrite', True)}, or choose another output"
            )
        elif old.get("foreign"):
            raise SuperResError(
                f"output {out} is a non-empty folder that is not a zarr store; will not delete it"
            )
        else:
            shutil.rmtree(out)

    y_ax, x_ax = axes_out.index("Y"), axes_out.index("X")
    chunk0 = tuple(int(c[0]) for c in result.chunks)
    scale0, trans0 = output_geometry(src, plan.scale, axes_out)
    shapes = pyramid_shapes(result.shape, y_ax, x_ax)
    level_scales, level_trans = level_geometry(scale0, trans0, len(shapes), y_ax, x_ax)
    channel_names = src.channel_names
    md = plan.model.metadata or {}
    provenance = {
        "model": plan.model.name,
        "arch": plan.model.arch,
        "halo": plan.model.halo,
        "exact_tiling": plan.model.exact_tiling,
        "training_data": md.get("training_data", ""),
        "set5_psnr": md.get("set5_psnr", ""),
        "degradation": plan.degradation,
        "trained_for": plan.model.degradation,
        **({"adapted": json.loads(md["adapted"])} if md.get("adapted") else {}),
        **({"degradation_auto": plan.auto} if plan.auto is not None else {}),
        "input": src.path or "array in memory",
        "normalization_ranges": fp["ranges"],
        "nodata": plan.nodata,
        "georeference": enlarged(src.geo, plan.scale),
        "non_integer_scale": None
        if plan.scale == plan.model_scale
        else f"x{plan.model_scale} network, then antialiased bicubic resampling by {plan.scale / plan.model_scale:.4f}",
    }
    if resume:
        group = zarr.open_group(str(out), mode="r+")
        if group.attrs.get("napari_superres", {}).get("status") == "complete":
            yield Progress(
                "done",
                message=f"{out} is already complete with these settings; nothing to compute",
                array=group["0"],
                levels=len(group.attrs["ome"]["multiscales"][0]["datasets"]),
                source=src,
                degradation=plan.degradation,
                already_complete=True,
            )
            return
    else:
        # the attributes (with the fingerprint) go in with the group itself, so a run killed at any
        # later point is recognised as ours and resumed
        group = zarr.open_group(
            str(out),
            mode="w",
            zarr_format=3,
            attributes={
                "ome": ome_attrs(axes_out, level_scales, level_trans, src.units, src.name, channel_names),
                "napari_superres": {
                    "fingerprint": fp,
                    "status": "running",
                    "created": _dt.datetime.now().isoformat(timespec="seconds"),
                    "provenance": provenance,
                },
            },
        )
    create_levels(group, out, shapes, chunk0, result.dtype, axes_out)
    level0 = group["0"]
    marker_dir = out / MARKERS
    marker_dir.mkdir(exist_ok=True)
    done = {p.name for p in marker_dir.iterdir()}
    bounds = [np.concatenate([[0], np.cumsum(c)]) for c in result.chunks]
    all_idx = stream_order(result.numblocks, y_ax, x_ax)  # strips: the source chunks in use stay a band
    todo = [idx for idx in all_idx if ".".join(map(str, idx)) not in done]
    total = len(all_idx)
    n_done = total - len(todo)
    nw = int(workers) if workers else (os.cpu_count() or 1)
    if client is not None:
        nw = max(1, sum(client.nthreads().values()))
    dsk = plan.support_graph()  # the tiles' tasks are made one group at a time (write_task)
    tiles = plan.graph.layers[lazy.name]
    if plan.range_key is not None:  # computed once above; without this every group would sample again
        dsk[plan.range_key] = ranges
    wname = f"superres-write-{plan.token}"
    t0 = time.perf_counter()
    px_per_block = np.prod(result.chunksize)
    if plan.auto is not None:
        yield Progress("auto", n_done, total, message=auto_summary(plan.auto), auto=plan.auto)
    yield Progress(
        "level0",
        n_done,
        total,
        message=f"resuming: {n_done} of {total} chunks already done" if n_done else "starting",
    )
    computed = 0

    def write_task(idx):
        slices = tuple(slice(int(bounds[d][i]), int(bounds[d][i + 1])) for d, i in enumerate(idx))
        marker = str(marker_dir / ".".join(map(str, idx)))
        tile = (lazy.name, *(idx[axes_out.index(a)] for a in src.axes))
        key = (wname, *idx)
        return key, {key: (_store_block, tile, level0, slices, marker, perm), tile: tiles[tile]}

    if client is None and nw > 1 and not isinstance(src.data, da.Array):
        finished = sliding_window(dsk, todo, write_task, nw)
    else:  # groups: a dask input's chunks are computed once per group, not once per tile
        finished = groups(dsk, todo, write_task, max(4 * nw, 8), nw, client)
    with contextlib.closing(finished):  # stopped early: tiles in flight finish, the rest is dropped
        for n in finished:
            n_done += n
            computed += n
            yield level0_progress(n_done, total, computed, px_per_block, t0)
    # ---- pyramid levels from the finished level 0
    for k in build_pyramid(group, shapes, chunk0, y_ax, x_ax, nw):
        yield Progress("pyramid", n_done, total, time.perf_counter() - t0, level=k, levels=len(shapes) - 1)
    attrs = dict(group.attrs["napari_superres"])
    attrs["status"] = "complete"  # from here on this attribute is the record of completion
    attrs["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
    group.attrs["napari_superres"] = attrs
    shutil.rmtree(marker_dir, ignore_errors=True)  # zarr readers would warn about a non-zarr member
    yield Progress(
        "done",
        total,
        total,
        time.perf_counter() - t0,
        array=level0,
        levels=len(shapes),
        source=src,
        degradation=plan.degradation,
        auto=plan.auto,
    )


def auto_blend(report: dict) -> str:
    """What ``degradation="auto"`` enlarged with: "binning 0.62 + bicubic 0.38", likelier first."""
    weights = report.get("weights") or {report["choice"]: 1.0}
    return " + ".join(f"{c} {w:.2f}" for c, w in sorted(weights.items(), key=lambda cw: -cw[1]))


def auto_gain(report: dict, short: bool = False) -> str:
    """The gain to expect from ``degradation="auto"``: "+1.14 dB" as ``bench --real`` measured it for
    this network and scale (mean over the real validation images), or that it was not measured;
    unless ``short``, then its range there and the image's own internal check (optimistic, and it
    does not rank images)."""
    g, rng, check = (
        report.get("expected_gain_db"),
        report.get("expected_range_db"),
        report.get("internal_check_db"),
    )
    text = "not measured on real images" if g is None else f"{g:+.2f} dB"
    if short:
        return text
    if g is not None and rng:
        text += f" (real test images: {rng[0]:+.2f} to {rng[1]:+.2f})"
    if check is not None:
        text += f"; this image's own check {check:+.2f} dB"
    return text


def auto_summary(report: dict, short: bool = False) -> str:
    """One line on what ``degradation="auto"`` chose, how sure it is and the gain to expect;
    ``short``: "auto: binning 0.62 + bicubic 0.38; expected gain +1.14 dB" (a narrow label, a summary line)."""
    if report.get("fallback"):
        return report["message"] if short else f"degradation auto: {report['message']}"
    if short:
        return f"auto: {auto_blend(report)}; expected gain {auto_gain(report, short=True)}"
    how = "the models of each, weighted by how well each fits the image"
    if len(report.get("weights") or {}) < 2:
        how = "its model"
    return (
        f"degradation auto: {auto_blend(report)} ({how}); expected gain over bicubic {auto_gain(report)} "
        "(the check restores the image's own shrunk copy: optimistic, no ground truth)"
    )
