"""Print docs/models.md's table of shipped weights from the figures `bench --record` wrote into them.

python scripts/figures/models_table.py             # markdown: parameters, Set5 / Set14 / B100 at x2, x3, x4, steps and time
python scripts/figures/models_table.py --commands  # the training command, schedule and start of every weights file

The figures are read, not recomputed: run `napari-superres bench ... --record` after training first.
"""

from __future__ import annotations

import json

from napari_superres.models import NAMED, build, read_metadata, shipped_scales, weights_path

SETS = ("set5", "set14", "b100")


def _cell(meta: dict, key: str) -> str:
    p, s = meta.get(f"{key}_psnr"), meta.get(f"{key}_ssim")
    return f"{p} / {s}" if p else "-"


def _continued(meta: dict) -> bool:
    """Whether the file's steps are its last run only: it started from weights of its own scale
    (``train`` notes "xN weights; new at xM" when the start was another scale)."""
    init = meta.get("init", "")
    return bool(init) and "weights; new at" not in init


def commands() -> None:
    for name, entry in NAMED.items():
        for s in shipped_scales(name) if entry["trained"] else []:
            m = read_metadata(weights_path(name, s))
            print(f"- `{name}` x{s}: `{m.get('command', '?')}`")
            for key in ("init", "schedule"):
                if m.get(key):
                    print(f"  {key}: {m[key]}")


def main() -> None:
    head = ["model", "params"] + [f"{d} x{s}" for d in ("Set5", "Set14", "B100") for s in (2, 3, 4)]
    print("| " + " | ".join(head + ["training"]) + " |")
    print("|" + "---|" * (len(head) + 1))
    for name, entry in NAMED.items():
        scales = shipped_scales(name) if entry["trained"] else []
        if not scales:
            continue
        metas = {s: read_metadata(weights_path(name, s)) for s in scales}
        params = " / ".join(
            f"{build(entry['arch'], s, json.loads(metas[s]['config'])).parameters / 1e3:.0f} K"
            for s in scales
        )
        cells = [_cell(metas[s], d) if s in metas else "-" for d in SETS for s in (2, 3, 4)]
        devices = {m.get("device", "?").split(" (")[0] for m in metas.values()}
        train = "; ".join(
            f"x{s} {metas[s]['steps']} steps, {float(metas[s].get('wall_time_s', 0)) / 60:.0f} min"
            + (f" on {metas[s].get('device', '?').split(' (')[0]}" if len(devices) > 1 else "")
            + (" (continued, see schedule)" if _continued(metas[s]) else "")
            for s in scales
        )
        train += f" on {devices.pop()}" if len(devices) == 1 else ""
        print("| " + " | ".join([f"`{name}`", params, *cells, train]) + " |")


if __name__ == "__main__":
    import sys

    commands() if "--commands" in sys.argv else main()
