"""Physical metadata from OME-TIFF and ImageJ TIFF, GeoTIFF georeferencing, nodata."""

import json

import numpy as np
import pytest
import tifffile

import napari_superres as nsr
from napari_superres.io import open_input
from napari_superres.io.geo import enlarged_transform


def _attrs(path):
    return json.loads((path / "zarr.json").read_text())["attributes"]


def _level0(path):
    ds = _attrs(path)["ome"]["multiscales"][0]
    return ds, ds["datasets"][0]["coordinateTransformations"]


def test_ome_tiff_sizes_units_channels_reach_the_output(tmp_path, textured):
    stack = np.stack([np.stack([textured, textured // 2])] * 3)  # ZCYX
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(
        path,
        stack,
        metadata={
            "axes": "ZCYX",
            "PhysicalSizeX": 0.2,
            "PhysicalSizeY": 0.25,
            "PhysicalSizeZ": 1.5,
            "Channel": {"Name": ["DAPI", "GFP"]},
        },
    )
    src = open_input(path)
    assert src.axes == "ZCYX" and src.scale == [1.5, 1.0, 0.25, 0.2]
    assert src.units == {"X": "micrometer", "Y": "micrometer", "Z": "micrometer"}
    assert src.channel_names == ["DAPI", "GFP"]
    out = tmp_path / "cells_x2.ome.zarr"
    nsr.upscale(path, "bicubic", 2, out=out)
    ms, (scale, trans) = _level0(out)
    assert [a["name"] for a in ms["axes"]] == ["c", "z", "y", "x"]
    assert scale["scale"] == [1.0, 1.5, 0.125, 0.1]
    assert trans["translation"] == pytest.approx([0, 0, -0.25 / 4, -0.2 / 4])
    assert [a.get("unit") for a in ms["axes"]] == [None, "micrometer", "micrometer", "micrometer"]
    assert [c["label"] for c in _attrs(out)["ome"]["omero"]["channels"]] == ["DAPI", "GFP"]


def test_imagej_hyperstack_resolution_spacing_unit(tmp_path, textured):
    stack = np.stack([textured] * 4).astype(np.uint16)
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        stack,
        imagej=True,
        resolution=(1 / 0.3, 1 / 0.3),
        metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"},
    )
    src = open_input(path)
    assert src.axes == "ZYX" and src.scale == pytest.approx([2.0, 0.3, 0.3])
    assert src.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    out = tmp_path / "ij_x3.ome.zarr"
    nsr.upscale(path, "bicubic", 3, out=out)
    _, (scale, _) = _level0(out)
    assert scale["scale"] == pytest.approx([2.0, 0.1, 0.1])


def test_ome_tiff_disagreeing_with_its_pixels_is_refused(tmp_path, textured):
    path = tmp_path / "bad.ome.tif"
    tifffile.imwrite(path, textured, metadata={"axes": "YX", "PhysicalSizeX": 0.2})
    with tifffile.TiffFile(path) as tf:
        xml = tf.ome_metadata.replace(f'SizeX="{textured.shape[1]}"', 'SizeX="999"')
    tifffile.imwrite(path, textured, description=xml, metadata=None)
    with pytest.raises(nsr.SuperResError, match="SizeX=999 but the pixel data have 131") as err:
        open_input(path)
    assert "\n" not in str(err.value)


@pytest.fixture
def scene(tmp_path, rng):
    """A GeoTIFF (UTM 33N, 10 m pixels) with a nodata (0) border on the left and bottom."""
    yy, xx = np.mgrid[0:90, 0:110]
    img = (3000 + 1000 * np.sin(yy / 5) * np.cos(xx / 7) + rng.normal(0, 50, yy.shape)).astype(np.uint16)
    img[:, :17] = 0
    img[70:, :] = 0
    tags = [
        (33550, "d", 3, (10.0, 10.0, 0.0)),
        (33922, "d", 6, (0, 0, 0, 500000.0, 4100000.0, 0)),
        (34735, "H", 16, (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633)),
        (42113, "s", 0, "0"),
    ]
    path = tmp_path / "scene.tif"
    tifffile.imwrite(path, img, extratags=tags)
    return path, img


def test_geotiff_georeference_and_nodata(scene, tmp_path):
    path, img = scene
    src = open_input(path)
    assert src.geo["transform"] == (10.0, 0.0, 500000.0, 0.0, -10.0, 4100000.0)
    assert src.nodata == 0 and src.scale == [10.0, 10.0]
    whole = nsr.upscale(path, "espcn", 2, tile=512).compute()
    tiled = nsr.upscale(path, "espcn", 2, tile=16).compute()
    np.testing.assert_array_equal(tiled, whole)  # filling stays exact across tiles
    mask = np.repeat(np.repeat(img == 0, 2, 0), 2, 1)
    np.testing.assert_array_equal(whole == 0, mask)  # nodata exactly where the input had it
    out = tmp_path / "scene_x2.ome.zarr"
    nsr.upscale(path, "espcn", 2, out=out)
    prov = _attrs(out)["napari_superres"]["provenance"]
    assert prov["georeference"]["transform"] == [5.0, 0.0, 500000.0, 0.0, -5.0, 4100000.0]
    assert prov["georeference"]["geokey_directory"][-1] == 32633 and prov["nodata"] == 0
    axes = _attrs(out)["ome"]["multiscales"][0]["axes"]  # UTM: the axes are in metres
    assert [(a["name"], a.get("unit")) for a in axes] == [("y", "meter"), ("x", "meter")]


def test_an_uncalibrated_image_stays_uncalibrated(tmp_path, rng):
    """A TIFF without a resolution unit: the outputs carry a pixel scale of the input's pixels, never
    an invented micrometre (OME-XML reads a size without a unit as micrometres)."""
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, rng.integers(0, 60000, (40, 48)).astype(np.uint16))
    assert open_input(path).units == {}
    nsr.upscale(path, "bicubic", 2, out=tmp_path / "o.ome.tif")
    with tifffile.TiffFile(tmp_path / "o.ome.tif") as tf:
        pixels = tf.ome_metadata.split("<Pixels ")[1].split(">")[0]
    assert 'PhysicalSizeX="0.5"' in pixels and 'PhysicalSizeXUnit="pixel"' in pixels
    back = open_input(tmp_path / "o.ome.tif")
    assert back.scale == [0.5, 0.5] and not any(back.units.values())
    nsr.upscale(path, "bicubic", 2, out=tmp_path / "o.ome.zarr")
    axes = _attrs(tmp_path / "o.ome.zarr")["ome"]["multiscales"][0]["axes"]
    assert all("unit" not in a for a in axes)


def test_nodata_fill_keeps_ringing_out(scene):
    path, img = scene
    filled = nsr.upscale(path, "espcn", 2).compute().astype(float)
    ignored = nsr.upscale(path, "espcn", 2, nodata=65535).compute().astype(float)  # zeros taken as data
    valid = np.repeat(np.repeat(img != 0, 2, 0), 2, 1)
    edge = valid & ~np.pad(valid, 3, mode="edge")[6:, 6:]  # valid pixels near the nodata border
    ref = np.repeat(np.repeat(img.astype(float), 2, 0), 2, 1)
    assert np.abs(filled - ref)[edge].mean() < np.abs(ignored - ref)[edge].mean()


def test_nodata_outside_the_type_is_refused(scene):
    path, _ = scene
    with pytest.raises(nsr.SuperResError, match="cannot occur in uint16"):
        nsr.upscale(path, "espcn", 2, nodata=-9999)


def test_enlarged_transforms_area_point_rotated():
    t = (10.0, 0.0, 100.0, 0.0, -10.0, 200.0)
    assert enlarged_transform(t, 2, "area") == (5.0, 0.0, 100.0, 0.0, -5.0, 200.0)
    # point rasters: the first output pixel centre is a quarter input pixel before the first input centre
    assert enlarged_transform(t, 2, "point") == (5.0, 0.0, 97.5, 0.0, -5.0, 202.5)
    c, s = np.cos(0.3), np.sin(0.3)
    rot = (10 * c, -10 * s, 0.0, 10 * s, 10 * c, 0.0)
    a, b, _, d, e, _ = enlarged_transform(rot, 4)
    assert (a, b, d, e) == pytest.approx((10 * c / 4, -10 * s / 4, 10 * s / 4, 10 * c / 4))


def test_geotiff_output_read_by_gdal(scene, tmp_path):
    rasterio = pytest.importorskip("rasterio")
    path, img = scene
    out = tmp_path / "scene_x3.tif"
    nsr.upscale(path, "espcn", 3, out=out)
    assert not (tmp_path / "scene_x3.tif.partial.zarr").exists()
    with rasterio.open(out) as ds:
        assert tuple(ds.transform)[:6] == pytest.approx((10 / 3, 0, 500000, 0, -10 / 3, 4100000))
        assert ds.crs.to_epsg() == 32633 and ds.nodata == 0
        assert ds.shape == (270, 330)
        band = ds.read(1)
    np.testing.assert_array_equal(band == 0, np.repeat(np.repeat(img == 0, 3, 0), 3, 1))
    with pytest.raises(nsr.SuperResError, match="exists"):
        nsr.upscale(path, "espcn", 3, out=out)


def test_rotated_geotiff_output(tmp_path, textured):
    rasterio = pytest.importorskip("rasterio")
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    t = (10 * c, -10 * s, 300000.0, -10 * s, -10 * c, 5000000.0)
    matrix = (t[0], t[1], 0, t[2], t[3], t[4], 0, t[5], 0, 0, 0, 0, 0, 0, 0, 1)
    keys = (1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 32632)
    path = tmp_path / "rot.tif"
    tifffile.imwrite(path, textured, extratags=[(34264, "d", 16, matrix), (34735, "H", 12, keys)])
    out = tmp_path / "rot_x2.tif"
    nsr.upscale(path, "bicubic", 2, out=out)
    with rasterio.open(out) as ds:
        assert tuple(ds.transform)[:6] == pytest.approx((t[0] / 2, t[1] / 2, t[2], t[3] / 2, t[4] / 2, t[5]))
        assert ds.crs.to_epsg() == 32632


def test_ome_tiff_output_keeps_physical_metadata(tmp_path, textured):
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(
        path,
        np.stack([textured] * 3),
        metadata={"axes": "ZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 1.0},
    )
    out = tmp_path / "cells_x2.ome.tif"
    nsr.upscale(path, "bicubic", 2, out=out)
    src = open_input(out)
    assert src.axes == "ZYX" and src.shape == (3, 194, 262)
    assert src.scale == pytest.approx([1.0, 0.1, 0.1]) and src.units["X"] == "micrometer"
    with tifffile.TiffFile(out) as tf:
        assert tf.is_bigtiff and tf.pages[0].is_tiled and tf.pages[0].compression == 8  # deflate
    np.testing.assert_array_equal(np.asarray(src.data), nsr.upscale(path, "bicubic", 2).compute())


def test_interrupted_tiff_output_resumes(tmp_path, textured):
    from napari_superres.writer import iter_output

    out = tmp_path / "field_x2.ome.tif"
    gen = iter_output(textured, out, model="bicubic", scale=2, tile=16, workers=1)
    for msg in gen:
        if msg.get("done", 0) > 0:
            break
    gen.close()  # stopped mid-run: finished chunks kept in the partial zarr, no TIFF yet
    assert (tmp_path / "field_x2.ome.tif.partial.zarr").exists() and not out.exists()
    msgs = list(iter_output(textured, out, model="bicubic", scale=2, tile=16, workers=1))
    assert "resuming" in msgs[0]["message"]
    np.testing.assert_array_equal(
        tifffile.imread(out), nsr.upscale(textured, "bicubic", 2, tile=16).compute()
    )
    assert not (tmp_path / "field_x2.ome.tif.partial.zarr").exists()


def test_multiband_geotiff_band_by_band(tmp_path, rng):
    rasterio = pytest.importorskip("rasterio")
    gains = np.array([1000, 2000, 3000, 4000, 5000, 6000])[:, None, None]
    bands = (rng.random((6, 60, 70)) * gains + 100).astype(np.uint16)  # 6 bands, very different ranges
    bands[:, :8, :] = 0
    tags = [
        (33550, "d", 3, (20.0, 20.0, 0.0)),
        (33922, "d", 6, (0, 0, 0, 400000.0, 5000000.0, 0)),
        (34735, "H", 16, (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32631)),
        (42113, "s", 0, "0"),
    ]
    path = tmp_path / "bands.tif"
    tifffile.imwrite(path, bands, photometric="minisblack", planarconfig="separate", extratags=tags)
    assert open_input(path).axes == "CYX"
    out = tmp_path / "bands_x2.tif"
    nsr.upscale(path, "espcn", 2, out=out)
    with rasterio.open(out) as ds:
        assert ds.count == 6 and ds.shape == (120, 140) and ds.crs.to_epsg() == 32631
        got = ds.read()
    for b in range(6):  # each band keeps its own intensity scale (per-band statistics)
        valid = got[b][16:]
        assert abs(np.median(valid) - np.median(bands[b][8:])) < 0.05 * gains[b, 0, 0]
        assert (got[b][:16] == 0).all()
