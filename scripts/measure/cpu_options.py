"""CPU inference options per tile: contiguous vs channels-last memory format, and torch.compile.

    python scripts/measure/cpu_options.py [tile] [models...]

One torch thread (as in each dask worker thread), a tile plus the model's halo on each side, the
median of 5 forward passes under ``torch.inference_mode``. The pipeline's choices (contiguous,
no compile) come from these numbers (docs/benchmarks.md).
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from napari_superres.models import load_model


def _median_time(fn, x, reps: int = 5, context=torch.inference_mode) -> float:
    with context():
        fn(x)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(tile: int = 256, *models: str) -> None:
    torch.set_num_threads(1)
    print("| model | tile+halo | contiguous s | channels-last s | torch.compile s |")
    print("|---|---|---|---|---|")
    for name in models or ("espcn", "edsr-lite"):
        m = load_model(name, 2)
        side = tile + 2 * m.halo
        x = torch.rand(1, 1, side, side)
        net = m.module.eval()
        plain = _median_time(net, x)
        cl_net = load_model(name, 2).module.eval().to(memory_format=torch.channels_last)
        cl = _median_time(cl_net, x.contiguous(memory_format=torch.channels_last))
        try:
            # under no_grad: compiled graphs trip a guard under inference_mode (torch 2.13)
            compiled = _median_time(
                torch.compile(load_model(name, 2).module.eval()), x, context=torch.no_grad
            )
            comp = f"{compiled:.3f}"
        except Exception as exc:  # no C compiler, or an unsupported operation
            comp = f"unavailable ({type(exc).__name__})"
        print(f"| {name} | {side} | {plain:.3f} | {cl:.3f} | {comp} |", flush=True)


if __name__ == "__main__":
    a = sys.argv[1:]
    main(int(a[0]) if a else 256, *a[1:])
