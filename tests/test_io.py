"""Lazy readers: TIFF (tiled, multi-page, pyramidal), zarr v2 and v3, PNG; the pipeline sees the same pixels."""

import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

import napari_superres as nsr
from napari_superres.errors import SuperResError
from napari_superres.io import open_input


def test_tiled_tiff_through_the_pipeline_equals_the_array(tmp_path, textured):
    stack = np.stack([textured, textured[::-1], textured[:, ::-1]])
    path = tmp_path / "stack.tif"
    tifffile.imwrite(
        path, stack, tile=(32, 32), bigtiff=True, metadata={"axes": "ZYX"}, photometric="minisblack"
    )
    src = open_input(path)
    assert src.axes == "ZYX" and src.shape == stack.shape and not isinstance(src.data, np.ndarray)
    from_file = nsr.upscale(path, "espcn", 2, tile=40).compute()
    from_array = nsr.upscale(stack, "espcn", 2, tile=40).compute()
    assert np.array_equal(from_file, from_array)


def test_pyramidal_tiff_reads_level_0(tmp_path, textured):
    path = tmp_path / "pyr.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(textured, tile=(32, 32), subifds=1, metadata={"axes": "YX"})
        tw.write(textured[::2, ::2], tile=(32, 32), subfiletype=1)
    src = open_input(path)
    assert src.shape == textured.shape
    assert np.array_equal(np.asarray(src.data[:]), textured)


@pytest.mark.parametrize("fmt", [2, 3])
def test_zarr_arrays_v2_and_v3(tmp_path, textured, fmt):
    path = tmp_path / f"a{fmt}.zarr"
    z = zarr.create_array(
        str(path), shape=textured.shape, chunks=(30, 50), dtype=textured.dtype, zarr_format=fmt
    )
    z[:] = textured
    out = nsr.upscale(path, "bicubic", 2).compute()
    assert np.array_equal(out, nsr.upscale(textured, "bicubic", 2).compute())


def test_png_rgb_and_unknown_formats(tmp_path, rng):
    rgb = (rng.random((20, 30, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.png")
    src = open_input(tmp_path / "x.png")
    assert src.axes == "YXC" and src.shape == (20, 30, 3)
    (tmp_path / "x.xyz").write_text("?")
    with pytest.raises(SuperResError, match="unknown input format"):
        open_input(tmp_path / "x.xyz")
    (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(SuperResError, match="cannot read"):
        open_input(tmp_path / "bad.tif")
    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    g.create_array("raw", shape=(4, 4), dtype="u1")
    with pytest.raises(SuperResError, match="raw"):
        open_input(tmp_path / "g.zarr")


class CountingArray:
    """A chunked array that counts how many chunk-sized reads it serves."""

    def __init__(self, data, chunks):
        self.data, self.chunks, self.reads = data, chunks, 0
        self.shape, self.dtype = data.shape, data.dtype

    def __getitem__(self, sl):
        self.reads += 1
        return self.data[sl]


def test_chunk_cache_reads_windows_exactly_and_decodes_each_chunk_once(rng):
    from napari_superres.io import ChunkCache

    data = rng.integers(0, 60000, (300, 500), dtype=np.uint16)
    strips = CountingArray(data, (8, 500))  # a strip TIFF: every chunk spans the full width
    cache = ChunkCache(strips)
    for _ in range(50):
        y0, x0 = rng.integers(0, 290), rng.integers(0, 490)
        y1, x1 = y0 + rng.integers(1, 10), x0 + rng.integers(1, 10)
        assert np.array_equal(cache[(slice(y0, y1), slice(x0, x1))], data[y0:y1, x0:x1])
    strips.reads = 0
    out = nsr.upscale(strips, "bicubic", 2, tile=64)  # the pipeline wraps chunked sources itself
    assert np.array_equal(out.compute(scheduler="sync"), nsr.upscale(data, "bicubic", 2).compute())
    assert strips.reads <= 2 * (300 // 8 + 1)  # about once per strip, not once per tile touching it


class LiveChunkArray(CountingArray):
    """Counts reads and tracks how many bytes of the chunks it handed out are still held somewhere."""

    def __init__(self, data, chunks):
        super().__init__(data, chunks)
        self.live = self.peak = 0

    def __getitem__(self, sl):
        import weakref

        block = np.array(super().__getitem__(sl))  # a copy, like a decoded chunk
        self.live += block.nbytes
        self.peak = max(self.peak, self.live)
        weakref.finalize(block, self._freed, block.nbytes)
        return block

    def _freed(self, n):
        self.live -= n


@pytest.mark.slow
def test_decoded_chunks_held_stay_bounded_however_wide_the_image(rng, tmp_path):
    """A wide chunked input decodes each chunk about once, and the chunks held at any time are a band
    of a strip of tiles, the same for a 4 times wider image (a gigapixel run's memory stays flat)."""
    from napari_superres.engine import STRIP_TILES, band_bytes
    from napari_superres.writer import write

    peaks = {}
    halo = nsr.load_model("bicubic", 2).halo
    for width in (512, 2048):
        data = rng.integers(0, 60000, (512, width), dtype=np.uint16)
        src = LiveChunkArray(data, (32, 32))
        out = write(
            src,
            tmp_path / f"w{width}.ome.zarr",
            model="bicubic",
            scale=2,
            tile=32,
            workers=1,
            normalize=(0, 65535),
        )
        assert np.array_equal(out[...], nsr.upscale(data, "bicubic", 2, normalize=(0, 65535)).compute())
        n_chunks = (512 // 32) * (width // 32)
        assert src.reads <= 1.3 * n_chunks  # each chunk decoded about once (strip edges twice)
        band = band_bytes(data.shape, (32, 32), 2, "YX", 32 + 2 * halo, STRIP_TILES * 32)
        assert src.peak <= band + 32 * 32 * 2  # the band the tiles need, and the chunk being decoded
        peaks[width] = src.peak
    assert peaks[2048] <= 1.1 * peaks[512]  # not growing with the width
    assert peaks[2048] < 0.1 * data.nbytes
