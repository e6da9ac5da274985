"""Why ``degradation="auto"`` blends: the default network's bicubic and binning weights, the best
spectral fit alone (auto's first design), their equal mean, the mean weighted by the inverse
spectral mismatch (auto now) and the weights of the true degradation, on real images whose HR is
known, as gains (dB) over bicubic enlargement of the same LR.

``val``: the eight held-out validation crops (napari_superres.realdata); ``train``: centre crops of
24 planes of the real *training* split (a second, larger sample the choice was checked on).

    python scripts/measure/auto_blend.py val > val.jsonl      # one JSON line per image
    python scripts/measure/auto_blend.py summary val.jsonl train.jsonl
"""

from __future__ import annotations

import json
import sys

import numpy as np


def images(which: str, root: str = "../shared/data/real"):
    from napari_superres.realdata import training_crops, validation_images

    if which == "val":
        return [(item.name, hr) for item, hr in validation_images(root)]
    return [(str(i), crop) for i, crop in enumerate(training_crops(root, 30)) if crop.std() > 1e-3]


def measure(which: str) -> None:
    import torch

    from napari_superres.api import upscale
    from napari_superres.bench import real_score
    from napari_superres.degradation import parse_degradation
    from napari_superres.engine import auto

    imgs = images(which)
    for s in (2, 4):
        for true in ("bicubic", "binning", "gaussian:1.0"):
            deg = parse_degradation(true)
            for name, hr in imgs:
                hr = hr[: hr.shape[0] // s * s, : hr.shape[1] // s * s]
                lr = deg.downsample(torch.from_numpy(hr)[None], s)[0].numpy().astype(np.float32)
                bic = np.asarray(upscale(lr, "bicubic", s).compute(), np.float64)

                def run(d, lr=lr, s=s):
                    return np.asarray(upscale(lr, "default", s, degradation=d).compute(), np.float64)

                a, b, m = run("bicubic"), run("binning"), run(true)
                mm = auto.spectral_mismatch(
                    auto._unit(auto.sample_windows(lr, "YX")), s, ["bicubic", "binning"]
                )
                wb = mm["bicubic"] / (mm["bicubic"] + mm["binning"]) if len(mm) == 2 else 0.5
                fit = a if mm.get("bicubic", 0) <= mm.get("binning", 1e9) else b
                g = {
                    k: round(real_score(x, hr, bic)[1], 3)
                    for k, x in {
                        "bicubic weights": a,
                        "binning weights": b,
                        "best fit alone": fit,
                        "equal mean": (a + b) / 2,
                        "weighted mean (auto)": (1 - wb) * a + wb * b,
                        "true degradation's weights": m,
                    }.items()
                }
                print(json.dumps({"scale": s, "true": true, "image": name, "gain": g}), flush=True)


def summary(*files: str) -> None:
    for f in files:
        rows = [json.loads(line) for line in open(f)]
        print(f"{f}: mean gain over bicubic, dB (worst image)")
        methods = list(rows[0]["gain"])
        print("| scale | HR degradation | images | " + " | ".join(methods) + " |")
        print("|---" * (3 + len(methods)) + "|")
        for s in (2, 4):
            for t in ("bicubic", "binning", "gaussian:1.0"):
                sel = [r["gain"] for r in rows if r["scale"] == s and r["true"] == t]
                if not sel:
                    continue
                cells = [
                    f"{np.mean([g[k] for g in sel]):+.2f} ({min(g[k] for g in sel):+.2f})" for k in methods
                ]
                print(f"| x{s} | {t} | {len(sel)} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    if sys.argv[1] == "summary":
        summary(*sys.argv[2:])
    else:
        measure(sys.argv[1])
