"""What the three docks share: the background job runner (thread worker, progress bar, Cancel),
one-line error notifications, the model lists and the degradation choices."""

from __future__ import annotations

import math

from magicgui.widgets import Label, PushButton

from ..errors import SuperResError

NEW_NETWORK = "(new network)"
GAUSSIAN_CHOICE = "gaussian PSF, then binning"
DEGRADATION_CHOICES = ["bicubic", "binning", GAUSSIAN_CHOICE, "auto"]


DOCK_WIDTH = 380  # px: beside napari's layer controls the canvas keeps well over 40 % of a 1280 px window


def fit_dock(container, wrap=()) -> None:
    """Keep a dock narrow: a maximum width, and labels that wrap instead of widening the window."""
    container.native.setMaximumWidth(DOCK_WIDTH)
    for label in wrap:
        label.native.setWordWrap(True)


def advanced(toggle, widgets) -> None:
    """A check box that shows and hides the rarely changed controls (hidden at first)."""

    def show(*_):
        for w in widgets:
            w.visible = bool(toggle.value)

    toggle.changed.connect(show)
    show()


def degradation_value(choice: str, sigma: float) -> str:
    """The degradation a dropdown choice and its PSF sigma field stand for."""
    return f"gaussian:{float(sigma):g}" if choice == GAUSSIAN_CHOICE else choice


def show_error(exc: BaseException) -> None:
    """Show an error in napari's notification area, one line."""
    from napari.utils import notifications

    text = exc.render("widget") if isinstance(exc, SuperResError) else f"{type(exc).__name__}: {exc}"
    notifications.show_error(text.splitlines()[0] if text else type(exc).__name__)


def model_rows(need_weights: bool = True) -> list[dict]:
    from ..models import list_models

    rows = [m for m in list_models() if m["shipped"] or not need_weights]
    return sorted(rows, key=lambda m: (not m["default"], not m["trained"]))  # default first, then networks


def model_info(name: str, scale: float = 2) -> str:
    """One short line on a model: its size and its Set5 PSNR at the scale chosen (or the scales it has)."""
    for m in model_rows():
        if m["name"] == name:
            if not m["trained"]:
                return f"{m['arch']}: classical method, no training"
            from ..models import load_model

            parts = [f"{m['arch']}, {load_model(name, m['scales'][0]).parameters:,} parameters"]
            s = math.ceil(float(scale) - 1e-9)
            q = str(m["quality"].get(s) or "")
            if q:
                parts.append(f"validation PSNR {q[4:]} dB" if q.startswith("val ") else f"Set5 x{s} {q} dB")
            elif s not in m["scales"]:
                parts.append("scales " + ", ".join(f"x{k}" for k in m["scales"]))
            return "; ".join(parts)
    return ""


class Background:
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
            text = exc.render("widget") if isinstance(exc, SuperResError) else str(exc)
            self.status.value = "error: " + (text.splitlines() or [type(exc).__name__])[0]
            show_error(exc)

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


def training_progress(gen):
    """Training messages with ``done``/``total`` for the progress bar, and ``stage`` done at the end."""
    for msg in gen:
        yield dict(
            msg, done=msg.get("step", 0), total=msg.get("steps", 0), stage="done" if msg.get("done") else ""
        )
