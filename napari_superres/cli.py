"""The ``napari-superres`` command line: upscale, models, bench, train, demo.

Bad input ends with a one-line ``error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import numpy as np


def _json_config(text: str | None) -> dict | None:
    import json

    from .errors import SuperResError

    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuperResError(
            f"--config is not valid JSON ({exc.msg}); write e.g. '{{\"residual\": true}}'"
        ) from None
    if not isinstance(config, dict):
        raise SuperResError("--config must be a JSON object of option names and values")
    return config


def _cmd_train(a) -> None:
    from .errors import SuperResError
    from .training import train

    config = _json_config(a.config)
    if a.act:
        config = {**(config or {}), "act": a.act}
    legacy = {"blur_sigma": a.blur_sigma, "noise_sigma": a.noise_sigma, "poisson_peak": a.poisson_peak}
    if a.degradation and a.blur_sigma:
        raise SuperResError("give --degradation gaussian:SIGMA or --blur-sigma, not both")
    deg = a.degradation or {k: v for k, v in legacy.items() if v}
    noise = "auto" if a.noise == "auto" else None
    if noise is None and a.degradation and (a.noise_sigma or a.poisson_peak):
        noise = {"gaussian": a.noise_sigma, **({"poisson_peak": a.poisson_peak} if a.poisson_peak else {})}
    train(
        a.arch,
        list(a.data),
        a.scale,
        steps=a.steps,
        batch_size=a.batch_size,
        patch_size=a.patch_size,
        lr=a.lr,
        config=config,
        init=a.init,
        out=a.out,
        checkpoint=a.checkpoint or a.out + ".ckpt",
        checkpoint_every=a.checkpoint_every,
        val_data=a.val,
        val_every=a.val_every,
        channel=a.channel,
        degradation=deg,
        noise=noise,
        gain=a.gain,
        real_data=a.real,
        device=a.device,
        seed=a.seed,
        data_description=a.describe_data,
        overwrite=a.overwrite,
        loss=a.loss,
        progress=True,
    )
    print(f"saved {a.out}")


class _ProgressBar:
    """A one-line text progress bar on stderr: chunks done, MP/s, time left."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last_decile = -1

    def __call__(self, event) -> None:
        """Show one :class:`~napari_superres.events.Progress` event."""
        from .events import bar

        if self.quiet:
            return
        if event.message and event.message != "starting":
            print(event.message, file=sys.stderr)
        done, total = event.done, max(event.total, 1)
        if event.stage == "level0":
            frac = done / total
            shown = bar(done, total, 30)
            rate = event.mp_per_s
            extra = f"  {rate:.1f} MP/s, {event.eta:.0f} s left" if rate else ""
            if self.tty:
                print(f"\r{shown} {done}/{total} chunks{extra}", end="", file=sys.stderr, flush=True)
                if done == total:
                    print(file=sys.stderr)
            elif int(10 * frac) > self.last_decile:  # in a log: a line every tenth
                self.last_decile = int(10 * frac)
                print(f"{shown} {done}/{total} chunks{extra}", file=sys.stderr, flush=True)
        elif event.stage == "pyramid":
            print(f"pyramid level {event.level} of {event.levels}", file=sys.stderr)


