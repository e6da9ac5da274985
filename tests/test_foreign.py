"""Weights from elsewhere: state dicts of our architectures (detected from their tensors), never
unpickled objects, and other networks through spandrel."""

import sys
import types
import warnings

import numpy as np
import pytest
import torch

import napari_superres as nsr
from napari_superres.errors import SuperResError
from napari_superres.models import NAMED, build

LITE = [
    n for n, e in NAMED.items() if e["trained"] and (n.endswith("-lite") or n in ("espcn", "srcnn", "fsrcnn"))
]


def _random(name, scale, seed=3):
    torch.manual_seed(seed)
    e = NAMED[name]
    return build(e["arch"], scale, e["config"], name=name)


@pytest.mark.parametrize("name", LITE)
def test_a_state_dict_of_any_zoo_model_is_recognised_and_loads(tmp_path, name):
    """A .pth written the way other code bases write them (a wrapper dict, DataParallel's ``module.``
    prefix) loads as the same network: architecture, configuration and scale from the tensors."""
    scale = 4 if name == "lapsrn-lite" else 3 if NAMED[name]["arch"] != "lapsrn" else 2
    m = _random(name, scale)
    f = tmp_path / "from_elsewhere.pth"
    torch.save({"params_ema": {f"module.{k}": v for k, v in m.module.state_dict().items()}}, f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a named configuration matches: nothing assumed
        back = nsr.load_model(f, scale=scale)
    assert (back.arch, back.scale, back.halo) == (m.arch, scale, m.halo)
    assert name in back.metadata["detected"]
    x = torch.rand(1, 1, 19, 23)
    assert torch.allclose(back(x), m(x), atol=1e-6)


def test_an_unnamed_configuration_is_read_from_the_shapes_and_says_what_it_assumed(tmp_path):
    m = build("edsr", 2, {"blocks": 3, "features": 16, "attention": "ca"})
    f = tmp_path / "mine.safetensors"  # safetensors without our metadata
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in m.module.state_dict().items()}, str(f))
    with pytest.warns(UserWarning, match="take their defaults"):
        back = nsr.load_model(f)
    assert back.config["blocks"] == 3 and back.config["features"] == 16 and back.config["attention"] == "ca"
    assert not back.exact_tiling  # channel attention: the descriptor follows the detected configuration
    x = torch.rand(1, 1, 16, 16)
    assert torch.allclose(back(x), m(x), atol=1e-6)


def test_options_the_tensors_cannot_show_are_stated_with_config(tmp_path):
    """A bicubic skip, residual scaling, dilation and the self-attention window leave no trace in the
    tensors: without config the network loads with defaults (and says so) and computes something else;
    with them stated it is the same network."""
    opts = {"skip": True, "res_scale": 0.1, "dilations": [1, 2], "window": 3}
    m = build("edsr", 2, {"blocks": 2, "features": 16, "nonlocal_every": 1, **opts})
    f = tmp_path / "theirs.pth"
    torch.save(m.module.state_dict(), f)
    x = torch.rand(1, 1, 20, 20)
    with pytest.warns(UserWarning, match="state them with config="):
        guessed = nsr.load_model(f)
    assert not torch.allclose(guessed(x), m(x), atol=1e-3)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every hidden option stated: nothing assumed
        stated = nsr.load_model(f, config=opts)
    assert stated.config["nonlocal_every"] == 1  # the attention blocks' places are read from the names
    assert torch.allclose(stated(x), m(x), atol=1e-6)
    assert stated.origin is None and '"skip": true' in stated.metadata["detected"]
    img = np.random.default_rng(1).random((40, 36)).astype(np.float32)
    whole = stated(torch.from_numpy(img)[None, None]).detach().numpy()[0, 0]
    lazy = np.asarray(nsr.upscale(img, model=stated, tile=16, normalize="none"))
    np.testing.assert_allclose(lazy, whole, atol=1e-5)  # runs lazily and tiled like any other model

    with pytest.raises(SuperResError, match="has no option colour; its options are") as e:
        nsr.load_model(f, config={"colour": 1})
    assert "\n" not in str(e.value)
    with pytest.raises(SuperResError, match="does not fit the tensors"):
        nsr.load_model(f, config={"blocks": 5})
    with pytest.raises(SuperResError, match="records its own configuration"):
        nsr.load_model(nsr.models.weights_path("espcn", 2), config={"skip": True})
    with pytest.raises(SuperResError, match="is not a file"):
        nsr.load_model("espcn", config={"skip": True})


def test_our_training_checkpoint_loads_as_a_model(tmp_path):
    from napari_superres.training import iter_train

    img = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    ck = tmp_path / "run.ckpt"
    kw = dict(steps=2, batch_size=2, patch_size=8, checkpoint=ck, val_every=100, channel="raw")
    list(iter_train("espcn", [img], 2, **kw))
    m = nsr.load_model(ck.rename(tmp_path / "run.ckpt.safetensors"))
    assert m.arch == "espcn" and m.scale == 2


