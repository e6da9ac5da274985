"""The napari plugin: manifest, widgets (under Xvfb), reader, writer, samples, console helpers."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

import napari_superres as nsr  # noqa: E402
from napari_superres.models import SRModel  # noqa: E402

PLUGIN = "napari-superres-cnn"


@pytest.fixture
def errors(monkeypatch):
    """Messages shown in napari's notification area as errors."""
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", lambda text: shown.append(text))
    return shown


@pytest.fixture
def stack():
    """A 16-bit ZYX stack with texture, anisotropic voxels and an origin."""
    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[0:4, 0:48, 0:56]
    base = 1500 + 900 * np.sin(y / 4.0 + z) * np.cos(x / 3.0) + rng.normal(0, 40, z.shape)
    return np.clip(base, 0, 65535).astype(np.uint16)


def _dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def _wait(qtbot, job, timeout=120_000):
    qtbot.waitUntil(lambda: not job.running, timeout=timeout)


def test_manifest_is_valid_and_light():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution(PLUGIN)
    manifest.validate_imports()
    titles = {w.display_name for w in manifest.contributions.widgets}
    assert titles == {"Upscale", "Train / fine-tune", "Evaluate"}
    # napari imports these modules to build its menus: they must not pull in torch
    code = (
        "import sys; import napari_superres._widgets, napari_superres._reader, napari_superres._writer, "
        "napari_superres._sample_data; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_upscale_widget_writes_placed_layer(make_napari_viewer, qtbot, tmp_path, stack):
    viewer = make_napari_viewer()
    layer = viewer.add_image(
        stack, name="cells", scale=(2.0, 0.5, 0.5), translate=(1.0, 10.0, 20.0), units="micrometer"
    )
    w = _dock(viewer, "Upscale")
    assert w.layer.value is layer
    assert w.model.value == "espcn"  # the default model comes first
    assert "parameters" in w.info.value and "Set5 x2" in w.info.value
    w.scale.value = 2
    w.tile.value = 32
    w.output.value = str(tmp_path / "cells_x2.ome.zarr")
    w.write()
    _wait(qtbot, w.job)
    new = viewer.layers["cells x2 (espcn)"]
    expected = nsr.upscale(stack, "espcn", 2, tile=32).compute()
    level0 = new.data[0] if new.multiscale else new.data
    np.testing.assert_array_equal(np.asarray(level0), expected)
    assert level0.dtype == np.uint16
    np.testing.assert_allclose(new.scale, [2.0, 0.25, 0.25])
    np.testing.assert_allclose(new.translate, [1.0, 10.0 - 0.5 * 1 / 4, 20.0 - 0.5 * 1 / 4])
    # pixel centres overlay: output pixels (0,0) and (1,1) straddle input pixel (0,0)'s centre
    centre_in = layer.data_to_world((0, 0, 0))
    mid_out = (np.asarray(new.data_to_world((0, 0, 0))) + np.asarray(new.data_to_world((0, 1, 1)))) / 2
    np.testing.assert_allclose(mid_out, centre_in)
    assert [str(u) for u in new.units] == ["micrometer"] * 3
    assert tuple(new.contrast_limits) == tuple(layer.contrast_limits)
    assert "done" in w.status.value
    w.write()  # the same output again: nothing to compute, and its layer is replaced, not duplicated
    _wait(qtbot, w.job)
    assert [ly.name for ly in viewer.layers] == ["cells", "cells x2 (espcn)"]


def test_upscale_cancel_keeps_chunks_and_run_resumes(make_napari_viewer, qtbot, tmp_path, stack, monkeypatch):
    viewer = make_napari_viewer()
    viewer.add_image(stack, name="cells")
    w = _dock(viewer, "Upscale")
    w.tile.value = 8  # 4 x 6 x 7 = 168 chunks
    out = tmp_path / "big.ome.zarr"
    w.output.value = str(out)
    seen = []
    original = SRModel.__call__

    def slow(self, x):  # a slow network, so Cancel lands mid-run
        seen.append(1)
        if len(seen) == 20:
            w.job.cancel()
        return original(self, x)

    monkeypatch.setattr(SRModel, "__call__", slow)
    w.write()
    _wait(qtbot, w.job)
    assert "cancelled" in w.status.value
    attrs = json.loads((out / "zarr.json").read_text())["attributes"]["napari_superres"]
    assert attrs["status"] == "running"
    kept = len(list((out / ".superres-done").iterdir()))
    assert 0 < kept < 168
    assert "cells x2 (espcn)" not in viewer.layers
    monkeypatch.setattr(SRModel, "__call__", original)
    calls = []
    monkeypatch.setattr(SRModel, "__call__", lambda self, x: calls.append(1) or original(self, x))
    w.write()
    _wait(qtbot, w.job)
    assert len(calls) == 168 - kept  # only the missing chunks were computed
    np.testing.assert_array_equal(
        np.asarray(viewer.layers["cells x2 (espcn)"].data), nsr.upscale(stack, tile=8).compute()
    )


def test_preview_computes_only_the_displayed_plane(make_napari_viewer, stack, monkeypatch):
    viewer = make_napari_viewer()
    viewer.add_image(stack, name="cells")
    w = _dock(viewer, "Upscale")
    w.tile.value = 16  # 3 x 4 = 12 tiles per plane, 48 in the stack
    calls = []
    original = SRModel.__call__
    monkeypatch.setattr(SRModel, "__call__", lambda self, x: calls.append(x.shape[0]) or original(self, x))
    w.degradation.value = "bicubic"  # (auto also runs the network on a few sample windows)
    preview = w.preview()
    assert preview.multiscale and preview.data[0].shape == (4, 96, 112)
    n_first = len(calls)
    assert 0 < n_first <= 12
    viewer.dims.set_current_step(0, 2)
    assert n_first < len(calls) <= n_first + 12  # one more plane, never the stack (48 tiles)
    assert sum(calls) == len(calls)  # one plane per network call
    w.degradation.value = "auto"
    w.preview()
    said = w.info.value  # what auto did: a blend, or (here, no gain expected) bicubic interpolation
    assert said.startswith("auto: ") or "bicubic interpolation" in said
    if said.startswith(
        "auto: "
    ):  # the gain measured on real images; its range and the image's check on hover
        assert (
            said.endswith(" dB") and "real test images: " in w.info.tooltip and "own check" in w.info.tooltip
        )
    w.scale.value = 3  # another setting: the report's detail goes with it
    assert not w.info.tooltip


def test_widget_bad_input_is_one_line_and_harmless(make_napari_viewer, qtbot, tmp_path, errors):
    viewer = make_napari_viewer()
    viewer.add_labels(np.zeros((20, 20), np.uint8), name="masks")
    w = _dock(viewer, "Upscale")
    assert w.layer.value is None and list(w.layer.choices) == []  # labels are not offered
    w.preview()
    assert errors[-1] == "no image layer chosen; open or add an image first"
    viewer.add_image(np.zeros((1, 40), np.uint16), name="line")
    w.reset_choices()
    w.preview()
    assert "1x40 pixels" in errors[-1]
    viewer.add_image(np.zeros((40, 40), np.uint16), name="square")
    w.reset_choices()
    w.layer.value = viewer.layers["square"]
    w.scale.value = 5
    w.preview()
    assert "no x5 weights" in errors[-1]
    w.scale.value = 2
    w.output.value = str(tmp_path / "notes.zarr")
    (tmp_path / "notes.zarr").mkdir()
    (tmp_path / "notes.zarr" / "keep.txt").write_text("precious")
    w.write()
    _wait(qtbot, w.job)  # the message names the dock's own check box, not a Python keyword or a flag
    assert "to replace it: tick the 'overwrite' check box" in errors[-1]
    assert "overwrite=True" not in errors[-1] and "--overwrite" not in errors[-1]
    w.overwrite.value = True
    w.write()
    _wait(qtbot, w.job)  # the error is raised in the worker
    assert "not a zarr store; will not delete it" in errors[-1]
    assert (tmp_path / "notes.zarr" / "keep.txt").read_text() == "precious"
    w.output.value = str(tmp_path / "missing" / "out.ome.zarr")
    w.overwrite.value = False
    w.write()
    _wait(qtbot, w.job)
    assert "does not exist; create it first" in errors[-1]
    assert all("\n" not in e and "Traceback" not in e for e in errors)


def test_docks_leave_the_canvas_room_on_a_1280_px_screen(make_napari_viewer, qtbot):
    from qtpy.QtWidgets import QApplication

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1280, 800)
    viewer.add_image(np.zeros((64, 64), np.uint8), name="blank")
    up = _dock(viewer, "Upscale")
    _dock(viewer, "Train / fine-tune")
    up.more.value = True  # the advanced options shown: the dock grows down, not sideways
    for _ in range(20):
        QApplication.processEvents()
        qtbot.wait(10)
    assert window.width() <= 1280
    assert viewer.window._qt_viewer.canvas.native.width() >= 0.4 * 1280
    assert up.device.visible and up.tile.visible
    up.more.value = False
    assert not up.device.visible and not up.nodata.visible


