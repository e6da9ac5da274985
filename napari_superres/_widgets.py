"""The napari dock widgets: Upscale, Train / fine-tune, Evaluate.

A thin surface: the work is done by generators of the library (``store.iter_output``,
``training.iter_train``) and plain functions (``layers``, ``evaluation.compare``); the widgets
only collect settings, run the generators in a ``thread_worker`` with a napari progress bar and a
Cancel button, and turn results into placed layers. Errors become one-line notifications.
"""

from __future__ import annotations

import time
from pathlib import Path

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    RadioButtons,
    Select,
    SpinBox,
    Table,
    create_widget,
)

from .errors import SuperResError

NEW_NETWORK = "(new network)"


GAUSSIAN_CHOICE = "gaussian PSF, then binning"
DEGRADATION_CHOICES = ["bicubic", "binning", GAUSSIAN_CHOICE, "auto"]


def _error(exc: BaseException) -> None:
    """Show an error in napari's notification area, one line."""
    from napari.utils.notifications import show_error

    text = str(exc) if isinstance(exc, SuperResError) else f"{type(exc).__name__}: {exc}"
    show_error(text.splitlines()[0] if text else type(exc).__name__)


def _model_rows(need_weights: bool = True) -> list[dict]:
    from .models import list_models

    rows = [m for m in list_models() if m["shipped"] or not need_weights]
    return sorted(rows, key=lambda m: (not m["default"], not m["trained"]))  # default first, then networks


def _model_info(name: str) -> str:
    for m in _model_rows():
        if m["name"] == name:
            scales = ", ".join(f"x{s}" for s in m["scales"])
            q = ", ".join(f"x{s} {v} dB" for s, v in m["quality"].items() if v)
            parts = [f"{m['arch']}, scales {scales}"]
            if m["trained"]:
                from .models import load_model

                parts.append(f"{load_model(name, m['scales'][0]).parameters:,} parameters")
            parts.append(f"Set5 PSNR {q}" if q else "classical method, no training")
            return "; ".join(parts)
    return ""


class _Background:
    """Runs a progress generator in a thread worker, with a napari progress bar and a Cancel button.

    ``on_message(msg)`` turns each yielded dict into a status line; the progress bar follows
    ``msg["done"]`` of ``msg["total"]``. Stopping keeps whatever the generator finished.
    """

    def __init__(self, run: PushButton, cancel: PushButton, status: Label):
        self.run, self.cancel_button, self.status = run, cancel, status
        self.worker = None
        self.pbar = None
        self.cancelled = False
        self.progress_text = ""
        cancel.changed.connect(self.cancel)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, generator, on_message, on_done, desc: str):
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self.cancelled = False
        self.last = {}
        self.pbar = progress(total=0, desc=desc)

        def yielded(msg):
            # napari's progress bar processes Qt events while it updates, so later messages (and
            # the end of the run) can be handled inside this call: status first, then the bar
            self.last = msg
            text = on_message(msg)
            if text:
                self.status.value = text
            pbar = self.pbar
            if pbar is None:
                return
            total, done = int(msg.get("total", 0) or 0), int(msg.get("done", 0) or 0)
            if text:
                pbar.set_description(f"{desc}: {text}")
            if total and pbar.total != total:
                pbar.total = total
            if done > pbar.n:
                pbar.update(done - pbar.n)

        def finished():
            if self.cancelled:
                aborted()
            if self.pbar is not None:
                self.pbar.close()
            self.pbar = None
            self.worker = None
            self.run.enabled, self.cancel_button.enabled = True, False
            if not self.cancelled and self.last.get("stage", "done") == "done" and not self.failed:
                on_done(self.last)

        def errored(exc):
            self.failed = True
            self.status.value = "error: " + (str(exc).splitlines() or [type(exc).__name__])[0]
            _error(exc)

        def aborted():
            self.status.value = (
                f"cancelled at {self.progress_text}; finished work is kept, run again to resume"
            )

        self.failed = False
        self.run.enabled, self.cancel_button.enabled = False, True

        def run():
            # stop by returning from here at the next message, then close the generator in this
            # thread: work it started in the background (the writer's tiles in flight) finishes and is
            # kept before the job ends. (A worker's quit() would leave the generator suspended.)
            try:
                for msg in generator:
                    yield msg
                    if self.cancelled:
                        return
            finally:
                close = getattr(generator, "close", None)
                if close is not None:
                    close()

        self.worker = create_worker(
            run, _connect={"yielded": yielded, "finished": finished, "errored": errored}
        )
        return self.worker

    def cancel(self, *_):
        if self.worker is not None:
            self.cancelled = True
            self.progress_text = self.status.value
            self.status.value = f"stopping after the work in progress ({self.progress_text})"


