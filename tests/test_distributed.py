"""The same pipeline on a dask.distributed cluster: identical output, one model per worker, a killed worker."""

import os
import signal
import time

import numpy as np
import pytest
import tifffile
import zarr

import napari_superres as nsr
from napari_superres.writer import iter_write

pytestmark = pytest.mark.slow  # a local cluster per test: seconds each
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


@pytest.fixture
def stack_tif(tmp_path, textured):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.stack([textured, textured[::-1], textured[:, ::-1]]), tile=(32, 32))
    return path


def _level0(path):
    return zarr.open_group(str(path), mode="r")["0"][:]


def test_cluster_gives_the_local_result_with_one_model_per_worker(client, stack_tif, tmp_path):
    local = tmp_path / "local.ome.zarr"
    dist = tmp_path / "dist.ome.zarr"
    nsr.upscale(stack_tif, "espcn", 2, tile=32, out=local, scheduler="threads")
    nsr.upscale(stack_tif, "espcn", 2, tile=32, out=dist, scheduler=client)
    np.testing.assert_array_equal(_level0(dist), _level0(local))

    def loaded():
        from napari_superres import engine

        return sorted(k[0] for k in engine.run.PROCESS_CACHE)

    per_worker = client.run(loaded)
    assert len(per_worker) == 2
    for kinds in per_worker.values():  # each worker opened the TIFF and loaded the model once, itself
        assert kinds.count("model") <= 1 and kinds.count("source") <= 1
    assert sum(kinds.count("model") for kinds in per_worker.values()) >= 1


def test_a_killed_worker_does_not_lose_the_run(client, stack_tif, tmp_path):
    ref = nsr.upscale(stack_tif, "espcn", 2, tile=16).compute()
    out = tmp_path / "killed.ome.zarr"
    killed = False
    for msg in iter_write(stack_tif, out, model="espcn", scale=2, tile=16, scheduler=client):
        if not killed and msg.get("stage") == "level0" and msg["done"] > 3:
            pid = next(iter(client.run(os.getpid).values()))
            os.kill(pid, signal.SIGKILL)  # a worker dies mid-run; its nanny starts a new one
            killed = True
    assert killed
    np.testing.assert_array_equal(np.moveaxis(_level0(out), 0, 0), ref)


def test_stopping_cancels_the_futures_and_a_rerun_resumes(client, stack_tif, tmp_path):
    out = tmp_path / "stopped.ome.zarr"
    gen = iter_write(stack_tif, out, model="espcn", scale=2, tile=16, scheduler=client)
    for msg in gen:
        if msg.get("stage") == "level0" and msg["done"] > 2:
            break
    gen.close()
    deadline = time.time() + 30
    while any(client.processing().values()) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(client.processing().values())  # nothing left running on the cluster
    kept = len(list((out / ".superres-done").iterdir()))
    msgs = list(iter_write(stack_tif, out, model="espcn", scale=2, tile=16, scheduler=client))
    said = next(m["message"] for m in msgs if "resuming: " in (m.get("message") or ""))
    resumed = int(said.split("resuming: ")[1].split(" of")[0])
    assert 0 < kept <= resumed < msgs[-1]["total"]  # (a task already running when cancelled may still finish)
    np.testing.assert_array_equal(_level0(out), nsr.upscale(stack_tif, "espcn", 2, tile=16).compute())