def _cmd_upscale(a) -> None:
    from .adapt import adapt_for, drain
    from .engine import UpscaleOptions
    from .io import open_input
    from .writer import auto_summary, iter_output

    t0 = time.perf_counter()
    src = open_input(a.input, a.axes)
    model = a.model
    from .models.package import is_package

    if a.trust_code and is_package(Path(a.model).expanduser()):  # its own source runs: loaded once, here
        from .models import load_model

        model = load_model(a.model, trust_code=True)
    options = UpscaleOptions(
        model=model,
        scale=a.scale,
        axes=a.axes,
        normalize=a.normalize,
        tile=a.tile,
        device=a.device,
        consistency=a.consistency,
        nodata=a.nodata,
        precision=a.precision,
        batch=a.batch,
        degradation=a.degradation,
    )
    bar = _ProgressBar(a.quiet)
    if a.adapt is not None:
        options = drain(adapt_for(src, options, a.adapt, a.output, a.overwrite), bar)
    last = None
    for event in iter_output(
        src,
        a.output,
        options,
        scheduler=a.scheduler or "threads",
        overwrite=a.overwrite,
        **({"cog": True} if a.cog else {}),
    ):
        bar(event)
        last = event
    arr = last.array
    if last.already_complete:
        return
    dt = time.perf_counter() - t0
    mp = np.prod(arr.shape) / 1e6
    src = last.source
    deg = last.degradation or "bicubic"
    auto = last.auto
    model = "bicubic interpolation (auto fallback)" if auto and auto.get("fallback") else a.model
    if a.adapt is not None:
        model += (
            " adapted to this image"
            if options.model != a.model
            else " (adapting did not help: kept as it was)"
        )
    print(
        f"{a.input} {src.axes} {tuple(src.shape)} {src.dtype} -> {a.output} {tuple(arr.shape)} {arr.dtype}: "
        f"{dt:.1f} s, {mp / max(dt, 1e-9):.2f} MP/s output, model {model} x{a.scale}, degradation {deg}"
        + (f" ({auto_summary(auto, short=True)})" if auto else "")
        + f", {last.levels or 1} pyramid level(s)"
    )


def _cmd_isotropic(a) -> None:
    from . import isotropic as iso
    from .events import StatusLine

    line = StatusLine()

    def show(msg):
        if msg["stage"] == "write":
            line(f"writing: {msg['done']} of {msg['total']} tasks", final=msg["done"] == msg["total"])
        else:  # "train"
            line(f"training the axial model: step {msg['step']}/{msg['steps']}, loss {msg['loss']:.4f}")

    t0 = time.perf_counter()
    model = a.model
    if model is None and a.save_model:  # trained first, so it can be saved
        model = iso.axial_model(
            a.input, axes=a.axes, factor=a.factor, blur_sigma=a.blur_sigma, steps=a.steps, progress=show
        )
    arr = iso.isotropic(
        a.input,
        axes=a.axes,
        factor=a.factor,
        model=model,
        blur_sigma=a.blur_sigma,
        steps=a.steps,
        out=a.output,
        overwrite=a.overwrite,
        progress=show,
    )
    if a.save_model:
        from .models import save_weights

        save_weights(model, a.save_model, model.metadata)
    print(f"{a.input} -> {a.output} {tuple(arr.shape)} {arr.dtype}: {time.perf_counter() - t0:.1f} s")


def _cmd_models(a) -> None:
    from .models import list_models

    print(f"{'name':16} {'arch':8} {'scales':22} {'weights':9} Set5 PSNR (dB, our bench)")
    for m in list_models():
        scales = ",".join(f"x{s}" for s in m["scales"]) or "train: " + ",".join(
            f"x{s}" for s in m.get("trainable_scales", [])
        )
        q = ", ".join(f"x{s} {v}" for s, v in m["quality"].items() if v) or "-"
        tag = " (default)" if m["default"] else ""
        shipped = "shipped" if m["trained"] and m["shipped"] else ("none" if m["trained"] else "no need")
        print(f"{m['name'] + tag:16} {m['arch']:8} {scales:22} {shipped:9} {q}")
        extra = {f: v for f, v in m.get("degradations", {}).items() if f != "bicubic"}
        if extra:
            also = "; ".join(f"{f} " + ",".join(f"x{s}" for s in v) for f, v in extra.items())
            print(f"{'':16} {'':8} also trained for: {also} (--degradation)")


