"""bioimage.io model packages: export passes `bioimageio test`, loads back to the same result, a package
made by another tool runs (its own code only when trusted), and bad packages are refused in one line."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import napari_superres as nsr
from napari_superres.errors import SuperResError
from napari_superres.models import load_model

pytest.importorskip("bioimageio.spec")
pytest.importorskip("bioimageio.core")
yaml = pytest.importorskip("yaml")

from napari_superres.bioimageio import _test_image, check_package, export_bioimageio  # noqa: E402


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    return export_bioimageio("default", tmp_path_factory.mktemp("pk") / "espcn_x2.zip", 2)


def test_exported_default_x2_passes_bioimageio_test(package):
    ok, text = check_package(package)
    assert ok, text
    with zipfile.ZipFile(package) as z:
        names = set(z.namelist())
        rdf = yaml.safe_load(z.read("rdf.yaml"))
        import torch

        state = torch.load(io.BytesIO(z.read("weights.pt")), weights_only=True)  # plain tensors only
    assert {"rdf.yaml", "weights.pt", "architecture.py", "README.md", "cover.png"} <= names
    assert not any(n.endswith((".pkl", ".pickle")) for n in names)
    assert all(hasattr(v, "shape") for v in state.values())
    assert rdf["format_version"].startswith("0.5.")
    out_y = next(a for a in rdf["outputs"][0]["axes"] if a.get("id") == "y")
    in_y = next(a for a in rdf["inputs"][0]["axes"] if a.get("id") == "y")
    assert in_y["scale"] / out_y["scale"] == 2 and out_y["halo"] == 2 * load_model("default").halo
    assert "arxiv.org/abs/1609.05158" in str(rdf["cite"])  # the ESPCN paper


def test_a_packages_readme_gives_its_weights_real_data_figures_not_autos_blend(tmp_path):
    from napari_superres.models import AUTO_REAL_GAIN, read_metadata, weights_path

    src = weights_path("espcn", 2, "bicubic", noise_robust=True)
    assert AUTO_REAL_GAIN in read_metadata(src)  # recorded there for auto, a figure of its blend
    with zipfile.ZipFile(export_bioimageio(str(src), tmp_path / "robust.zip", 2)) as z:
        readme = z.read("README.md").decode()
    assert "real data, binning:" in readme and "real data, auto" not in readme


def test_package_loads_back_and_gives_the_models_result(package):
    img = _test_image(0, 255, 150)
    own = np.asarray(nsr.upscale(img, "default", 2, normalize=(0, 255), tile=48, degradation=None))
    back = load_model(package)
    assert back.scale == 2 and back.exact_tiling and back.arch == "espcn"
    via = np.asarray(nsr.upscale(img, package, 2, normalize=(0, 255), tile=48, degradation=None))
    assert np.abs(own - via).max() <= 1e-5 * 255
    from napari_superres.models.registry import USER

    try:  # registered under its file name, as a weights file is (the docks' model lists)
        assert nsr.register(package) == "espcn_x2" and load_model("espcn_x2").arch == "espcn"
    finally:
        USER.pop("espcn_x2", None)


def _rewrite(src: Path, dst: Path, edit_rdf=None, drop=(), replace=None) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if name == "rdf.yaml" and edit_rdf is not None:
                rdf = yaml.safe_load(data)
                edit_rdf(rdf)
                data = yaml.safe_dump(rdf).encode()
            if replace and name in replace:
                data = replace[name]
            zout.writestr(name, data)
    return dst


def _set(path, value):
    def edit(rdf):
        node = rdf
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value

    return edit


def _pickled_weights() -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(1), "obj": Path("x")}, buf)  # an object beyond tensors: needs unpickling
    return buf.getvalue()


@pytest.mark.parametrize(
    "case, kwargs, words",
    [
        ("old format", {"edit_rdf": _set(["format_version"], "0.4.10")}, "format 0.4.10"),
        ("missing file", {"drop": ("weights.pt",)}, "lacks weights.pt"),
        (
            "sha256 mismatch",
            {"replace": {"weights.pt": b"PK damaged"}},
            "weights.pt in .* does not match its sha256",
        ),
        (
            "changed source",
            {"replace": {"architecture.py": b"# changed"}},
            "architecture.py in .* does not match",
        ),
        (
            "no enlargement",
            {"edit_rdf": lambda r: [a.update(scale=1.0) for a in r["inputs"][0]["axes"] if "scale" in a]},
            "same whole number",
        ),
    ],
)
def test_bad_packages_are_refused_in_one_line(package, tmp_path, case, kwargs, words):
    bad = _rewrite(package, tmp_path / "bad.zip", **kwargs)
    with pytest.raises(SuperResError, match=words) as e:
        load_model(bad)
    assert "\n" not in str(e.value)


def test_pickled_weights_are_refused(package, tmp_path):
    blob = _pickled_weights()

    def edit(rdf):
        rdf["weights"]["pytorch_state_dict"]["sha256"] = hashlib.sha256(blob).hexdigest()
        rdf["config"] = {}

    bad = _rewrite(package, tmp_path / "pickled.zip", edit_rdf=edit, replace={"weights.pt": blob})
    with pytest.raises(SuperResError, match="never does"):
        load_model(bad)


def test_cli_bad_package_exit_2_and_nothing_written(package, tmp_path):
    bad = _rewrite(package, tmp_path / "bad.zip", edit_rdf=_set(["format_version"], "0.4.10"))
    img = tmp_path / "in.tif"
    import tifffile

    tifffile.imwrite(img, _test_image(0, 255, 40).astype(np.uint8))
    out = tmp_path / "out.ome.zarr"
    r = subprocess.run(
        [sys.executable, "-m", "napari_superres", "upscale", str(img), str(out), "--model", str(bad)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "update-format" in r.stderr and not out.exists()


FOREIGN_NET = '''
import torch
from torch import nn


class TinySR(nn.Module):
    """A small sub-pixel network written by another tool."""

    def __init__(self, scale=2, features=8):
        super().__init__()
        self.head = nn.Conv2d(1, features, 3, padding=1)
        self.tail = nn.Conv2d(features, scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.shuffle(self.tail(torch.relu(self.head(x))))
'''


@pytest.fixture(scope="module")
def foreign_package(tmp_path_factory) -> tuple[Path, object]:
    """A package built with bioimageio.spec alone (not our exporter), its network its own source file."""
    import torch
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model import v0_5 as v

    d = tmp_path_factory.mktemp("foreign")
    (d / "tiny_sr.py").write_text(FOREIGN_NET)
    ns: dict = {}
    exec(FOREIGN_NET, ns)
    torch.manual_seed(0)
    net = ns["TinySR"](scale=2, features=8).eval()
    torch.save(net.state_dict(), d / "weights.pt")
    x = np.random.default_rng(0).random((1, 1, 32, 32)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
    np.save(d / "in.npy", x)
    np.save(d / "out.npy", y)
    (d / "README.md").write_text("# tiny sr\n")
    size = v.ParameterizedSize(min=16, step=8)
    descr = v.ModelDescr(
        name="tiny sr",
        description="a 2-layer sub-pixel enlarger",
        authors=[v.Author(name="another tool")],
        cite=[v.CiteEntry(text="ESPCN", url=v.HttpUrl("https://arxiv.org/abs/1609.05158"))],
        license=v.LicenseId("MIT"),
        documentation=v.FileDescr(source=d / "README.md"),
        inputs=[
            v.InputTensorDescr(
                id=v.TensorId("raw"),
                axes=[
                    v.BatchAxis(),
                    v.ChannelAxis(channel_names=[v.Identifier("c")]),
                    v.SpaceInputAxis(id=v.AxisId("y"), size=size, scale=2.0),
                    v.SpaceInputAxis(id=v.AxisId("x"), size=size, scale=2.0),
                ],
                test_tensor=v.FileDescr(source=d / "in.npy"),
                data=v.IntervalOrRatioDataDescr(type="float32"),
            )
        ],
        outputs=[
            v.OutputTensorDescr(
                id=v.TensorId("sr"),
                axes=[
                    v.BatchAxis(),
                    v.ChannelAxis(channel_names=[v.Identifier("c")]),
                    *(
                        v.SpaceOutputAxisWithHalo(
                            id=v.AxisId(a),
                            scale=1.0,
                            halo=4,
                            size=v.SizeReference(tensor_id=v.TensorId("raw"), axis_id=v.AxisId(a)),
                        )
                        for a in ("y", "x")
                    ),
                ],
                test_tensor=v.FileDescr(source=d / "out.npy"),
                data=v.IntervalOrRatioDataDescr(type="float32"),
            )
        ],
        weights=v.WeightsDescr(
            pytorch_state_dict=v.PytorchStateDictWeightsDescr(
                source=d / "weights.pt",
                architecture=v.ArchitectureFromFileDescr(
                    source=d / "tiny_sr.py", callable="TinySR", kwargs={"scale": 2, "features": 8}
                ),
                pytorch_version=v.Version("2.1"),
            )
        ),
    )
    path = save_bioimageio_package(descr, output_path=d / "tiny_sr.zip")
    return Path(path), net


def test_package_made_by_another_tool_runs_only_when_its_code_is_trusted(foreign_package):
    import torch

    path, net = foreign_package
    with pytest.raises(SuperResError, match="trust_code=True"):
        load_model(path)
    m = load_model(path, trust_code=True)
    assert m.scale == 2 and m.halo == 2 and not m.exact_tiling  # halo 4 output px; tiling not claimed
    x = np.random.default_rng(1).random((40, 44)).astype(np.float32)
    with pytest.warns(UserWarning):
        got = np.asarray(nsr.upscale(x, m, 2, normalize=None, tile=16))
    with torch.no_grad():
        want = net(torch.from_numpy(x)[None, None]).numpy()[0, 0]
    assert np.abs(got - want).max() < 1e-5


def test_a_package_running_its_own_code_registers_for_the_docks_only_when_trusted(
    foreign_package, monkeypatch
):
    """From napari's console: ``register(path, trust_code=True)`` puts it in the docks' model lists,
    and picking it there runs it; without trusting, registering says how to trust it."""
    import torch

    from napari_superres.models import list_models, register, registry

    monkeypatch.setattr(registry, "USER", {})
    monkeypatch.setattr(registry, "TRUSTED", set())
    monkeypatch.setattr(registry, "USER_META", {})
    path, net = foreign_package
    with pytest.raises(SuperResError, match="trust_code=True"):
        register(path, name="tiny")
    assert "tiny" not in [m["name"] for m in list_models()]
    assert register(path, name="tiny", trust_code=True) == "tiny"
    row = next(m for m in list_models() if m["name"] == "tiny")
    assert row["scales"] == [2] and row["shipped"]
    x = np.random.default_rng(2).random((24, 24)).astype(np.float32)
    got = np.asarray(nsr.upscale(x, "tiny", 2, normalize=None))
    with torch.no_grad():
        want = net(torch.from_numpy(x)[None, None]).numpy()[0, 0]
    assert np.abs(got - want).max() < 1e-5


def test_a_registered_package_is_listed_with_its_network_and_scale(package, monkeypatch):
    """The docks' model lists read every registered model: a package is listed, not a failure."""
    from napari_superres.models import list_models, register, registry

    monkeypatch.setattr(registry, "USER", {})
    monkeypatch.setattr(registry, "USER_META", {})
    name = register(package, name="exported")
    row = next(m for m in list_models() if m["name"] == name)
    assert row["arch"] == "espcn" and row["scales"] == [2]
