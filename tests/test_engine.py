import dask.array as da
import numpy as np
import pytest

import napari_superres as nsr
from napari_superres.errors import SuperResError


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_dtype_round_trip_keeps_type_and_intensity_scale(dtype, textured):
    img = textured.astype(np.float64)
    if dtype == np.uint8:
        img = img / 20
    elif dtype == np.int16:
        img = img - 3000
    img = img.astype(dtype)
    out = nsr.upscale(img, "bicubic", 2, tile=32).compute()
    assert out.dtype == img.dtype
    assert out.shape == (194, 262)
    # the enlarged image shrunk back matches the input: intensities keep their meaning
    small = out.astype(np.float64).reshape(97, 2, 131, 2).mean(axis=(1, 3))
    rel = np.abs(small - img.astype(np.float64)).mean() / np.abs(img.astype(np.float64)).mean()
    assert rel < 0.03


def test_integer_output_is_rounded_and_clipped_not_wrapped():
    img = np.zeros((40, 40), np.uint8)
    img[:, 20:] = 255  # a hard edge: bicubic overshoots above 255 and below 0
    out = nsr.upscale(img, "bicubic", 2).compute()
    assert out.dtype == np.uint8
    assert out[:, :36].max() == 0 and out[:, 44:].min() == 255  # no wrap-around at the overshoot


@pytest.mark.parametrize("dtype", [np.uint32, np.int32, np.uint64, np.int64])
def test_wide_integers_keep_their_extremes_instead_of_wrapping(dtype):
    # float32 cannot hold 2**32 - 1: a float32 round trip turned the brightest pixels into 0 (or the
    # most negative value) with exit status 0
    info = np.iinfo(dtype)
    img = np.full((16, 16), info.min, dtype)
    img[:, 8:] = info.max
    out = nsr.upscale(img, "default", 2).compute()
    assert out.dtype == dtype
    assert out[:, 24:].min() > info.max // 2 and out[:, 24:].max() == info.max
    assert out[:, :8].max() < info.max // 2 and out[:, :8].min() == info.min


def test_wide_integers_keep_small_steps_at_a_large_offset():
    # 32-bit data with a large offset: a step of 7 counts survives (float32 has only 24 bits)
    img = np.full((24, 24), 3_000_000_000, np.uint32)
    img[:, 12:] += 7
    out = nsr.upscale(img, "bicubic", 2, normalize=(3_000_000_000, 3_000_000_007)).compute()
    assert out[:, :20].max() == 3_000_000_000 and out[:, 28:].min() == 3_000_000_007


def test_normalize_none_passes_float_values_and_rejects_integers():
    img = np.full((30, 30), 1234.5, np.float32)
    out = nsr.upscale(img, "bicubic", 2, normalize=None).compute()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 1234.5, rtol=1e-6)
    with pytest.raises(SuperResError, match="float"):
        nsr.upscale(img.astype(np.uint16), "bicubic", 2, normalize=None)


def test_normalisation_is_global_so_tiles_have_no_seams(textured):
    """A bright region in one tile must not change the brightness of another tile."""
    img = textured.copy()
    img[:10, :10] = 60000  # outliers in one corner tile
    out = nsr.upscale(img, "espcn", 2, tile=24).compute().astype(np.float64)
    whole = nsr.upscale(img, "espcn", 2, tile=1000).compute().astype(np.float64)
    assert np.abs(out - whole).max() <= 1  # rounding only


