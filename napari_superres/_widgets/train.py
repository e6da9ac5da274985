"""The Train / fine-tune dock: a new network or a fine-tuned one from image layers; it joins the model lists."""

from __future__ import annotations

from pathlib import Path

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    RadioButtons,
    Select,
    SpinBox,
    create_widget,
)

from ..errors import SuperResError
from .common import (
    DEGRADATION_CHOICES,
    GAUSSIAN_CHOICE,
    NEW_NETWORK,
    Background,
    degradation_value,
    fit_dock,
    model_rows,
    show_error,
    training_progress,
)


class TrainWidget(Container):
    """Train a new network or fine-tune one on image layers; the result joins the model lists."""

    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        from ..models import NAMED

        self.viewer = napari_viewer
        modes = ["self-supervised", "LR/HR layer pair"]
        self.mode = RadioButtons(
            label="data",
            choices=modes,
            value=modes[0],
            tooltip="self-supervised: pairs made by degrading the chosen images; or a matching LR and HR layer",
        )
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
        self.noise = CheckBox(
            text="noise-robust",
            tooltip="Poisson-Gaussian noise on the LR patches: the model learns not to sharpen noise",
        )
        self.output = FileEdit(label="save as .safetensors", mode="w", filter="*.safetensors", value="")
        self.run_button = PushButton(text="Train")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.export_button = PushButton(
            text="Export for bioimage.io",
            enabled=False,
            tooltip="write the trained model as a BioImage Model Zoo package (.zip) beside its weights",
        )
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
                self.export_button,
                self.status,
            ]
        )
        self.job = Background(self.run_button, self.cancel_button, self.status)
        fit_dock(self, wrap=[self.status])
        self.mode.changed.connect(self._show_mode)
        self.degradation.changed.connect(self._show_mode)
        self.run_button.changed.connect(self.train)
        self.export_button.changed.connect(self.export)
        self.trained: tuple[Path, tuple[float, float]] | None = None
        self.history: list[dict] = []
        self._show_mode()

    def _image_layers(self, *_):
        return [layer for layer in self.viewer.layers if layer._type_string == "image"]

    def _init_choices(self, *_):
        return [NEW_NETWORK, *[m["name"] for m in model_rows() if m["trained"]]]

    def _show_mode(self, *_):
        paired = self.mode.value == self.mode.choices[1]
        self.images.visible = not paired
        self.lr_layer.visible = self.hr_layer.visible = paired
        self.degradation.visible = self.noise.visible = not paired
        self.blur.visible = not paired and self.degradation.value == GAUSSIAN_CHOICE

    def settings(self) -> dict:
        from ..io import source_from_layer
        from ..normalize import training_range

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
        kw["value_range"] = None
        if self.mode.value == self.mode.choices[1]:
            lr, hr = self.lr_layer.value, self.hr_layer.value
            if lr is None or hr is None or lr is hr:
                raise SuperResError("choose two different image layers: the LR one and the HR one")
            kw["data"], kw["lr_data"] = planes(hr), planes(lr)
            kw["value_range"] = training_range(kw["lr_data"])
        else:
            chosen = list(self.images.value or [])
            if not chosen:
                raise SuperResError("no training images chosen; select one or more image layers")
            kw["data"] = [planes(layer) for layer in chosen]
            kw["value_range"] = training_range(kw["data"][0])
            kw["degradation"] = degradation_value(self.degradation.value, self.blur.value)
            kw["noise"] = "auto" if self.noise.value else None
            kw["data_description"] = "napari layers " + ", ".join(repr(layer.name) for layer in chosen)
        if self.init.value != NEW_NETWORK:
            kw["init"] = self.init.value
        return kw

    def train(self, *_):
        from ..training import iter_train
        from ..training.loop import progress_line

        try:
            kw = self.settings()
            out_path = kw["out"]
            value_range_ = kw.pop("value_range")
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
            show_error(exc)
            return None
        self.history = []

        def message(msg):
            msg = dict(msg, total=msg.get("steps", 0), done=msg.get("step", 0))
            if msg.get("loss") is not None:
                self.history.append(msg)
            val = msg.get("val_psnr") or next(
                (m["val_psnr"] for m in reversed(self.history) if m.get("val_psnr")), None
            )
            return progress_line(dict(msg, val_psnr=val))

        def done(last):
            from ..models import register

            name = register(out_path)
            self.status.value = f"{self.status.value}; saved {out_path.name}, model {name!r} is in the lists"
            self.trained = (out_path, value_range_)
            self.export_button.enabled = True

        return self.job.start(training_progress(gen), message, done, "Training")

    def export(self, *_):
        """The trained weights as a bioimage.io package beside them (NAME.zip), for the data's value range."""
        from ..bioimageio import export_bioimageio

        if self.trained is None:
            return None
        weights, (lo, hi) = self.trained
        target = weights.with_suffix(".zip")
        try:
            path = export_bioimageio(str(weights), target, normalize=(lo, hi))
        except SuperResError as exc:
            show_error(exc)
            return None
        self.status.value = f"exported {path.name} (bioimage.io package, values {lo:g}..{hi:g})"
        return path
