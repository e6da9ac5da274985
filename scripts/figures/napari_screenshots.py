"""Screenshots of the napari plugin for docs/napari.md (run under Xvfb: ``xvfb-run -a python ...``).

Writes palette PNGs into docs/images/, at a 1280 x 800 window: the Upscale and Train docks open
beside the nuclei sample (with the share of the window the canvas keeps), a before/after of the
bundled photograph, and the Train dock during a run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
import numpy as np
from PIL import Image
from qtpy.QtWidgets import QApplication

import napari_superres as nsr
from napari_superres._sample_data import astronaut, nuclei
from napari_superres.degradation import imresize

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"


def save(viewer, name: str, width: int = 1280) -> None:
    viewer.status = "Ready"  # not a hover text left from another layer
    for _ in range(10):
        QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    im = Image.fromarray(shot[..., :3])
    im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(OUT / name, optimize=True)
    print("wrote", OUT / name, (OUT / name).stat().st_size // 1024, "KB")


def wait(job, timeout=300):
    t0 = time.time()
    while job.running and time.time() - t0 < timeout:
        QApplication.processEvents()
        time.sleep(0.05)


def main(workdir: str = "/tmp/superres-shots") -> None:
    Path(workdir).mkdir(exist_ok=True)
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1280, 800)
    data, meta, _ = nuclei()[0]
    layer = viewer.add_image(data, **meta)
    up_dock, up = viewer.window.add_plugin_dock_widget("napari-superres-cnn", "Upscale")
    train_dock, _ = viewer.window.add_plugin_dock_widget("napari-superres-cnn", "Train / fine-tune")
    up.layer.value = layer
    viewer.dims.set_current_step(0, 12)
    preview = up.preview()
    lo, hi = np.percentile(data[12], [1, 99.8])
    preview.contrast_limits = layer.contrast_limits = (float(lo), float(hi))
    layer.visible = False
    viewer.reset_view()
    viewer.camera.zoom *= 1.5
    QApplication.processEvents()
    canvas, window = viewer.window._qt_viewer.canvas.native.width(), viewer.window._qt_window.width()
    print(f"canvas {canvas} px of a {window} px window ({100 * canvas / window:.0f} %)")
    save(viewer, "napari_upscale.png")
    viewer.layers.clear()
    viewer.window.remove_dock_widget(train_dock)
    viewer.window.remove_dock_widget(up_dock)

    photo = astronaut()[0][0]
    lr = imresize(photo, 1 / 3)
    small = viewer.add_image(lr, name="photo (1/3)", rgb=True)
    big = nsr.add_upscaled(viewer, small, "default", 3)
    viewer.canvas.grid.enabled = True
    viewer.canvas.grid.shape = (1, 2)
    big.visible = small.visible = True
    viewer.reset_view()
    save(viewer, "napari_before_after.png")
    viewer.canvas.grid.enabled = False
    viewer.layers.clear()

    layer = viewer.add_image(data[10:14], **meta)
    viewer.reset_view()
    _, tr = viewer.window.add_plugin_dock_widget("napari-superres-cnn", "Train / fine-tune")
    tr.images.value = [layer]
    tr.steps.value = 300
    target = Path(workdir) / f"nuclei_x2_{int(time.time())}.safetensors"
    tr.output.value = str(target)
    tr.train()
    t0 = time.time()
    while tr.job.running and "validation" not in tr.status.value and time.time() - t0 < 300:
        QApplication.processEvents()
        time.sleep(0.05)
    save(viewer, "napari_train.png")
    tr.job.cancel()
    wait(tr.job)
    viewer.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
