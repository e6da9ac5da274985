"""Cloud-Optimized GeoTIFF and OME-TIFF pyramids out; xarray / rioxarray in and out."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import napari_superres as nsr

UTM_TAGS = [
    (33550, "d", 3, (10.0, 10.0, 0.0)),
    (33922, "d", 6, (0, 0, 0, 500000.0, 4100000.0, 0)),
    (34735, "H", 16, (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633)),
    (42113, "s", 0, "0"),
]


@pytest.fixture
def big_scene(tmp_path, rng):
    """A 330 x 400 GeoTIFF (UTM 33N, 10 m) with a nodata (0) corner: x2 gives an image with overviews."""
    yy, xx = np.mgrid[0:330, 0:400]
    img = (3000 + 1000 * np.sin(yy / 9) * np.cos(xx / 11) + rng.normal(0, 40, yy.shape)).astype(np.uint16)
    img[:64, :64] = 0
    path = tmp_path / "scene.tif"
    tifffile.imwrite(path, img, extratags=UTM_TAGS)
    return path, img


def test_georeferenced_tif_output_is_a_valid_cog_with_overviews(big_scene, tmp_path):
    rasterio = pytest.importorskip("rasterio")
    cogeo = pytest.importorskip("rio_cogeo.cogeo")
    path, img = big_scene
    out = tmp_path / "scene_x2.tif"
    nsr.upscale(path, "bicubic", 2, out=out)
    ok, errors, warnings = cogeo.cog_validate(str(out), quiet=True)
    assert ok and not errors and not warnings, (errors, warnings)
    with rasterio.open(out) as ds:
        assert ds.shape == (660, 800) and ds.block_shapes[0] == (512, 512)
        assert ds.overviews(1) == [2] and ds.compression.name.lower() == "deflate"
        assert ds.crs.to_epsg() == 32633 and ds.nodata == 0
        assert tuple(ds.transform)[:6] == pytest.approx((5, 0, 500000, 0, -5, 4100000))
        full = ds.read(1)
        ov = ds.read(
            1, out_shape=(330, 400)
        )  # the overview: the 2x2 means of the full image, nodata left out
    np.testing.assert_array_equal(full == 0, np.repeat(np.repeat(img == 0, 2, 0), 2, 1))
    valid = full.astype(float).reshape(330, 2, 400, 2)
    counts = (valid > 0).sum((1, 3))
    mean = np.where(counts > 0, valid.sum((1, 3)) / np.maximum(counts, 1), 0)
    inside = counts == 4
    assert np.abs(ov[inside] - mean[inside]).max() <= 1
    assert (ov[:31, :31] == 0).all()  # an all-nodata corner stays nodata in the overview


def test_cog_refused_in_one_line_without_rasterio(big_scene, tmp_path, monkeypatch):
    import napari_superres.writer.tiff as wt
    from napari_superres.engine import UpscaleOptions
    from napari_superres.writer import write

    monkeypatch.setattr(wt, "cog_available", lambda: False)
    path, _ = big_scene
    out = tmp_path / "x.tif"
    with pytest.raises(nsr.SuperResError, match="needs rasterio"):
        write(path, out, UpscaleOptions(model="bicubic"), cog=True)
    assert not out.exists()
    monkeypatch.undo()
    stack = np.zeros((3, 40, 40), np.uint16)
    with pytest.raises(nsr.SuperResError, match="holds YX or CYX images, not ZYX"):
        write(stack, out, UpscaleOptions(model="bicubic", axes="ZYX"), cog=True)
    assert not out.exists() and not (tmp_path / "x.tif.partial.zarr").exists()


def test_ome_tiff_output_has_sub_ifd_pyramid(tmp_path, rng):
    img = rng.integers(0, 4000, (2, 300, 280)).astype(np.uint16)
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(path, img, metadata={"axes": "ZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2})
    out = tmp_path / "stack_x2.ome.tif"
    nsr.upscale(path, "bicubic", 2, out=out)
    with tifffile.TiffFile(out) as tf:
        series = tf.series[0]
        assert [lev.shape for lev in series.levels] == [(2, 600, 560), (2, 300, 280)]
        full, half = series.levels[0].asarray(), series.levels[1].asarray()
        assert tf.is_ome and len(tf.pages) == 2  # the pyramid lives in sub-IFDs, not extra pages
    np.testing.assert_allclose(half, full.reshape(2, 300, 2, 280, 2).mean((2, 4)), atol=1)


def test_data_array_round_trip_keeps_dims_coords_attrs():
    xr = pytest.importorskip("xarray")
    da = xr.DataArray(
        np.random.default_rng(0).random((2, 30, 40)).astype(np.float32),
        dims=("band", "y", "x"),
        coords={"band": ["red", "nir"], "y": 100.0 - 10 * np.arange(30) - 5, "x": 10 * np.arange(40) + 5.0},
        attrs={"long_name": "reflectance"},
        name="refl",
    )
    out = nsr.upscale(da, "bicubic", 2, normalize=None)
    assert isinstance(out, xr.DataArray) and out.dims == da.dims and out.name == "refl"
    assert out.shape == (2, 60, 80) and type(out.data).__module__.startswith("dask")  # lazy
    assert list(out.band.values) == ["red", "nir"] and out.attrs["long_name"] == "reflectance"
    np.testing.assert_allclose(out.x.values[:3], [2.5, 7.5, 12.5])  # edges kept, 5 m centres
    np.testing.assert_allclose(out.y.values[:2], [97.5, 92.5])
    np.testing.assert_allclose(
        out.values, nsr.upscale(da.values, "bicubic", 2, axes="CYX", normalize=None).compute()
    )


def test_rioxarray_geotiff_in_to_raster_out_georeference_exact(tmp_path, rng):
    rioxarray = pytest.importorskip("rioxarray")
    rasterio = pytest.importorskip("rasterio")
    img = (1000 + rng.random((60, 70)) * 3000).astype(np.uint16)
    img[:10, :10] = 0
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, img, extratags=UTM_TAGS)
    da = rioxarray.open_rasterio(path)  # dims band, y, x; CRS, transform and nodata from the file
    out = nsr.upscale(da, "bicubic", 3)
    assert out.rio.crs.to_epsg() == 32633 and out.rio.nodata == 0
    assert tuple(out.rio.transform())[:6] == pytest.approx((10 / 3, 0, 500000, 0, -10 / 3, 4100000))
    np.testing.assert_allclose(out.x.values[0], 500000 + 10 / 6)
    dst = tmp_path / "out.tif"
    out.rio.to_raster(dst)
    with rasterio.open(dst) as ds:
        assert tuple(ds.transform)[:6] == pytest.approx((10 / 3, 0, 500000, 0, -10 / 3, 4100000))
        assert ds.crs.to_epsg() == 32633 and ds.nodata == 0 and ds.shape == (180, 210)
        assert (ds.read(1)[:30, :30] == 0).all()
    with pytest.raises(nsr.SuperResError, match="rio.to_raster"):
        nsr.upscale(da, "bicubic", 2, out=tmp_path / "o.ome.zarr")
