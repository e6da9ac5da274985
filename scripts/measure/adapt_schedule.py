"""How long and how hard ``adapt`` should train: the change in PSNR gain over bicubic (dB, against the
HR, which adapting never sees) of the default network adapted to each LR image, for a learning rate,
a step cap and how far the kept weights move from the start toward the trained ones (``MIX``), with
the default 120 s budget.

``val``: the eight held-out validation crops (napari_superres.realdata); ``train``: centre crops of
planes of the real *training* split (a second sample, to check a choice made on the first).

    python scripts/measure/adapt_schedule.py val bicubic 2e-4 1000 0.5 > val_bicubic_2e-4_1000_0.5.jsonl  # MIX 0.5
    python scripts/measure/adapt_schedule.py summary *.jsonl
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def images(which: str, root: str = "../shared/data/real", count: int = 12):
    from napari_superres.realdata import training_crops, validation_images

    if which == "val":
        return [(item.name, hr) for item, hr in validation_images(root)]
    return [(f"train plane {i}", crop) for i, crop in enumerate(training_crops(root, count)[:count])]


def adapted_vs_start(hr, degradation: str, scale: int = 2, **adapt_kwargs):
    """``hr`` cropped to a multiple of ``scale``, and the LR ``degradation`` makes of it enlarged by
    bicubic, by the default network told the degradation (the start) and by that network adapted to
    the LR (``adapt_kwargs`` to :func:`napari_superres.adapt.adapt`), as float64; adapt's result and
    the seconds it took."""
    import torch

    import napari_superres.adapt as adapt_mod
    from napari_superres.api import upscale
    from napari_superres.degradation import parse_degradation

    hr = np.asarray(hr, np.float64)[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
    lr = parse_degradation(degradation).downsample(torch.from_numpy(hr)[None], scale)[0].numpy()
    lr = lr.astype(np.float32)

    def enlarge(model, degradation=degradation):
        return np.asarray(upscale(lr, model, scale, degradation=degradation).compute(), np.float64)

    t0 = time.time()
    res = adapt_mod.adapt(lr, "default", scale, degradation=degradation, **adapt_kwargs)
    seconds = time.time() - t0
    return hr, enlarge("bicubic", None), enlarge("default"), enlarge(res.model), res, seconds


def change_record(hr, bic, start, sr, res, seconds) -> dict:
    """What every adapt measurement records of one :func:`adapted_vs_start` run: the start's gain over
    bicubic, the change adapting made (dB, both against the HR), the held-back check's gain, what was
    kept, the steps and the seconds."""
    from napari_superres.bench import real_score

    g0, g1 = real_score(start, hr, bic)[1], real_score(sr, hr, bic)[1]
    return {
        "start": round(g0, 3), "change": round(g1 - g0, 3), "held_back": round(res.adapted_gain_db, 3),
        "kept": res.kept, "steps": res.steps, "seconds": round(seconds, 1),
    }  # fmt: skip


def measure(
    which: str, degradation: str, lr: float, cap: int, mix: float | None = None, scale: int = 2
) -> None:
    import napari_superres.adapt as adapt_mod

    adapt_mod.MAX_STEPS = cap
    if mix is not None:  # else adapt's own
        adapt_mod.MIX = mix
    for name, hr in images(which):
        run = adapted_vs_start(hr, degradation, scale, seconds=120, lr=lr)
        rec = {
            "sample": which, "degradation": degradation, "lr": lr, "cap": cap, "mix": adapt_mod.MIX, "image": name,
            **change_record(*run),
        }  # fmt: skip
        print(json.dumps(rec), flush=True)


def summary(files: list[str]) -> None:
    print(
        "| sample | degradation | lr | step cap | mix | images | mean change (dB) | worst change | seconds each |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for f in files:
        rows = [json.loads(line) for line in open(f) if line.startswith("{")]
        # a crop whose HR is flat (no data) has no PSNR to gain: left out, and counted
        scored = [r for r in rows if np.isfinite(r["change"])]
        if not scored:
            continue
        r0, ch = scored[0], [r["change"] for r in scored]
        left = f" ({len(rows) - len(scored)} flat left out)" if len(scored) < len(rows) else ""
        print(
            f"| {r0['sample']} | {r0['degradation']} | {r0['lr']:g} | {r0['cap']} | {r0.get('mix', 1.0):g} | "
            f"{len(scored)}{left} | "
            f"{np.mean(ch):+.3f} | {min(ch):+.3f} | {np.mean([r['seconds'] for r in rows]):.0f} |"
        )


if __name__ == "__main__":
    if sys.argv[1] == "summary":
        summary(sys.argv[2:])
    else:
        measure(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), *map(float, sys.argv[5:6]))