def test_train_widget_trains_registers_and_resumes(make_napari_viewer, qtbot, tmp_path, textured):
    viewer = make_napari_viewer()
    viewer.add_image(textured, name="field")
    up = _dock(viewer, "Upscale")
    w = _dock(viewer, "Train / fine-tune")
    w.images.value = [viewer.layers["field"]]
    w.steps.value = 40
    w.output.value = str(tmp_path / "field_x2.safetensors")
    seen = []
    original = w.job.start

    def start(gen, on_message, on_done, desc):
        def cancelling():
            for msg in gen:
                seen.append(msg)
                yield msg
                if msg.get("step", 0) >= 12 and not w.job.cancelled:
                    w.job.cancel()

        return original(cancelling(), on_message, on_done, desc)

    w.job.start = start
    w.train()
    _wait(qtbot, w.job)
    assert "cancelled" in w.status.value
    assert (tmp_path / "field_x2.safetensors.ckpt").exists()
    assert not (tmp_path / "field_x2.safetensors").exists()
    w.job.start = original
    w.train()
    _wait(qtbot, w.job)
    assert (tmp_path / "field_x2.safetensors").exists()
    assert "field_x2" in up.model.choices  # appears at once in the Upscale list
    meta = nsr.load_model("field_x2", 2).metadata
    assert meta["steps"] == "40" and "napari layers 'field'" in meta["training_data"]
    assert w.history and w.history[-1]["step"] == 40 and w.history[0]["step"] > 10  # resumed, not restarted
    assert "steps/s" in w.status.value or "s/step" in w.status.value or "saved" in w.status.value
    if importlib.util.find_spec("bioimageio.spec") is not None:  # the trained model as a bioimage.io package
        assert w.export_button.enabled
        w.export_button.clicked.emit()
        package = tmp_path / "field_x2.zip"
        assert package.exists() and "exported field_x2.zip" in w.status.value
        lo, hi = w.trained[1]
        a = nsr.upscale(textured, "field_x2", 2, normalize=(lo, hi)).compute()
        b = nsr.upscale(textured, str(package), 2, normalize=(lo, hi)).compute()
        assert np.abs(a.astype(float) - b).max() <= 1  # the same model, rounded to the same integers