class UpscaleWidget(Container):
    """Enlarge an image layer: a lazy preview layer, or a resumable OME-Zarr written in the background."""

    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        from .device import available_devices
        from .models import on_registry_change

        self.viewer = napari_viewer
        self.layer = create_widget(annotation="napari.layers.Image", label="image")
        self.model = ComboBox(label="model", choices=self._model_choices)
        self.info = Label(label="")
        self.scale = FloatSpinBox(label="scale", value=2.0, min=1.1, max=8.0, step=0.5)
        self.device = ComboBox(label="device", choices=["auto", *available_devices()])
        self.tile = SpinBox(label="tile (0 = auto)", value=0, min=0, max=16384, step=64)
        self.normalize = ComboBox(label="normalisation", choices=["auto", "none"])
        self.degradation = ComboBox(label="degradation", choices=DEGRADATION_CHOICES, value="bicubic")
        self.sigma = FloatSpinBox(label="PSF sigma (output px)", value=1.0, min=0.1, max=4.0, step=0.1)
        self.consistency = SpinBox(label="consistency steps", value=0, min=0, max=30)
        self.ensemble = CheckBox(text="self-ensemble: mean of 8 flips and turns (8x the time)")
        self.nodata = LineEdit(label="nodata (empty: none)", value="")
        self.output = FileEdit(label="output .ome.zarr / .tif", mode="w", filter="*.zarr *.tif", value="")
        self.overwrite = CheckBox(text="overwrite an output made with other settings")
        self.preview_button = PushButton(text="Preview (lazy layer)")
        self.run_button = PushButton(text="Write to zarr")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.status = Label(label="", value="")
        self.extend(
            [
                self.layer,
                self.model,
                self.info,
                self.scale,
                self.degradation,
                self.sigma,
                self.device,
                self.tile,
                self.normalize,
                self.consistency,
                self.ensemble,
                self.nodata,
                self.output,
                self.overwrite,
                self.preview_button,
                self.run_button,
                self.cancel_button,
                self.status,
            ]
        )
        self.job = _Background(self.run_button, self.cancel_button, self.status)
        self.model.changed.connect(self._show_info)
        self.degradation.changed.connect(self._show_info)
        self.preview_button.changed.connect(self.preview)
        self.run_button.changed.connect(self.write)
        on_registry_change(self.reset_choices)
        self._show_info()

    # ---- choices and checks
    def _model_choices(self, *_):
        return [m["name"] for m in _model_rows()]

    def _show_info(self, *_):
        self.sigma.visible = self.degradation.value == GAUSSIAN_CHOICE
        try:
            self.info.value = _model_info(self.model.value) if self.model.value else ""
        except SuperResError as exc:
            self.info.value = str(exc)

    def _degradation(self) -> str:
        value = self.degradation.value
        return f"gaussian:{float(self.sigma.value):g}" if value == GAUSSIAN_CHOICE else value

    def settings(self) -> dict:
        """The chosen layer and upscale keyword arguments; one-line errors for what cannot work."""
        from .layers import source_from_layer
        from .models import load_model

        layer = self.layer.value
        if layer is None:
            raise SuperResError("no image layer chosen; open or add an image first")
        source_from_layer(layer)  # checks: image, not empty
        model, s = self.model.value, float(self.scale.value)
        if self.ensemble.value:
            model = f"{model}+x8"
        n = int(-(-s // 1))
        degradation = self._degradation()
        try:  # checks the model has this scale (and weights for this degradation)
            load_model(model, n, degradation=None if degradation == "auto" else degradation)
        except SuperResError as exc:
            raise SuperResError(f"{exc} (widget: choose another 'model' or 'degradation')") from None
        text = str(self.nodata.value).strip()
        try:
            nodata = float(text) if text else None
        except ValueError:
            raise SuperResError(
                f"nodata must be a number (the value of missing pixels), got {text!r}"
            ) from None
        return {
            "layer": layer,
            "nodata": nodata,
            "model": model,
            "scale": int(s) if s.is_integer() else s,
            "device": self.device.value,
            "tile": int(self.tile.value) or None,
            "normalize": self.normalize.value if self.normalize.value == "auto" else None,
            "consistency": int(self.consistency.value),
            "degradation": degradation,
        }

    # ---- actions
    def preview(self, *_):
        """Add the lazy result: only what napari displays is computed."""
        from .layers import add_upscaled

        try:
            kw = self.settings()
            layer = add_upscaled(self.viewer, kw.pop("layer"), kw.pop("model"), kw.pop("scale"), **kw)
        except SuperResError as exc:
            _error(exc)
            return None
        self.status.value = f"added {layer.name} (lazy: computed as you view it)"
        return layer

    def write(self, *_):
        """Write the result to the output zarr in the background; add it as a layer when done."""
        from .store import iter_output

        try:
            kw = self.settings()
            out = str(self.output.value or "").strip()
            if out in ("", "."):
                raise SuperResError("no output path; choose where to write the .ome.zarr")
            out_path = Path(out).expanduser()
            if out_path.suffix.lower() not in (".zarr", ".tif", ".tiff"):
                out_path = out_path.with_name(out_path.name + ".ome.zarr")
            layer = kw.pop("layer")
            src_layer, model, s = layer, kw["model"], kw["scale"]
            gen = iter_output(layer, out_path, overwrite=bool(self.overwrite.value), **kw)
        except SuperResError as exc:
            _error(exc)
            return None
        t0 = time.perf_counter()

        def message(msg):
            if msg.get("stage") == "auto":
                self.info.value = msg["message"]
            if msg.get("message") and msg["message"] != "starting":
                return msg["message"]
            if msg.get("stage") == "level0":
                rate = msg.get("mp_per_s")
                return f"{msg['done']} of {msg['total']} chunks" + (f", {rate:.1f} MP/s" if rate else "")
            if msg.get("stage") == "pyramid":
                return f"pyramid level {msg['level']} of {msg['levels']}"
            if msg.get("stage") == "done":
                return f"done in {time.perf_counter() - t0:.1f} s"
            return ""

        def done(last):
            self.add_written(src_layer, out_path, model, s)

        return self.job.start(gen, message, done, "Upscaling")

    def add_written(self, layer, out_path: Path, model: str, scale):
        """Add the written OME-Zarr (or TIFF), read back lazily, placed over ``layer``."""
        import dask.array as da
        import zarr

        from .io import OME_ORDER, open_input
        from .layers import layer_axes, layer_kwargs

        axes = layer_axes(layer)
        written = "".join(a for a in OME_ORDER if a in axes)  # outputs are in OME axis order
        perm = [written.index(a) for a in axes]  # back to the layer's own axis order
        if out_path.suffix.lower() == ".zarr":
            group = zarr.open_group(str(out_path), mode="r")
            n = len(group.attrs["ome"]["multiscales"][0]["datasets"])
            levels = [da.from_zarr(group[str(k)]).transpose(perm) for k in range(n)]
        else:
            n, levels = 1, [da.from_zarr(open_input(out_path).data).transpose(perm)]
        kw = layer_kwargs(layer, float(scale), model)
        kw["metadata"]["napari_superres"]["path"] = str(out_path)
        for old in list(self.viewer.layers):  # the written result replaces its lazy preview
            if old.name == kw["name"] and "path" not in old.metadata.get("napari_superres", {"path": 0}):
                self.viewer.layers.remove(old)
        new = self.viewer.add_image(levels if n > 1 else levels[0], multiscale=n > 1, **kw)
        self.status.value = f"{self.status.value}; added {new.name} from {out_path.name}"
        return new


class TrainWidget(Container):
    """Train a new network or fine-tune one on image layers; the result joins the model lists."""

    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        from .models import NAMED

        self.viewer = napari_viewer
        modes = ["self-supervised (degrade the images)", "LR/HR layer pair"]
        self.mode = RadioButtons(label="data", choices=modes, value=modes[0])
        self.images = Select(label="images", choices=self._image_layers)
        self.lr_layer = create_widget(annotation="napari.layers.Image", label="LR layer")
        self.hr_layer = create_widget(annotation="napari.layers.Image", label="HR layer")
        trainable = [k for k, v in NAMED.items() if v["trained"]]
        self.arch = ComboBox(label="architecture", choices=trainable)
        self.init = ComboBox(label="fine-tune from", choices=self._init_choices)
        self.scale = SpinBox(label="scale", value=2, min=2, max=8)
        self.steps = SpinBox(label="steps", value=500, min=10, max=1_000_000, step=100)
        self.degradation = ComboBox(
            label="degradation", choices=[c for c in DEGRADATION_CHOICES if c != "auto"], value="bicubic"
        )
        self.blur = FloatSpinBox(label="PSF sigma (HR px)", value=1.0, min=0.1, max=4.0, step=0.1)
        self.noise = CheckBox(text="noise-robust: Poisson-Gaussian noise on the LR patches")
        self.output = FileEdit(label="save as .safetensors", mode="w", filter="*.safetensors", value="")
        self.run_button = PushButton(text="Train")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.status = Label(label="", value="")
        self.extend(
            [
                self.mode,
                self.images,
                self.lr_layer,
                self.hr_layer,
                self.arch,
                self.init,
                self.scale,
                self.steps,
                self.degradation,
                self.blur,
                self.noise,
                self.output,
                self.run_button,
                self.cancel_button,
                self.status,
            ]
        )
        self.job = _Background(self.run_button, self.cancel_button, self.status)
        self.mode.changed.connect(self._show_mode)
        self.degradation.changed.connect(self._show_mode)
        self.run_button.changed.connect(self.train)
        self.history: list[dict] = []
        self._show_mode()

    def _image_layers(self, *_):
        return [layer for layer in self.viewer.layers if layer._type_string == "image"]

    def _init_choices(self, *_):
        return [NEW_NETWORK, *[m["name"] for m in _model_rows() if m["trained"]]]

    def _show_mode(self, *_):
        paired = self.mode.value == self.mode.choices[1]
        self.images.visible = not paired
        self.lr_layer.visible = self.hr_layer.visible = paired
        self.degradation.visible = self.noise.visible = not paired
        self.blur.visible = not paired and self.degradation.value == GAUSSIAN_CHOICE

    def settings(self) -> dict:
        from .layers import source_from_layer

        out = str(self.output.value or "").strip()
        if out in ("", "."):
            raise SuperResError("no output file; choose where to save the .safetensors weights")
        out_path = Path(out).expanduser()
        if out_path.suffix != ".safetensors":
            out_path = out_path.with_name(out_path.name + ".safetensors")
        if out_path.exists():
            raise SuperResError(f"{out_path} exists; choose another name (weights are never overwritten)")
        if not out_path.parent.exists():
            raise SuperResError(f"the folder {out_path.parent} does not exist; create it first")

        def planes(layer):
            src = source_from_layer(layer)
            import numpy as np

            return np.asarray(src.data)  # training needs the pixels in memory

        kw = {"scale": int(self.scale.value), "steps": int(self.steps.value), "out": out_path}
        if self.mode.value == self.mode.choices[1]:
            lr, hr = self.lr_layer.value, self.hr_layer.value
            if lr is None or hr is None or lr is hr:
                raise SuperResError("choose two different image layers: the LR one and the HR one")
            kw["data"], kw["lr_data"] = planes(hr), planes(lr)
        else:
            chosen = list(self.images.value or [])
            if not chosen:
                raise SuperResError("no training images chosen; select one or more image layers")
            kw["data"] = [planes(layer) for layer in chosen]
            deg = self.degradation.value
            kw["degradation"] = f"gaussian:{float(self.blur.value):g}" if deg == GAUSSIAN_CHOICE else deg
            kw["noise"] = "auto" if self.noise.value else None
            kw["data_description"] = "napari layers " + ", ".join(repr(layer.name) for layer in chosen)
        if self.init.value != NEW_NETWORK:
            kw["init"] = self.init.value
        return kw

    def train(self, *_):
        from .training import iter_train

        try:
            kw = self.settings()
            out_path = kw["out"]
            data = kw.pop("data")
            steps = kw["steps"]
            gen = iter_train(
                self.arch.value,
                data,
                channel="raw",
                checkpoint=out_path.with_name(out_path.name + ".ckpt"),
                checkpoint_every=max(1, steps // 20),
                val_every=max(1, steps // 10),
                **kw,
            )
        except SuperResError as exc:
            _error(exc)
            return None
        self.history = []

        def message(msg):
            msg = dict(msg, total=msg.get("steps", 0), done=msg.get("step", 0))
            if msg.get("loss") is not None:
                self.history.append(msg)
            parts = [f"step {msg.get('step', 0)} of {msg.get('steps', 0)}"]
            if msg.get("loss") is not None:
                parts.append(f"loss {msg['loss']:.4f}")
            val = msg.get("val_psnr") or next(
                (m["val_psnr"] for m in reversed(self.history) if m.get("val_psnr")), None
            )
            if val:
                parts.append(f"validation PSNR {val:.2f} dB")
            if msg.get("message"):
                parts.append(msg["message"])
            return ", ".join(parts)

        def done(last):
            from .models import register

            name = register(out_path)
            self.status.value = f"{self.status.value}; saved {out_path.name}, model {name!r} is in the lists"

        return self.job.start(_as_progress(gen), message, done, "Training")


def _as_progress(gen):
    """Training messages with ``done``/``total`` for the progress bar, and ``stage`` done at the end."""
    for msg in gen:
        yield dict(
            msg, done=msg.get("step", 0), total=msg.get("steps", 0), stage="done" if msg.get("done") else ""
        )


class EvaluateWidget(Container):
    """Degrade a layer (taken as ground truth), enlarge it with several methods, score and show them."""

    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        from .models import on_registry_change

        self.viewer = napari_viewer
        self.layer = create_widget(annotation="napari.layers.Image", label="ground truth")
        self.scale = SpinBox(label="scale", value=2, min=2, max=8)
        self.degradation = ComboBox(
            label="degradation", choices=[c for c in DEGRADATION_CHOICES if c != "auto"], value="bicubic"
        )
        self.blur = FloatSpinBox(label="PSF sigma (HR px)", value=1.0, min=0.1, max=4.0, step=0.1)
        self.noise = FloatSpinBox(label="noise sigma (0-1 range)", value=0.0, min=0.0, max=0.5, step=0.005)
        self.methods = Select(label="methods", choices=self._method_choices)
        self.prefix = LineEdit(label="layer prefix", value="")
        self.run_button = PushButton(text="Evaluate displayed plane")
        self.table = Table(
            value={"data": [], "columns": ["method", "PSNR (dB)", "SSIM", "consistency (dB)", "s"]}
        )
        self.status = Label(label="", value="")
        self.extend(
            [
                self.layer,
                self.scale,
                self.degradation,
                self.blur,
                self.noise,
                self.methods,
                self.prefix,
                self.run_button,
                self.table,
                self.status,
            ]
        )
        self.run_button.changed.connect(self.evaluate)
        self.degradation.changed.connect(self._show_sigma)
        on_registry_change(self.reset_choices)
        self.rows: list[dict] = []
        self._show_sigma()

    def _show_sigma(self, *_):
        self.blur.visible = self.degradation.value == GAUSSIAN_CHOICE

    def _method_choices(self, *_):
        return [m["name"] for m in _model_rows()]

    def _plane(self, layer):
        """The displayed YX plane of ``layer`` (luma for RGB) as numpy."""
        import numpy as np

        from .layers import layer_axes, source_from_layer
        from .metrics import rgb_to_y

        src = source_from_layer(layer)
        axes = layer_axes(layer)
        step = self.viewer.dims.current_step
        nd = layer.ndim
        index = []
        for i, a in enumerate(axes):
            if a in "YX" or (a == "C" and layer.rgb):
                index.append(slice(None))
            else:  # the displayed position along T, C, Z (the layer's last axes line up with the viewer's)
                world = step[len(step) - nd + i] if len(step) >= nd else 0
                index.append(int(np.clip(world, 0, src.shape[i] - 1)))
        plane = np.asarray(src.data[tuple(index)])
        if layer.rgb:  # luma, on the 0-255 scale whatever the type (floats are taken as 0-1)
            peak = np.iinfo(plane.dtype).max if plane.dtype.kind in "iu" else 1.0
            plane = rgb_to_y(plane[..., :3].astype(np.float64) * (255.0 / peak))
        return plane

    def evaluate(self, *_):
        import numpy as np

        from .evaluation import compare

        layer = self.layer.value
        methods = list(self.methods.value or [])
        try:
            if layer is None:
                raise SuperResError("no ground-truth layer chosen; open or add an image first")
            if not methods:
                raise SuperResError("no methods chosen; select bicubic, ibp or a model")
            s = int(self.scale.value)
            plane = self._plane(layer)
            deg = self.degradation.value
            deg = f"gaussian:{float(self.blur.value):g}" if deg == GAUSSIAN_CHOICE else deg
            rows, lr, results = compare(
                plane, s, methods, degradation=deg, noise_sigma=float(self.noise.value)
            )
        except SuperResError as exc:
            _error(exc)
            return None
        self.rows = rows
        columns = ["method", "PSNR (dB)", "SSIM", "consistency (dB)", "s"]
        self.table.value = {
            "data": [
                [
                    r["method"],
                    f"{r['psnr']:.2f}",
                    f"{r['ssim']:.4f}",
                    f"{r['consistency']:.2f}",
                    f"{r['seconds']:.2f}",
                ]
                for r in rows
            ],
            "index": list(range(1, len(rows) + 1)),
            "columns": columns,
        }
        y_sc, x_sc = (float(v) for v in layer.scale[-2:])
        y_tr, x_tr = (float(v) for v in layer.translate[-2:])
        prefix = self.prefix.value or layer.name
        hr = plane[: lr.shape[0] * s, : lr.shape[1] * s].astype(np.float32)
        self.viewer.add_image(
            lr,
            name=f"{prefix} LR x{s}",
            scale=(y_sc * s, x_sc * s),
            translate=(y_tr + y_sc * (s - 1) / 2, x_tr + x_sc * (s - 1) / 2),
            visible=False,
        )
        for name, sr in results.items():
            self.viewer.add_image(sr, name=f"{prefix} {name}", scale=(y_sc, x_sc), translate=(y_tr, x_tr))
            self.viewer.add_image(
                np.abs(sr - hr),
                name=f"{prefix} {name} error",
                scale=(y_sc, x_sc),
                translate=(y_tr, x_tr),
                colormap="magma",
                visible=False,
            )
        best = max(rows, key=lambda r: r["psnr"])
        self.status.value = f"best: {best['method']} {best['psnr']:.2f} dB on the displayed plane"
        return rows
