"""Which torch device to run on, and what is available."""

from __future__ import annotations

from .errors import SuperResError, opt


def available_devices() -> list[str]:
    """Devices this machine offers: ``cpu`` always, plus ``cuda:N`` and ``mps`` when present."""
    import torch

    devs = ["cpu"]
    if torch.cuda.is_available():
        devs += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devs.append("mps")
    return devs


def resolve_device(device: str | None = "auto"):
    """A ``torch.device`` for ``"auto"`` (first GPU, else MPS, else CPU), ``"cpu"``, ``"cuda:N"``, ``"mps"``."""
    import torch

    if device is None or device == "auto":
        devs = available_devices()
        return torch.device(devs[1] if len(devs) > 1 else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise SuperResError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SuperResError(
            f"device {device!r} asked for but no CUDA GPU is available: {opt('device', 'cpu')}"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise SuperResError(
            f"device {device!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)"
        )
    if dev.type == "mps" and str(dev) not in available_devices():
        raise SuperResError(f"device 'mps' asked for but Apple MPS is not available: {opt('device', 'cpu')}")
    return dev
