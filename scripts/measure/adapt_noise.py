"""Whether ``adapt`` should add noise to the image's own training pairs: the change in PSNR gain over
bicubic (dB, against the HR, which adapting never sees) of the default network adapted to each
held-out LR crop (x2, the default budget), and the flat-background noise amplification on the
fluorescence crops before and after adapting (``bench``'s figure: high-pass std of the result away
from any object over bicubic's), for a share of training inputs given white noise back to the
image's own level (``adapt.NOISY_SHARE``: 0 is no noise, as before; 0.5 is adapt's), and the factors the
image also trains shrunk by (``adapt.SHRINKS``: ``none``, or e.g. ``0.8`` or ``0.8,0.64``; adapt's own
when not given).

    python scripts/measure/adapt_noise.py binning 0.5 > binning_0.5.jsonl
    python scripts/measure/adapt_noise.py binning 0.5 none > binning_0.5_none.jsonl
    python scripts/measure/adapt_noise.py summary *.jsonl
"""

from __future__ import annotations

import json
import sys

import numpy as np


def measure(
    degradation: str, share: float, shrinks=None, scale: int = 2, root: str = "../shared/data/real"
) -> None:
    from adapt_schedule import adapted_vs_start, change_record  # beside this script

    import napari_superres.adapt as adapt_mod
    from napari_superres.bench import FLAT_MARGIN, noise_ratio
    from napari_superres.realdata import validation_images

    adapt_mod.NOISY_SHARE = share
    if shrinks is not None:
        adapt_mod.SHRINKS = tuple(shrinks)
    for item, hr in validation_images(root):
        run = adapted_vs_start(hr, degradation, scale)
        hr, bic, start, sr = run[:4]
        fluo = item.kind == "fluorescence"
        flat0 = noise_ratio(start, bic, hr, margin=FLAT_MARGIN) if fluo else None
        flat1 = noise_ratio(sr, bic, hr, margin=FLAT_MARGIN) if fluo else None
        rec = {
            "degradation": degradation, "share": share, "shrinks": list(adapt_mod.SHRINKS), "image": item.name,
            **change_record(*run),
            "flat_start": None if flat0 is None else round(flat0, 3),
            "flat_adapted": None if flat1 is None else round(flat1, 3),
        }  # fmt: skip
        print(json.dumps(rec), flush=True)


def summary(*files: str) -> None:
    rows = [json.loads(line) for f in files for line in open(f)]
    print(
        "| degradation | noisy share | shrinks | images | mean change (dB) | worst change "
        "| flat background, start -> adapted |"
    )
    print("|---|---|---|---|---|---|---|")

    def key_of(r):
        return r["degradation"], r["share"], ",".join(f"{f:g}" for f in r.get("shrinks", [])) or "none"

    for key in dict.fromkeys(key_of(r) for r in rows):
        sel = [r for r in rows if key_of(r) == key]
        ch = [r["change"] for r in sel]
        f0 = [r["flat_start"] for r in sel if r["flat_start"] is not None]
        f1 = [r["flat_adapted"] for r in sel if r["flat_adapted"] is not None]
        print(
            f"| {key[0]} | {key[1]:g} | {key[2]} | {len(sel)} | {np.mean(ch):+.3f} | {min(ch):+.3f} | "
            f"{np.mean(f0):.2f} -> {np.mean(f1):.2f} |"
        )


if __name__ == "__main__":
    if sys.argv[1] == "summary":
        summary(*sys.argv[2:])
    else:
        shrinks = None
        if len(sys.argv) > 3:
            shrinks = [] if sys.argv[3] == "none" else [float(f) for f in sys.argv[3].split(",")]
        measure(sys.argv[1], float(sys.argv[2]), shrinks)
