"""The Evaluate dock: degrade a layer (taken as ground truth), enlarge it with several methods, score and show them."""

from __future__ import annotations

from magicgui.widgets import (
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    Select,
    SpinBox,
    Table,
    create_widget,
)

from ..errors import SuperResError
from .common import (
    DEGRADATION_CHOICES,
    GAUSSIAN_CHOICE,
    Background,
    degradation_value,
    fit_dock,
    model_rows,
    show_error,
)


class EvaluateWidget(Container):
    """Degrade a layer (taken as ground truth), enlarge it with several methods, score and show them."""

    def __init__(self, napari_viewer):
        super().__init__(labels=True)
        from ..models import on_registry_change

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
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.table = Table(
            value={"data": [], "columns": ["method", "PSNR (dB)", "SSIM", "consistency (dB)", "s"]}
        )
        # magicgui's table re-formats every number-like cell to 4 decimals ("31.4000"); Qt's own
        # delegate shows our text as written
        from qtpy.QtWidgets import QStyledItemDelegate

        self.table.native.setItemDelegate(QStyledItemDelegate(self.table.native))
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
                self.cancel_button,
                self.table,
                self.status,
            ]
        )
        self.run_button.changed.connect(self.evaluate)
        self.degradation.changed.connect(self._show_sigma)
        on_registry_change(self.reset_choices)
        self.rows: list[dict] = []
        self.job = Background(self.run_button, self.cancel_button, self.status)
        fit_dock(self, wrap=[self.status])
        self._show_sigma()

    def _show_sigma(self, *_):
        self.blur.visible = self.degradation.value == GAUSSIAN_CHOICE

    def _method_choices(self, *_):
        return [m["name"] for m in model_rows()]

    def evaluate(self, *_):
        """Score the chosen methods on the displayed plane in the background (progress, Cancel); the
        table and the layers appear when all are done. Returns the worker (None when refused)."""
        from ..bench import iter_compare
        from ..layers import displayed_plane

        layer = self.layer.value
        methods = list(self.methods.value or [])
        try:
            if layer is None:
                raise SuperResError("no ground-truth layer chosen; open or add an image first")
            if not methods:
                raise SuperResError("no methods chosen; select bicubic, ibp or a model")
            s = int(self.scale.value)
            plane = displayed_plane(layer, self.viewer.dims.current_step)
            deg = degradation_value(self.degradation.value, self.blur.value)
            gen = iter_compare(plane, s, methods, degradation=deg, noise_sigma=float(self.noise.value))
        except SuperResError as exc:
            show_error(exc)
            return None

        def message(msg):
            if msg["stage"] == "method":
                return f"enlarging with {msg['method']} ({msg['done'] + 1} of {msg['total']})"
            return ""

        def done(msg):
            self._show(msg, layer, plane, s)

        return self.job.start(gen, message, done, "Evaluating")

    def _show(self, msg, layer, plane, s):
        import numpy as np

        from ..layers import plane_placement

        rows, lr, results = msg["rows"], msg["lr"], msg["results"]
        self.rows = rows
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
            "columns": ["method", "PSNR (dB)", "SSIM", "consistency (dB)", "s"],
        }
        prefix = self.prefix.value or layer.name
        hr = plane[: lr.shape[0] * s, : lr.shape[1] * s].astype(np.float32)
        self.viewer.add_image(lr, name=f"{prefix} LR x{s}", visible=False, **plane_placement(layer, 1 / s))
        at = plane_placement(layer, 1)  # the results lie on the ground truth's own grid
        for name, sr in results.items():
            self.viewer.add_image(sr, name=f"{prefix} {name}", **at)
            self.viewer.add_image(
                np.abs(sr - hr), name=f"{prefix} {name} error", colormap="magma", visible=False, **at
            )
        best = max(rows, key=lambda r: r["psnr"])
        self.status.value = f"best: {best['method']} {best['psnr']:.2f} dB on the displayed plane"
