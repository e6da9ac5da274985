"""The Upscale dock: a lazy preview layer, or a resumable OME-Zarr / TIFF written in the background."""

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
    SpinBox,
    create_widget,
)

from ..errors import SuperResError, opt
from .common import (
    DEGRADATION_CHOICES,
    GAUSSIAN_CHOICE,
    Background,
    advanced,
    degradation_value,
    fit_dock,
    model_info,
    model_rows,
    show_error,
)


class UpscaleWidget(Container):
    """Enlarge an image layer: a lazy preview layer, or a resumable OME-Zarr written in the background."""

    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        from ..device import available_devices
        from ..models import on_registry_change

        self.viewer = napari_viewer
        self.layer = create_widget(annotation="napari.layers.Image", label="image")
        self.model = ComboBox(label="model", choices=self._model_choices)
        self.info = Label(label="")
        self.scale = FloatSpinBox(label="scale", value=2.0, min=1.1, max=8.0, step=0.5)
        self.device = ComboBox(label="device", choices=["auto", *available_devices()])
        self.tile = SpinBox(label="tile (0 = auto)", value=0, min=0, max=16384, step=64)
        self.normalize = ComboBox(label="normalisation", choices=["auto", "none"])
        self.degradation = ComboBox(label="degradation", choices=DEGRADATION_CHOICES, value="auto")
        self.sigma = FloatSpinBox(label="PSF sigma (output px)", value=1.0, min=0.1, max=4.0, step=0.1)
        self.consistency = SpinBox(label="consistency steps", value=0, min=0, max=30)
        self.ensemble = CheckBox(text="self-ensemble (8 flips and turns, 8x time)")
        self.nodata = LineEdit(label="nodata (empty: none)", value="")
        self.output = FileEdit(label="output .ome.zarr / .tif", mode="w", filter="*.zarr *.tif", value="")
        self.overwrite = CheckBox(text="overwrite", tooltip="replace an output made with other settings")
        self.adapt = CheckBox(text="adapt to this image first (up to 2 min)")
        self.more = CheckBox(text="advanced options")
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
                self.adapt,
                self.more,
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
        self.job = Background(self.run_button, self.cancel_button, self.status)
        advanced(
            self.more, [self.device, self.tile, self.normalize, self.consistency, self.ensemble, self.nodata]
        )
        fit_dock(self, wrap=[self.info, self.status])
        self.model.changed.connect(self._show_info)
        self.degradation.changed.connect(self._show_info)
        self.scale.changed.connect(self._show_info)
        self.preview_button.changed.connect(self.preview)
        self.run_button.changed.connect(self.write)
        on_registry_change(self.reset_choices)
        self._show_info()

    # ---- choices and checks
    def _model_choices(self, *_):
        return [m["name"] for m in model_rows()]

    def _show_info(self, *_):
        self.sigma.visible = self.degradation.value == GAUSSIAN_CHOICE
        self.info.tooltip = None  # an earlier auto report's detail
        try:
            self.info.value = model_info(self.model.value, self.scale.value) if self.model.value else ""
        except SuperResError as exc:
            self.info.value = str(exc)

    def settings(self):
        """The chosen layer and its :class:`~napari_superres.engine.UpscaleOptions`; one-line errors
        naming the field for what cannot work."""
        from ..engine import UpscaleOptions
        from ..io import source_from_layer
        from ..models import load_model

        layer = self.layer.value
        if layer is None:
            raise SuperResError("no image layer chosen; open or add an image first")
        source_from_layer(layer)  # checks: image, not empty
        model = f"{self.model.value}+x8" if self.ensemble.value else self.model.value
        degradation = degradation_value(self.degradation.value, self.sigma.value)
        text = str(self.nodata.value).strip()
        try:
            nodata = float(text) if text else None
        except ValueError:
            raise SuperResError(
                f"the 'nodata' field must be a number (the value of missing pixels), got {text!r}"
            ) from None
        options = UpscaleOptions(
            model=model,
            scale=float(self.scale.value),
            device=self.device.value,
            tile=int(self.tile.value) or None,
            normalize=self.normalize.value if self.normalize.value == "auto" else None,
            consistency=int(self.consistency.value),
            nodata=nodata,
            degradation=degradation,
        )
        try:  # checks the model has this scale (and weights for this degradation)
            load_model(model, options.model_scale, degradation=None if degradation == "auto" else degradation)
        except SuperResError as exc:
            raise SuperResError(
                f"{exc.args[0]} (choose another {opt('model')} or {opt('degradation')})"
            ) from None
        return layer, options

    # ---- actions
    def preview(self, *_):
        """Add the lazy result: only what napari displays is computed (after adapting the model to
        the image in the background, when that is ticked)."""
        from ..engine import auto_report
        from ..io import source_from_layer
        from ..layers import add_upscaled
        from ..writer import auto_summary

        try:
            source, options = self.settings()
            if self.adapt.value:
                return self._adapt_then(source, options)
            layer = add_upscaled(self.viewer, source, options=options)
            report = auto_report(source_from_layer(source), options)  # cached by the build above
        except SuperResError as exc:
            show_error(exc)
            return None
        if report is not None:  # what "auto" blended, and the gain to expect (short: the label is narrow)
            self.info.value = auto_summary(report, short=True)
            self.info.tooltip = auto_summary(report)  # the range on real images and the image's own check
        self.status.value = f"added {layer.name} (lazy)"
        return layer

    def _adapt_then(self, source, options):
        """Adapt in the background, then add the lazy layer with the adapted model."""
        from ..adapt import DEFAULT_SECONDS, adapt_for
        from ..events import Progress
        from ..io import source_from_layer
        from ..layers import add_upscaled

        held = {}

        def run():
            held["options"] = yield from adapt_for(source_from_layer(source), options, DEFAULT_SECONDS)
            yield Progress("done", message="adapted")

        def done(_):
            layer = add_upscaled(self.viewer, source, options=held["options"])  # named after its model
            self.status.value = f"{self.status.value}; added {layer.name} (lazy)"

        return self.job.start(run(), self._message, done, "Adapting")

    def _message(self, event) -> str:
        if event.stage == "auto":
            self.info.value = event.message
        if event.message and event.message not in ("starting", "adapted"):
            return event.message
        if event.stage == "adapt":
            return f"adapting to the image: step {event.done} of about {event.total}"
        if event.stage == "level0":
            rate = event.mp_per_s
            return f"{event.done} of {event.total} chunks" + (f", {rate:.1f} MP/s" if rate else "")
        if event.stage == "pyramid":
            return f"pyramid level {event.level} of {event.levels}"
        return ""

    def write(self, *_):
        """Write the result to the output zarr in the background; add it as a layer when done."""
        from ..writer import iter_output

        try:
            layer, options = self.settings()
            out = str(self.output.value or "").strip()
            if out in ("", "."):
                raise SuperResError("no output path; choose where to write the .ome.zarr")
            out_path = Path(out).expanduser()
            if out_path.suffix.lower() not in (".zarr", ".tif", ".tiff"):
                out_path = out_path.with_name(out_path.name + ".ome.zarr")
            overwrite = bool(self.overwrite.value)
            adapt = bool(self.adapt.value)
        except SuperResError as exc:
            show_error(exc)
            return None
        t0 = time.perf_counter()
        held = {"options": options}

        def run():
            if adapt:  # the adapted weights are kept beside the output: a rerun resumes with them
                from ..adapt import DEFAULT_SECONDS, adapt_for
                from ..io import source_from_layer

                held["options"] = yield from adapt_for(
                    source_from_layer(layer), options, DEFAULT_SECONDS, out_path, overwrite
                )
            yield from iter_output(layer, out_path, held["options"], overwrite=overwrite)

        def message(event):
            if event.stage == "done":
                return f"done in {time.perf_counter() - t0:.1f} s"
            return self._message(event)

        def done(last):
            adapted = held["options"] is not options
            name = f"{self.model.value} adapted" if adapted else str(options.model)
            self.add_written(layer, out_path, name, options.scale)

        return self.job.start(run(), message, done, "Upscaling")

    def add_written(self, layer, out_path: Path, model: str, scale):
        """Add the written OME-Zarr (or TIFF), read back lazily, placed over ``layer``."""
        from ..layers import layer_kwargs, written_levels

        levels = written_levels(layer, out_path)
        kw = layer_kwargs(layer, float(scale), model)
        kw["metadata"]["napari_superres"]["path"] = str(out_path)
        # the written result replaces its lazy preview, and the layer of an earlier write to this output
        for old in list(self.viewer.layers):
            ours = old.metadata.get("napari_superres")
            if (
                old.name == kw["name"]
                and isinstance(ours, dict)
                and ours.get("path", str(out_path)) == str(out_path)
            ):
                self.viewer.layers.remove(old)
        new = self.viewer.add_image(
            levels if len(levels) > 1 else levels[0], multiscale=len(levels) > 1, **kw
        )
        self.status.value = f"{self.status.value}; added {new.name} from {out_path.name}"
        return new