def _cmd_bench_real(a) -> None:
    from .bench import confocal_sted, evaluate_real, format_real_table

    models = a.model or ["default", "auto"]
    degs = a.degradation or ["bicubic", "binning", "gaussian:1.0"]

    from .events import StatusLine

    show = StatusLine()
    rows = evaluate_real(a.real, models, degs, a.scale or [2], device=a.device, progress=show, adapt=a.adapt)
    show(f"scored {len(rows)} rows", final=True)
    print(format_real_table(rows))
    pair = confocal_sted(a.real, models, device=a.device)
    print("\nreal x4 pair, 4x4-binned confocal (60 nm) enlarged and scored against STED (15 nm), no target:")
    for r in pair:
        print(f"  {r['method']:32} PSNR {r['psnr']:.2f} dB  ({r['gain']:+.2f} vs bicubic)")
    if a.record:
        from .degradation import parse_degradation
        from .models import DEFAULT, NAMED, update_metadata, weights_path

        for r in rows:
            name = r.method.split(" (")[0]
            name = DEFAULT if name == "default" else name
            if r.method.endswith("(true degradation)") and name in NAMED and NAMED[name]["trained"]:
                deg = parse_degradation(r.degradation)
                path = weights_path(name, r.scale, deg.family, deg.equivalent_sigma)
                key = "real_gain_" + r.degradation.replace(":", "_")
                text = f"{r.gain:+.2f} dB mean, worst {r.worst:+.2f} dB over bicubic on {r.images} real validation images"
                update_metadata(path, **{key: text})
                print(f"recorded {r.degradation} x{r.scale} in {path.name}")
        _record_auto(rows, "napari-superres " + " ".join(sys.argv[1:]))
    if a.json:
        import json
        from dataclasses import asdict

        with open(a.json, "w") as fh:
            json.dump({"rows": [asdict(r) for r in rows], "confocal_sted": pair}, fh, indent=1)


def _record_auto(rows, command: str) -> None:
    """``auto``'s gains per network and scale, pooled over the degradations measured (and the
    ``command`` that measured them), into the noise-robust bicubic weights it blends: the gain
    ``auto`` then tells a user to expect."""
    from .models import AUTO_REAL_GAIN, DEFAULT, update_metadata, weights_path

    pooled: dict = {}
    for r in rows:
        if r.method.startswith("auto (") and r.per_image:
            name = r.method[len("auto (") : -1]
            name = DEFAULT if name == "default model" else name
            pooled.setdefault((name, r.scale), []).append(r)
    for (name, scale), group in pooled.items():
        path = weights_path(name, scale, "bicubic", noise_robust=True)
        if not path.exists():
            continue
        gains = [v["gain"] for r in group for v in r.per_image.values() if "gain" in v]  # not skipped ones
        figures = {
            "mean": round(sum(gains) / len(gains), 2),
            "worst": round(min(gains), 2),
            "best": round(max(gains), 2),
            "images": len(gains),
            "degradations": [r.degradation for r in group],
            "command": command,
        }
        update_metadata(path, **{AUTO_REAL_GAIN: figures})
        print(f"recorded auto x{scale} in {path.name}")


def _cmd_bench(a) -> None:
    from .bench import evaluate, format_table
    from .errors import SuperResError

    if a.real:
        if a.dirs:
            raise SuperResError("give benchmark folders or --real FOLDER, not both")
        return _cmd_bench_real(a)
    if a.degradation:
        raise SuperResError("--degradation applies to --real; the standard protocol is bicubic")
    if not a.dirs:
        raise SuperResError("give benchmark folders (Set5, ...) or --real FOLDER")

    models = a.model or ["bicubic", "default"]
    if "bicubic" not in models:
        models = ["bicubic", *models]
    from .events import StatusLine

    show = StatusLine()
    rows = evaluate(a.dirs, models, a.scale or [2], device=a.device, precision=a.precision, progress=show)
    show(f"scored {len(rows)} rows", final=True)
    print(format_table(rows))
    if a.record:
        from .models import DEFAULT, NAMED, update_metadata, weights_path

        for r in rows:
            name = DEFAULT if r.model == "default" else r.model
            if name in NAMED and NAMED[name]["trained"]:
                key = r.dataset.lower()
                update_metadata(
                    weights_path(name, r.scale),
                    **{f"{key}_psnr": f"{r.psnr:.2f}", f"{key}_ssim": f"{r.ssim:.4f}"},
                )
                print(f"recorded {r.dataset} x{r.scale} in {weights_path(name, r.scale).name}")


