"""The noise trade inside ``degradation="auto"``: its bicubic part mixed from the clean bicubic weights
(share ``a``) and the noise-robust ones (``1 - a``; auto today: ``a = 0``), the binning weights as
shipped, each blended by the weights auto estimates for the image. Gain over bicubic (dB) against the HR, and on the
validation split's fluorescence crops the flat-background noise ratio (``bench --real``'s
``flat_noise_ratio``).

    python scripts/measure/auto_mix.py val 2 > val2.jsonl      # one JSON line per image
    python scripts/measure/auto_mix.py summary val2.jsonl train2.jsonl ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)


def measure(which: str, s: int) -> None:
    import torch
    from auto_blend import images

    from napari_superres.api import upscale
    from napari_superres.bench import FLAT_MARGIN, noise_ratio, real_score
    from napari_superres.degradation import parse_degradation
    from napari_superres.engine import auto
    from napari_superres.models import load_model
    from napari_superres.realdata import validation_images

    parts = {
        "bicubic_robust": load_model("default", s, degradation="bicubic", noise_robust=True),
        "binning": load_model("default", s, degradation="binning", noise_robust=True),
        "bicubic_clean": load_model("default", s, degradation="bicubic"),
    }
    if which == "val":
        imgs = [(it.name, it.kind, hr) for it, hr in validation_images("../shared/data/real")]
    else:
        imgs = [(n, None, hr) for n, hr in images("train")]
    for true in ("bicubic", "binning", "gaussian:1.0"):
        deg = parse_degradation(true)
        for name, kind, hr in imgs:
            hr = hr[: hr.shape[0] // s * s, : hr.shape[1] // s * s]
            lr = deg.downsample(torch.from_numpy(hr)[None], s)[0].numpy().astype(np.float32)
            w = auto.estimate_degradation(auto.sample_windows(lr, "YX"), "default", s)["weights"]
            bic = np.asarray(upscale(lr, "bicubic", s).compute(), np.float64)
            out = {
                k: np.asarray(upscale(lr, m, s, degradation=None).compute(), np.float64)
                for k, m in parts.items()
            }
            rows = {}
            for a in SHARES:
                bic_part = a * out["bicubic_clean"] + (1 - a) * out["bicubic_robust"]
                sr = w.get("bicubic", 0) * bic_part + w.get("binning", 0) * out["binning"]
                flat = noise_ratio(sr, bic, hr, margin=FLAT_MARGIN) if kind == "fluorescence" else None
                rows[f"{a:g}"] = {"gain": round(real_score(sr, hr, bic)[1], 3), "flat": flat}
            print(
                json.dumps({"scale": s, "sample": which, "true": true, "image": name, "shares": rows}),
                flush=True,
            )


def summary(files: list[str]) -> None:
    print(
        "clean share of auto's bicubic part: mean gain over bicubic, dB (worst image) [flat-background noise]"
    )
    print("| sample | scale | HR degradation | " + " | ".join(f"a = {a:g}" for a in SHARES) + " |")
    print("|---" * (3 + len(SHARES)) + "|")
    for f in files:
        rows = [json.loads(line) for line in open(f)]
        for t in ("bicubic", "binning", "gaussian:1.0"):
            sel = [r for r in rows if r["true"] == t]
            cells = []
            for a in SHARES:
                g = [r["shares"][f"{a:g}"]["gain"] for r in sel]
                fl = [r["shares"][f"{a:g}"]["flat"] for r in sel if r["shares"][f"{a:g}"]["flat"] is not None]
                cells.append(f"{np.mean(g):+.2f} ({min(g):+.2f})" + (f" [{np.mean(fl):.2f}]" if fl else ""))
            print(f"| {sel[0]['sample']} | x{sel[0]['scale']} | {t} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    if sys.argv[1] == "summary":
        summary(sys.argv[2:])
    else:
        measure(sys.argv[1], int(sys.argv[2]))