def test_channels_get_their_own_range_and_pass_through(textured):
    img = np.stack([textured, (textured // 16)], axis=0)  # CYX with very different ranges
    # one degradation for both (auto estimates from the first channel, once per image)
    out = nsr.upscale(img, "espcn", 2, axes="CYX", degradation="bicubic").compute()
    assert out.shape == (2, 194, 262)
    for c in range(2):
        single = nsr.upscale(img[c], "espcn", 2, degradation="bicubic").compute()
        assert np.abs(out[c].astype(int) - single.astype(int)).max() <= 1


def test_rgb_and_stacks_upscale_only_y_and_x(rng):
    rgb = (rng.random((31, 45, 3)) * 255).astype(np.uint8)
    assert nsr.upscale(rgb, "bicubic", 2).shape == (62, 90, 3)
    tzyx = rng.random((2, 3, 20, 22)).astype(np.float32)
    out = nsr.upscale(tzyx, "bicubic", 3, normalize=None)
    assert out.shape == (2, 3, 60, 66)
    np.testing.assert_allclose(
        out[1, 2].compute(), nsr.upscale(tzyx[1, 2], "bicubic", 3, normalize=None).compute(), atol=1e-6
    )


def test_nan_pixels_stay_nan_and_do_not_spread():
    img = np.linspace(0, 1, 40 * 40, dtype=np.float32).reshape(40, 40)
    img[20, 20] = np.nan
    out = nsr.upscale(img, "espcn", 2, normalize=None).compute()
    assert np.isnan(out[40:42, 40:42]).all()
    assert np.isnan(out).sum() == 4
    assert np.isfinite(out[:30]).all()


def test_building_the_graph_never_runs_the_network(monkeypatch, textured):
    from napari_superres.models import SRModel

    calls = []
    real = SRModel.__call__

    def counting(self, x):
        calls.append(tuple(x.shape))
        return real(self, x)

    monkeypatch.setattr(SRModel, "__call__", counting)
    lazy = nsr.upscale(np.stack([textured] * 4), "espcn", 2, axes="ZYX", tile=32, degradation="binning")
    assert isinstance(lazy, da.Array)
    assert calls == []
    # degradation="auto" (the default) runs the network on its sample windows only: a few, small
    nsr.upscale(np.stack([textured] * 4), "espcn", 2, axes="ZYX", tile=32)
    assert 0 < len(calls) <= 8 * 2 and all(h * w <= 64 * 64 for *_, h, w in calls)
    calls.clear()
    lazy[2, :10, :10].compute()  # one plane, one tile
    assert len(calls) == 1


def test_input_is_never_modified(textured):
    img = textured.copy()
    before = img.copy()
    nsr.upscale(img, "espcn", 2, tile=20).compute()
    img_f = np.where(textured > 2000, np.nan, textured).astype(np.float32)
    before_f = img_f.copy()
    nsr.upscale(img_f, "espcn", 2).compute()
    assert np.array_equal(img, before)
    np.testing.assert_array_equal(img_f, before_f)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scale": 1}, "above 1"),
        ({"scale": 9}, "at most 8"),
        ({"axes": "ZZ"}, "axes"),
        ({"axes": "ZYX"}, "axes"),
        ({"model": "espcm"}, "Did you mean espcn"),
        ({"model": "espcn", "scale": 5}, "x2, x3, x4"),
        ({"normalize": "weird"}, "normalize"),
        ({"tile": 0}, "tile"),
        ({"batch": 0}, "batch"),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs, match, textured):
    args = {"model": "bicubic", "scale": 2, **kwargs}
    with pytest.raises(SuperResError, match=match):
        nsr.upscale(textured, **args)


def test_too_small_image_is_refused():
    with pytest.raises(SuperResError, match="needs at least"):
        nsr.upscale(np.zeros((1, 50), np.uint16), "espcn", 2)


def test_empty_and_unsupported_inputs_are_refused():
    with pytest.raises(SuperResError, match="empty"):
        nsr.upscale(np.zeros((0, 50), np.uint16), "bicubic", 2)
    with pytest.raises(SuperResError, match="complex"):
        nsr.upscale(np.zeros((20, 20), np.complex64), "bicubic", 2)
    with pytest.raises(SuperResError, match="cannot use a"):
        nsr.upscale({"not": "an image"}, "bicubic", 2)
    with pytest.raises(SuperResError, match="tile"):
        nsr.upscale(np.zeros((20, 20), np.uint16), "bicubic", 2, tile=2.5)


def test_out_of_memory_splits_the_batch_then_the_tile(rng, monkeypatch):
    import torch

    from napari_superres.models import SRModel

    img = rng.random((3, 70, 90)).astype(np.float32)
    ref = nsr.upscale(img, "espcn", 2, axes="ZYX", normalize=None, tile=64).compute()
    real = SRModel.__call__
    sizes = []

    def small_device(self, x):  # a device that holds at most one plane of 40 x 40 input pixels
        if x.shape[0] > 1 or x.shape[-1] * x.shape[-2] > 1600:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        sizes.append(tuple(x.shape[-2:]))
        return real(self, x)

    monkeypatch.setattr(SRModel, "__call__", small_device)
    out = nsr.upscale(img, "espcn", 2, axes="ZYX", normalize=None, tile=64).compute()
    np.testing.assert_allclose(out, ref, atol=1e-5)  # the same result, in smaller pieces
    assert max(h * w for h, w in sizes) <= 1600


def test_reduced_precision_is_close_and_recorded(rng, tmp_path):
    img = (rng.random((40, 50)) * 1000).astype(np.uint16)
    fp32 = nsr.upscale(img, "espcn", 2, degradation="bicubic").compute().astype(int)
    bf16 = nsr.upscale(img, "espcn", 2, precision="bf16", degradation="bicubic").compute().astype(int)
    assert 0 < np.abs(bf16 - fp32).max() < 30  # a 16-bit network: close, not identical
    nsr.upscale(img, "espcn", 2, precision="bf16", out=tmp_path / "a.ome.zarr")
    import json

    fp = json.loads((tmp_path / "a.ome.zarr" / "zarr.json").read_text())["attributes"]["napari_superres"]
    assert fp["fingerprint"]["precision"] == "bf16"
    with pytest.raises(nsr.SuperResError, match="fp16 runs on GPUs"):
        nsr.upscale(img, "espcn", 2, precision="fp16", device="cpu")


def test_process_cache_keeps_only_recent_sources_and_models(tmp_path, textured):
    import tifffile

    from napari_superres import engine

    for i in range(4):  # four files, each opened by reference
        path = tmp_path / f"in{i}.tif"
        tifffile.imwrite(path, textured)
        nsr.upscale(path, "bicubic", 2).compute()
    kinds = [k[0] for k in engine.run.PROCESS_CACHE]
    assert kinds.count("source") <= engine.run.CACHE_LIMITS["source"]
    assert kinds.count("model") <= engine.run.CACHE_LIMITS["model"]


def test_batching_gathers_concurrent_tiles_into_one_pass_with_the_same_result(rng, monkeypatch):
    """batch=N (the GPU default) stacks the tiles of concurrent tasks into one forward pass; the
    result is the unbatched one, and a failing pass reaches every task waiting on it."""
    from napari_superres.models import SRModel

    img = rng.random((150, 190)).astype(np.float32)
    ref = nsr.upscale(img, "espcn", 2, normalize=None, tile=32).compute(scheduler="threads", num_workers=4)
    real = SRModel.__call__
    batches = []

    def counting(self, x):
        batches.append(x.shape[0])
        return real(self, x)

    monkeypatch.setattr(SRModel, "__call__", counting)
    out = nsr.upscale(img, "espcn", 2, normalize=None, tile=32, batch=4)
    out = out.compute(scheduler="threads", num_workers=4)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert max(batches) > 1 and max(batches) <= 4  # tiles went through together, never more than 4
    assert sum(batches) == 5 * 6  # every tile exactly once
    assert len(batches) < 5 * 6

    def broken(self, x):
        raise RuntimeError("device lost")

    monkeypatch.setattr(SRModel, "__call__", broken)
    with pytest.raises(RuntimeError, match="device lost"):
        nsr.upscale(img, "espcn", 2, normalize=None, tile=32, batch=4).compute(
            scheduler="threads", num_workers=4
        )
