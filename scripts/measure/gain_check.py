"""Does ``degradation="auto"``'s internal check (its blend enlarging the image's own windows shrunk
by each candidate, as a gain over bicubic) predict the real gain over bicubic on images whose HR is
known? And does a calibration of it do better than the benchmark's mean?

``val``: the eight held-out validation crops; ``train``: centre crops of 24 planes of the real
*training* split (as in auto_blend.py), each shrunk by bicubic / binning / gaussian:1.0 at ``SCALE``.

    python scripts/measure/gain_check.py val 2 > val2.jsonl    # one JSON line per image
    python scripts/measure/gain_check.py summary DIR           # DIR/{val,train}{2,3,4}.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def measure(which: str, s: int) -> None:
    import torch
    from auto_blend import images

    from napari_superres.api import upscale
    from napari_superres.bench import real_score
    from napari_superres.degradation import estimate_noise, parse_degradation
    from napari_superres.engine import auto
    from napari_superres.metrics import shave
    from napari_superres.models import load_model

    bicm = load_model("bicubic", s)
    for true in ("bicubic", "binning", "gaussian:1.0"):
        tdeg = parse_degradation(true)
        for name, hr in images(which):
            hr = hr[: hr.shape[0] // s * s, : hr.shape[1] // s * s]
            lr = tdeg.downsample(torch.from_numpy(hr)[None], s)[0].numpy().astype(np.float32)
            bic = np.asarray(upscale(lr, "bicubic", s).compute(), np.float64)
            out = np.asarray(upscale(lr, "default", s, degradation="auto").compute(), np.float64)
            windows = auto.sample_windows(lr, "YX")
            rep = auto.estimate_degradation(windows, "default", s)
            wins = auto._unit(windows)  # as estimate_degradation scores them
            if rep["fallback"] or rep["internal_check_db"] is None:
                continue
            mse = []  # bicubic enlargement's error in the internal check: how much detail the windows have
            for c, wt in rep["weights"].items():
                d = parse_degradation(c)
                for w in wins:
                    h, wd = (w.shape[0] // s) * s, (w.shape[1] // s) * s
                    if min(h, wd) < 8 * s:
                        continue
                    t = w[:h, :wd]
                    small = d.downsample(torch.from_numpy(np.ascontiguousarray(t))[None, None], s).float()
                    b = bicm(small)[0, 0].double().numpy()
                    mse.append(wt * np.mean((shave(b, 4) - shave(t, 4)) ** 2))
            row = {
                "scale": s,
                "true": true,
                "image": name,
                "real": real_score(out, hr, bic)[1],
                "internal": rep["internal_check_db"],
                "bicubic_mse": float(np.sum(mse) / len(wins)),
                "noise": float(np.median([estimate_noise(w) for w in wins])),
            }
            print(json.dumps(row), flush=True)


def summary(folder: str) -> None:
    from scipy.stats import spearmanr

    def load(which, s):
        return [json.loads(line) for line in open(Path(folder) / f"{which}{s}.jsonl")]

    print("real gain over bicubic of auto (default model) against ground-truth-free figures;")
    print("fits on the training-split crops, errors on the validation crops (dB)")
    print(
        "| scale | rows (val / train) | real gain, val mean | internal check, val mean | rank correlation, val / train "
        "| error of the internal check | error of the training mean | error of a + b log10(bicubic error) "
        "| ... + c log10(noise) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in (2, 3, 4):
        tr, va = load("train", s), load("val", s)
        gt, gv = np.array([r["real"] for r in tr]), np.array([r["real"] for r in va])
        it, iv = np.array([r["internal"] for r in tr]), np.array([r["internal"] for r in va])

        def fit(cols, tr=tr, va=va, gt=gt, gv=gv):
            x = np.array([[1.0] + [f(r) for f in cols] for r in tr])
            c, *_ = np.linalg.lstsq(x, gt, rcond=None)
            return np.mean(np.abs(np.array([[1.0] + [f(r) for f in cols] for r in va]) @ c - gv))

        def lmse(r):
            return np.log10(r["bicubic_mse"])

        def lnoise(r):
            return np.log10(r["noise"] + 1e-5)

        print(
            f"| x{s} | {len(va)} / {len(tr)} | {gv.mean():+.2f} | {iv.mean():+.2f} "
            f"| {spearmanr(iv, gv)[0]:+.2f} / {spearmanr(it, gt)[0]:+.2f} | {np.mean(np.abs(iv - gv)):.2f} "
            f"| {np.mean(np.abs(gt.mean() - gv)):.2f} | {fit([lmse]):.2f} | {fit([lmse, lnoise]):.2f} |"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    if sys.argv[1] == "summary":
        summary(sys.argv[2])
    else:
        measure(sys.argv[1], int(sys.argv[2]))