def _cmd_demo(a) -> None:
    from ._sample_data import astronaut_rgb
    from .api import upscale
    from .degradation import imresize
    from .metrics import psnr, rgb_to_y, shave
    from .models import DEFAULT

    hr = astronaut_rgb()
    s = 2
    lr = imresize(hr, 1 / s)
    t0 = time.perf_counter()
    arr = upscale(lr, "default", s, axes="YXC", out=a.output, overwrite=a.overwrite)
    dt = time.perf_counter() - t0
    sr = np.moveaxis(arr[:], 0, -1)  # OME order is CYX
    bic = upscale(lr, "bicubic", s, axes="YXC").compute()
    hr_y = np.rint(rgb_to_y(hr))
    p_sr = psnr(shave(np.rint(rgb_to_y(sr)), s), shave(hr_y, s))
    p_bic = psnr(shave(np.rint(rgb_to_y(bic)), s), shave(hr_y, s))
    print(
        f"bundled sample {hr.shape[1]}x{hr.shape[0]} RGB, degraded x{s} (bicubic) to {lr.shape[1]}x{lr.shape[0]}"
    )
    print(f"upscaled x{s} with the default model ({DEFAULT}) in {dt:.2f} s -> {a.output}")
    print(
        f"PSNR on luma vs the original: default model {p_sr:.2f} dB, bicubic {p_bic:.2f} dB ({p_sr - p_bic:+.2f} dB)"
    )


def _cmd_export(a) -> None:
    from .bioimageio import check_package, export_bioimageio

    out = export_bioimageio(
        a.model,
        a.output,
        a.scale,
        degradation=a.degradation,
        normalize=a.normalize,
        authors=a.author,
        overwrite=a.overwrite,
    )
    print(f"wrote {out} (bioimage.io model package, format 0.5)")
    if a.test:
        ok, text = check_package(out)
        print(text if not ok else f"bioimageio test: passed ({out.name})")
        if not ok:
            raise SystemExit(1)


def _cmd_perf(a) -> None:
    from .perf import main as perf

    perf(a.model, a.scale, a.size, a.device, a.tile, tuple(a.stages.split(",")))


def _cmd_adapt(a) -> None:
    from .adapt import iter_adapt

    for msg in iter_adapt(
        a.input,
        a.model,
        a.scale,
        degradation=a.degradation,
        seconds=a.seconds,
        axes=a.axes,
        device=a.device,
        out=a.out,
        overwrite=a.overwrite,
    ):
        if msg.get("message"):
            print(msg["message"], file=sys.stderr if not msg.get("done") else sys.stdout, flush=True)


COMMANDS = {
    "adapt": "_cmd_adapt",
    "export": "_cmd_export",
    "perf": "_cmd_perf",
    "train": "_cmd_train",
    "upscale": "_cmd_upscale",
    "isotropic": "_cmd_isotropic",
    "models": "_cmd_models",
    "bench": "_cmd_bench",
    "demo": "_cmd_demo",
}


def main(argv: list[str] | None = None) -> int:
    from .cli_args import parser
    from .errors import SuperResError

    args = parser().parse_args(argv)
    try:
        with _terminate_as_interrupt():
            globals()[COMMANDS[args.verb]](args)
    except SuperResError as exc:
        print(f"error: {exc.render('cli')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print("interrupted: finished chunks are kept; run the same command again to resume", file=sys.stderr)
        return 143 if isinstance(exc, _Terminated) else 130
    return 0


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a batch system's time limit), handled like Ctrl-C."""


@contextlib.contextmanager
def _terminate_as_interrupt():
    """While a command runs, SIGTERM stops it like Ctrl-C: the tiles in flight finish, the output's lock
    is released and the run can be resumed (in the main thread only; elsewhere nothing changes)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise _Terminated

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


if __name__ == "__main__":
    sys.exit(main())
