"""Scaling table: zarr -> OME-Zarr time and peak resident memory for outputs of 1 MP to 1 GP.

    python scripts/measure/scaling.py [model] [max_side]

Each size runs in its own process (``napari-superres perf --stages zarr``), so each peak is its own.
"""

from __future__ import annotations

import sys

from napari_superres.perf import main as perf


def run(model: str = "default", max_side: int = 16384) -> None:
    rows = []
    side = 512
    while side <= max_side:
        (r,) = perf(model, 2, side, "cpu", None, ("zarr",))
        rows.append((side, r))
        side *= 2
    print("\n| output MP | input | seconds | MP/s out | s per output GP | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for side, r in rows:
        mp = r["output_mp"]
        print(
            f"| {mp:,.0f} | {side} x {side} | {r['seconds']:.1f} | {mp / r['seconds']:.1f} | "
            f"{r['seconds'] / mp * 1000:.0f} | {r['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    run(*(int(a) if a.isdigit() else a for a in sys.argv[1:]))