def test_pickled_objects_are_refused_and_bad_files_get_one_line(tmp_path):
    m = _random("espcn", 2)
    f = tmp_path / "whole_module.pt"
    torch.save(m.module, f)  # a pickled nn.Module: loading it would run arbitrary code
    with pytest.raises(SuperResError, match="does not unpickle") as e:
        nsr.load_model(f)
    assert "\n" not in str(e.value)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(SuperResError, match="cannot read") as e:
        nsr.load_model(junk)
    assert "\n" not in str(e.value)
    torch.save({"step": 3, "lr": 0.1}, tmp_path / "no_tensors.pt")
    with pytest.raises(SuperResError, match="no tensors"):
        nsr.load_model(tmp_path / "no_tensors.pt")


class _ForeignNet(torch.nn.Module):
    """An RGB network of an architecture we do not implement (conv, pixel shuffle)."""

    def __init__(self):
        super().__init__()
        self.conv_first = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv_up = torch.nn.Conv2d(8, 12, 3, padding=1)
        self.shuffle = torch.nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(self.conv_up(torch.relu(self.conv_first(x))))


def _stand_in_spandrel():
    """A module with spandrel's loading API (ModelLoader, an image-model descriptor) for one network.

    spandrel itself needs torchvision, which has no CPU wheel for this torch on the test machines;
    the real package is exercised by the next test wherever it imports.
    """
    mod = types.ModuleType("spandrel")
    mod.__version__ = "stand-in"

    class Descriptor:
        purpose, scale, input_channels = "SR", 2, 3
        architecture = types.SimpleNamespace(name="ForeignNet")
        size_requirements = types.SimpleNamespace(minimum=0, multiple_of=1)

        def __init__(self, model):
            self.model = model

        def __call__(self, image):
            return self.model(image)

    class ModelLoader:
        def load_from_state_dict(self, state):
            if "conv_first.weight" not in state:
                raise ValueError("Unsupported model")
            net = _ForeignNet()
            net.load_state_dict(state)
            return Descriptor(net.eval())

    mod.ModelLoader = ModelLoader
    return mod


def test_other_networks_load_through_spandrel_and_run_lazily(tmp_path, monkeypatch):
    torch.manual_seed(0)
    net = _ForeignNet()
    f = tmp_path / "foreign.pth"
    torch.save(net.state_dict(), f)
    monkeypatch.setitem(sys.modules, "spandrel", None)  # not installed: a one-line hint
    with pytest.raises(SuperResError, match="pip install spandrel"):
        nsr.load_model(f)
    monkeypatch.setitem(sys.modules, "spandrel", _stand_in_spandrel())
    m = nsr.load_model(f)
    assert (m.arch, m.scale, m.in_channels, m.exact_tiling) == ("spandrel:ForeignNet", 2, 1, False)
    img = np.random.default_rng(1).random((90, 70)).astype(np.float32)
    with pytest.warns(UserWarning, match="not exactly tileable"):
        out = nsr.upscale(img, m, 2, tile=32, normalize=None).compute()
    x = torch.from_numpy(img)[None, None].expand(1, 3, -1, -1)
    whole = net(x).mean(1)[0].detach().numpy()  # grey in, the channels averaged out
    assert out.shape == (180, 140)
    np.testing.assert_allclose(out, whole, atol=1e-5)  # its 2-pixel reach is inside our 32-pixel halo


def test_real_spandrel_loads_a_real_esrgan_compact_network(tmp_path):
    """Where spandrel imports (it needs torchvision), a randomly initialised Real-ESRGAN compact network
    saved as a state dict loads through it and runs through the lazy pipeline."""
    spandrel = pytest.importorskip("spandrel")
    from spandrel.architectures.Compact import SRVGGNetCompact

    torch.manual_seed(0)
    net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=2)
    f = tmp_path / "realesr-compact.pth"
    torch.save({"params": net.state_dict()}, f)
    m = nsr.load_model(f)
    assert m.scale == 2 and m.arch.startswith("spandrel:") and spandrel.__version__
    img = np.random.default_rng(2).random((40, 36)).astype(np.float32)
    assert nsr.upscale(img, m, 2, normalize=None).compute().shape == (80, 72)


def test_a_network_that_works_at_any_scale_needs_the_scale_said(tmp_path):
    """SRCNN-family tensors do not show the scale they were trained for: without scale= loading
    refuses in one line instead of assuming x2; with it, it loads at that scale."""
    m = _random("srcnn", 3)
    f = tmp_path / "srcnn_from_elsewhere.pth"
    torch.save(m.module.state_dict(), f)
    with pytest.raises(SuperResError, match="tensors do not say which it was trained for: give scale"):
        nsr.load_model(f)
    assert nsr.load_model(f, scale=3).scale == 3
    espcn = _random("espcn", 3)  # a sub-pixel tail shows its scale: no need to say it
    torch.save(espcn.module.state_dict(), tmp_path / "espcn.pth")
    assert nsr.load_model(tmp_path / "espcn.pth").scale == 3