def test_train_widget_lr_hr_pair(make_napari_viewer, qtbot, tmp_path, textured):
    from napari_superres.degradation import imresize

    viewer = make_napari_viewer()
    hr = textured[:96, :128]
    lr = imresize(hr.astype(np.float64), 0.5).astype(np.float32)
    viewer.add_image(hr, name="hr")
    viewer.add_image(lr, name="lr")
    w = _dock(viewer, "Train / fine-tune")
    w.mode.value = w.mode.choices[1]
    assert not w.lr_layer.native.isHidden() and w.images.native.isHidden()  # the pair fields are shown
    w.lr_layer.value, w.hr_layer.value = viewer.layers["lr"], viewer.layers["hr"]
    w.steps.value = 20
    w.output.value = str(tmp_path / "pair.safetensors")
    w.train()
    _wait(qtbot, w.job)
    meta = nsr.load_model(str(tmp_path / "pair.safetensors"), 2).metadata
    assert json.loads(meta["degradation"])["kind"] == "measured LR/HR pairs"


def test_evaluate_widget_table_and_layers(make_napari_viewer, qtbot, textured):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.stack([textured, textured[::-1]]), name="gt", scale=(1, 0.5, 0.5))
    w = _dock(viewer, "Evaluate")
    w.methods.value = ["bicubic", "ibp", "espcn"]
    viewer.dims.set_current_step(0, 1)
    w.evaluate()  # in the background: the viewer stays responsive, Cancel is offered
    assert w.cancel_button.enabled and not w.run_button.enabled
    _wait(qtbot, w.job)
    rows = w.rows
    assert not w.cancel_button.enabled and w.run_button.enabled
    assert sorted(r["method"] for r in rows) == ["bicubic", "espcn", "ibp"]
    assert w.table.shape == (3, 5)
    from qtpy.QtCore import QLocale

    native = w.table.native
    shown = native.itemDelegate().displayText(native.item(0, 1).text(), QLocale())
    assert shown == f"{rows[0]['psnr']:.2f}"  # as written: "31.40", not magicgui's "31.4000"
    by = {r["method"]: r for r in rows}
    assert by["ibp"]["consistency"] > by["bicubic"]["consistency"]  # back-projection agrees with the LR
    np.testing.assert_allclose(viewer.layers["gt espcn"].scale, [0.5, 0.5])
    err = np.asarray(viewer.layers["gt espcn error"].data)
    plane = textured[::-1][:96, :130].astype(np.float32)  # the displayed plane, cropped to x2
    np.testing.assert_allclose(err, np.abs(viewer.layers["gt espcn"].data - plane), atol=1e-3)
    np.testing.assert_allclose(viewer.layers["gt LR x2"].scale, [1.0, 1.0])
    assert layer in viewer.layers


