"""Isotropic mode for anisotropic stacks."""

import json

import numpy as np
import pytest
import tifffile

import napari_superres as nsr
from napari_superres import isotropic as iso
from napari_superres._sample_data import make_nuclei


@pytest.fixture(scope="module")
def volume():
    return make_nuclei((12, 48, 40), count=12, voxel=(0.8, 0.2, 0.2), psf=(1.0, 1.0, 1.0))


@pytest.fixture(scope="module")
def axial_model(volume):
    return iso.axial_model(volume, axes="ZYX", factor=2, steps=20, patch_size=12)


def test_slabs_join_without_seams_and_shape(volume, axial_model):
    whole = iso.isotropic(volume, axes="ZYX", factor=2, model=axial_model, slab=48).compute()
    slabs = iso.isotropic(volume, axes="ZYX", factor=2, model=axial_model, slab=7).compute()
    assert whole.shape == (24, 48, 40) and whole.dtype == np.uint16
    np.testing.assert_array_equal(slabs, whole)


def test_ome_tiff_stack_to_isotropic_zarr(tmp_path, volume, axial_model):
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(
        path,
        volume,
        metadata={"axes": "ZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 0.8},
    )
    out = tmp_path / "iso.ome.zarr"
    arr = iso.isotropic(path, steps=10, patch_size=6, out=out)  # trains an x4 model on its own planes
    assert arr.shape == (48, 48, 40)  # factor 4 from the spacing ratio 0.8 / 0.2
    attrs = json.loads((out / "zarr.json").read_text())["attributes"]
    ct = attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    assert ct[0]["scale"] == pytest.approx([0.2, 0.2, 0.2])
    assert ct[1]["translation"] == pytest.approx([-0.8 * 3 / 8, 0, 0])
    assert attrs["napari_superres"]["isotropic"]["factor"] == 4
    with pytest.raises(nsr.SuperResError, match="exists"):
        iso.isotropic(path, model=iso.axial_model(path, steps=2, patch_size=6), out=out)


def test_z_finer_than_xy_is_refused(tmp_path, volume):
    path = tmp_path / "fine.ome.tif"
    tifffile.imwrite(
        path,
        volume,
        metadata={"axes": "ZYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.3, "PhysicalSizeZ": 0.1},
    )
    with pytest.raises(nsr.SuperResError, match=r"Z spacing \(0.1\) is not coarser than XY"):
        iso.isotropic(path)
    with pytest.raises(nsr.SuperResError, match="needs a Z axis"):
        iso.isotropic(volume[0])


def test_axial_model_is_refused_by_the_2d_engine(axial_model, volume):
    with pytest.raises(nsr.SuperResError, match="enlarges along one axis only"):
        nsr.upscale(volume, axial_model, 2)


@pytest.mark.slow
def test_restoration_beats_bicubic_along_z():
    import torch

    from napari_superres.degradation import resize_axis
    from napari_superres.metrics import psnr

    gt = make_nuclei((24, 64, 64), count=30, voxel=(0.2, 0.2, 0.2), psf=(1.2, 1.2, 1.2)).astype(np.float64)
    lr = resize_axis(torch.from_numpy(gt), 0, 12, 0.5).numpy().astype(np.float32)
    bic = resize_axis(torch.from_numpy(lr.astype(np.float64)), 0, 24, 2.0).numpy()
    sr = iso.isotropic(lr, axes="ZYX", factor=2, steps=150, patch_size=16).compute()
    peak = gt.max() - gt.min()
    assert psnr(sr[3:-3], gt[3:-3], peak=peak) > psnr(bic[3:-3], gt[3:-3], peak=peak) + 0.5


def test_cli_trains_saves_and_reuses(tmp_path, volume, capsys):
    from napari_superres.cli import main

    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(
        path,
        volume,
        metadata={"axes": "ZYX", "PhysicalSizeX": 0.4, "PhysicalSizeY": 0.4, "PhysicalSizeZ": 0.8},
    )
    model = tmp_path / "axial_x2.safetensors"
    assert (
        main(
            [
                "isotropic",
                str(path),
                str(tmp_path / "a.ome.zarr"),
                "--steps",
                "10",
                "--save-model",
                str(model),
            ]
        )
        == 0
    )
    assert main(["isotropic", str(path), str(tmp_path / "b.ome.zarr"), "--model", str(model)]) == 0
    import zarr

    a, b = (
        zarr.open_group(str(tmp_path / "a.ome.zarr"))["0"][:],
        zarr.open_group(str(tmp_path / "b.ome.zarr"))["0"][:],
    )
    np.testing.assert_array_equal(a, b)  # the saved model gives the same result
    assert main(["isotropic", str(path), str(tmp_path / "b.ome.zarr"), "--model", str(model)]) == 2
    assert "exists" in capsys.readouterr().err.strip().splitlines()[-1]


def test_an_axial_model_saved_by_the_first_version_still_loads_and_runs(tmp_path, volume):
    """Models saved before the sub-pixel rows (config without "shuffle") keep their full-resolution
    network, and the rows of a new one are enlarged on the coarse grid."""
    import torch

    from napari_superres.models import build, load_model, save_weights

    old = build("axial", 2, {"features": 8, "layers": 3})
    torch.manual_seed(1)
    for p in old.module.parameters():
        p.data.normal_(0, 0.05)
    path = tmp_path / "old_axial.safetensors"
    save_weights(old, path, {"arch": "axial", "scale": "2", "config": json.dumps(old.config)})
    back = load_model(str(path), 2)
    assert not back.module.shuffle and back.module.body[-1].out_channels == 1
    a = iso.isotropic(volume, axes="ZYX", factor=2, model=old).compute()
    np.testing.assert_array_equal(iso.isotropic(volume, axes="ZYX", factor=2, model=str(path)).compute(), a)
    new = iso.axial_model(volume, axes="ZYX", factor=2, steps=2, patch_size=12)
    assert new.module.shuffle and new.module.body[-1].out_channels == 2
