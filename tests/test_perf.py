"""The perf command: stages side by side; ours is exact where MONAI's blending is not."""

import pytest

from napari_superres.perf import main


def test_perf_reports_every_stage_and_exactness(capsys):
    pytest.importorskip("monai")
    rows = {r["stage"]: r for r in main("espcn", 2, 192, "cpu", 64, ("raw", "memory", "zarr", "monai"))}
    assert set(rows) == {"raw", "memory", "zarr", "monai"}
    assert all(r["seconds"] > 0 and r["peak_rss_mb"] > 0 for r in rows.values())
    assert rows["memory"]["max_abs_diff_vs_raw"] <= 0.5  # tiled with halos: the raw result, rounded
    assert rows["monai"]["max_abs_diff_vs_raw"] > 10  # blended overlapping tiles differ at the edges
    captured = capsys.readouterr()
    assert "MP/s out" in captured.out and "monai" in captured.out
    assert (
        "stage 1 of 4: raw" in captured.err and "stage 4 of 4: monai" in captured.err
    )  # progress as it runs