def test_console_upscale_and_add_upscaled(make_napari_viewer, stack):
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack, name="cells", scale=(3.0, 0.4, 0.4), translate=(0, 5, 5))
    lazy = nsr.upscale(layer, "bicubic", 2)
    assert lazy.shape == (4, 96, 112)
    big = nsr.add_upscaled(viewer, "cells", "bicubic", 2)
    assert big.name == "cells x2 (bicubic)" and big.multiscale
    np.testing.assert_allclose(big.scale, [3.0, 0.2, 0.2])
    np.testing.assert_allclose(big.translate, [0.0, 5 - 0.1, 5 - 0.1])
    rgb = viewer.add_image(np.zeros((30, 40, 3), np.uint8), name="photo", rgb=True)
    out = nsr.add_upscaled(viewer, rgb, "bicubic", 3, preview=False)
    assert out.rgb and out.data.shape == (90, 120, 3)


def test_writer_and_reader_round_trip(make_napari_viewer, tmp_path, stack):
    from napari_superres._reader import get_reader
    from napari_superres._writer import write_ome_zarr
    from napari_superres.io import open_input

    viewer = make_napari_viewer()
    layer = viewer.add_image(
        stack, name="cells", scale=(2.0, 0.5, 0.5), translate=(1, 2, 3), units="micrometer"
    )
    path = tmp_path / "cells.ome.zarr"
    assert write_ome_zarr(str(path), layer.data, layer.as_layer_data_tuple()[1]) == [str(path)]
    src = open_input(path)
    assert src.axes == "ZYX" and src.scale == [2.0, 0.5, 0.5] and src.translation == [1.0, 2.0, 3.0]
    assert src.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    np.testing.assert_array_equal(np.asarray(src.data), stack)
    with pytest.raises(nsr.SuperResError, match="already exists"):
        write_ome_zarr(str(path), layer.data, layer.as_layer_data_tuple()[1])
    reader = get_reader(str(path))
    ((data, kwargs, kind),) = reader(str(path))
    assert kind == "image" and kwargs["scale"] == [2.0, 0.5, 0.5] and kwargs["axis_labels"] == ["z", "y", "x"]
    assert get_reader(str(tmp_path)) is None  # a plain folder is someone else's
    # napari offers every folder reader for a folder (npe2 ignores patterns for folders) and its
    # viewer.open() takes its own by default: ours is named, and places the levels by their metadata
    (opened,) = viewer.open(path, plugin=PLUGIN)
    np.testing.assert_allclose(opened.scale, [2.0, 0.5, 0.5])


def test_reader_puts_rgb_back(tmp_path):
    from napari_superres._reader import read_ome_zarr

    rgb = np.random.default_rng(0).integers(0, 255, (20, 24, 3)).astype(np.uint8)
    nsr.upscale(rgb, "bicubic", 2, out=tmp_path / "rgb.ome.zarr")
    ((data, kwargs, _),) = read_ome_zarr(tmp_path / "rgb.ome.zarr")
    assert kwargs["rgb"] and data.shape == (40, 48, 3)
    np.testing.assert_allclose(kwargs["scale"], [0.5, 0.5])


