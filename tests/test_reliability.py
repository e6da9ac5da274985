"""Nothing stale, mixed or half-said: a changed input is noticed, one writer per output, corrupt inputs and
OS errors end in one line, the lazy graph stays small. docs/reliability.md lists each case and its test."""

import numpy as np
import pytest
import tifffile
import zarr

import napari_superres as nsr
from napari_superres.errors import SuperResError
from napari_superres.writer import iter_write


def _zarr(path, data, chunks=(32, 32)):
    z = zarr.open_array(str(path), mode="w", shape=data.shape, dtype=data.dtype, chunks=chunks)
    z[:] = data
    return str(path)


@pytest.fixture
def pair(rng):
    a = (rng.random((64, 64)) * 255).astype(np.uint8)
    return a, 255 - a


@pytest.mark.parametrize("kind", ["zarr", "tiff"])
def test_a_rewritten_input_is_read_again_in_the_same_process(tmp_path, pair, kind):
    a, b = pair
    path = tmp_path / ("s.zarr" if kind == "zarr" else "s.tif")
    write = (lambda d: _zarr(path, d)) if kind == "zarr" else (lambda d: tifffile.imwrite(path, d))
    write(a)
    first = nsr.upscale(str(path), "bicubic", 2).compute()
    write(b)  # same shape and dtype, other pixels
    second = nsr.upscale(str(path), "bicubic", 2).compute()
    assert np.array_equal(second, nsr.upscale(b, "bicubic", 2).compute())
    assert not np.array_equal(first, second)


def test_a_zarr_array_changed_in_place_is_read_again(tmp_path, pair):
    a, b = pair
    z = zarr.open_array(_zarr(tmp_path / "s.zarr", a), mode="r+")
    nsr.upscale(z, "bicubic", 2).compute()
    z[:] = b
    assert np.array_equal(nsr.upscale(z, "bicubic", 2).compute(), nsr.upscale(b, "bicubic", 2).compute())


def test_resuming_against_a_changed_input_refuses_and_overwrite_recomputes(tmp_path, pair):
    a, b = pair
    src = _zarr(tmp_path / "s.zarr", a)
    out = tmp_path / "o.ome.zarr"
    gen = iter_write(src, out, model="bicubic", tile=16, workers=1)
    for event in gen:
        if event.done >= 5:
            break
    gen.close()  # a run stopped part way: 5+ chunks of the old input are on disk
    _zarr(tmp_path / "s.zarr", b)
    with pytest.raises(SuperResError, match=r"input .*s\.zarr has changed since .* was started") as err:
        nsr.upscale(src, "bicubic", 2, tile=16, out=out)
    assert "--overwrite" in err.value.render("cli") and "\n" not in str(err.value)
    fresh = nsr.upscale(src, "bicubic", 2, tile=16, out=out, overwrite=True)[:]
    assert np.array_equal(fresh, nsr.upscale(b, "bicubic", 2).compute())


def test_a_finished_output_whose_input_changed_is_not_called_complete(tmp_path, pair):
    a, b = pair
    src = str(tmp_path / "s.tif")
    tifffile.imwrite(src, a)
    out = tmp_path / "o.ome.zarr"
    nsr.upscale(src, "bicubic", 2, out=out)
    again = list(iter_write(src, out, model="bicubic"))
    assert again[-1].already_complete  # unchanged input: nothing to compute
    tifffile.imwrite(src, b)
    with pytest.raises(SuperResError, match="has changed since .* was finished"):
        list(iter_write(src, out, model="bicubic"))


def test_another_input_into_the_same_output_is_named(tmp_path, pair):
    a, b = pair
    out = tmp_path / "o.ome.zarr"
    nsr.upscale(_zarr(tmp_path / "a.zarr", a), "bicubic", 2, out=out)
    with pytest.raises(SuperResError, match=r"was finished from another input \(.*a\.zarr\)"):
        nsr.upscale(_zarr(tmp_path / "b.zarr", b), "bicubic", 2, out=out)
