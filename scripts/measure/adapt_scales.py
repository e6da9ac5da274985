"""``adapt`` at x3 and x4: the change in gain over bicubic (dB, against the HR, which adapting never
sees) of the default network adapted to each LR image with the default budget, on crops of up to
640 x 640 of the held-out validation files (the benchmark's 256-pixel crops are below adapt's minimum
at x3 and x4; files too small for it at a scale are left out there).

    python scripts/measure/adapt_scales.py 3 > x3.jsonl     # one JSON line per image and degradation
    python scripts/measure/adapt_scales.py 3 300 > x3_300.jsonl     # crops of up to 300 pixels a side
    python scripts/measure/adapt_scales.py summary x3.jsonl x4.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

SIZE = 640


def measure(scale: int, size: int = SIZE) -> None:
    from adapt_schedule import adapted_vs_start, change_record

    from napari_superres.errors import SuperResError
    from napari_superres.realdata import validation_images

    for degradation in ("bicubic", "binning", "gaussian:1.0"):
        for item, hr in validation_images("../shared/data/real", size=size):
            try:
                run = adapted_vs_start(hr, degradation, scale, seconds=120)
            except SuperResError as exc:  # too small to adapt to at this scale
                print(f"# {item.name} x{scale}: {exc}", file=sys.stderr)
                continue
            rec = {
                "scale": scale, "size": size, "degradation": degradation, "image": item.name,
                "shape": list(run[0].shape), **change_record(*run),
            }  # fmt: skip
            print(json.dumps(rec), flush=True)


def summary(files: list[str]) -> None:
    print(
        "| scale | crops up to | degradation | images | start's gain | change by adapting, mean | worst "
        "| kept adapted | seconds each |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for f in files:
        rows = [json.loads(line) for line in open(f) if line.startswith("{")]
        for d in ("bicubic", "binning", "gaussian:1.0"):
            sel = [r for r in rows if r["degradation"] == d]
            if not sel:
                continue
            ch = [r["change"] for r in sel]
            print(
                f"| x{sel[0]['scale']} | {sel[0].get('size', SIZE)} | {d} | {len(sel)} "
                f"| {np.mean([r['start'] for r in sel]):+.2f} "
                f"| {np.mean(ch):+.3f} | {min(ch):+.3f} | {sum(r['kept'] == 'adapted' for r in sel)} / {len(sel)} "
                f"| {np.mean([r['seconds'] for r in sel]):.0f} |"
            )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    if sys.argv[1] == "summary":
        summary(sys.argv[2:])
    else:
        measure(int(sys.argv[1]), *map(int, sys.argv[2:3]))