def test_sample_data_is_deterministic_16_bit():
    from napari_superres._sample_data import astronaut, nuclei

    ((a, meta, kind),) = nuclei()
    ((b, _, _),) = nuclei()
    assert kind == "image" and a.dtype == np.uint16 and a.shape == (24, 256, 256)
    np.testing.assert_array_equal(a, b)
    assert meta["scale"] == (0.8, 0.2, 0.2) and a.max() > 2000 and a.min() < 200
    ((photo, _, _),) = astronaut()
    assert photo.shape == (320, 320, 3) and photo.dtype == np.uint8


def test_upscale_widget_writes_ome_tiff(make_napari_viewer, qtbot, tmp_path, stack):
    viewer = make_napari_viewer()
    viewer.add_image(stack, name="cells", scale=(2.0, 0.5, 0.5))
    w = _dock(viewer, "Upscale")
    w.model.value = "bicubic"
    w.output.value = str(tmp_path / "cells_x2.ome.tif")
    w.write()
    _wait(qtbot, w.job)
    new = viewer.layers["cells x2 (bicubic)"]
    np.testing.assert_array_equal(np.asarray(new.data), nsr.upscale(stack, "bicubic", 2).compute())
    np.testing.assert_allclose(new.scale, [2.0, 0.25, 0.25])
    assert not (tmp_path / "cells_x2.ome.tif.partial.zarr").exists()


def test_upscale_widget_self_ensemble_box_runs_the_eight_orientation_mean(make_napari_viewer, stack):
    viewer = make_napari_viewer()
    viewer.add_image(stack, name="cells")
    w = _dock(viewer, "Upscale")
    w.ensemble.value = True
    preview = w.preview()
    assert preview.name == "cells x2 (espcn+x8)"
    plane = np.asarray(preview.data[0][1])
    np.testing.assert_array_equal(plane, nsr.upscale(stack, "espcn+x8", 2).compute()[1])
    assert not np.array_equal(plane, nsr.upscale(stack, "espcn", 2).compute()[1])


def test_upscale_widget_degradation_picks_the_weights_trained_for_it(make_napari_viewer, stack, errors):
    from napari_superres._widgets import GAUSSIAN_CHOICE

    viewer = make_napari_viewer()
    viewer.add_image(stack, name="cells")
    w = _dock(viewer, "Upscale")
    assert w.sigma.native.isHidden()  # the PSF field shows only for the Gaussian PSF
    w.degradation.value = GAUSSIAN_CHOICE
    w.sigma.value = 1.5
    assert not w.sigma.native.isHidden() and str(w.settings()[1].degradation) == "gaussian:1.5"
    w.degradation.value = "binning"
    plane = np.asarray(w.preview().data[0][1])
    np.testing.assert_array_equal(plane, nsr.upscale(stack, "espcn", 2, degradation="binning").compute()[1])
    assert not np.array_equal(plane, nsr.upscale(stack, "espcn", 2).compute()[1])
    w.model.value = "srcnn"  # no binning weights: one line naming the widget's fields
    assert w.preview() is None
    assert len(errors) == 1 and "binning" in errors[0] and "'degradation'" in errors[0]


def test_upscale_widget_adapts_to_the_image_before_writing(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    import napari_superres.adapt as adapt_module
    from napari_superres._sample_data import make_nuclei

    monkeypatch.setattr(adapt_module, "MAX_STEPS", 150)  # a fixed, short run, however fast the machine
    viewer = make_napari_viewer()
    viewer.add_image(make_nuclei((4, 192, 192), count=40)[2], name="nuc")
    w = _dock(viewer, "Upscale")
    w.degradation.value = "binning"
    w.adapt.value = True
    out = tmp_path / "nuc_x2.ome.zarr"
    w.output.value = str(out)
    w.write()
    _wait(qtbot, w.job)
    assert "done" in w.status.value
    weights = adapt_module.sidecar(out)
    assert weights.exists()  # kept: it did better on the held-back rows (as upscale(adapt=) in test_adapt)
    written = viewer.layers["nuc x2 (espcn adapted)"]
    expected = nsr.upscale(viewer.layers["nuc"].data, str(weights), 2, degradation="binning").compute()
    level0 = written.data[0] if written.multiscale else written.data
    np.testing.assert_array_equal(np.asarray(level0), expected)
