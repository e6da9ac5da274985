"""One message source, three renderings: the option a message names reads as the user sets it."""

import ast
from pathlib import Path

import pytest

import napari_superres as nsr
from napari_superres.errors import OPTIONS, SuperResError, opt, render

PACKAGE = Path(nsr.__file__).parent


def test_an_option_reads_as_a_keyword_a_flag_or_a_control():
    e = SuperResError(f"output o.zarr exists; to replace it: {opt('overwrite', True)}")
    assert str(e) == "output o.zarr exists; to replace it: overwrite=True"
    assert e.render("cli") == "output o.zarr exists; to replace it: --overwrite"
    assert e.render("widget") == "output o.zarr exists; to replace it: tick the 'overwrite' check box"
    e = SuperResError(f"enlarges x2, not x3: {opt('scale', 2)}; or {opt('normalize', None)}")
    assert str(e) == "enlarges x2, not x3: scale=2; or normalize=None"
    assert e.render("cli") == "enlarges x2, not x3: --scale 2; or --normalize none"
    assert (
        e.render("widget")
        == "enlarges x2, not x3: set the 'scale' field to 2; or set the 'normalisation' field to none"
    )
    e = SuperResError(f"{opt('channel', 'raw')} for other data")
    assert str(e) == "channel='raw' for other data" and e.render("cli") == "--channel raw for other data"
    with pytest.raises(KeyError):
        opt("no_such_option")


def test_real_errors_speak_the_users_language(tmp_path):
    import numpy as np

    out = tmp_path / "o.ome.zarr"
    nsr.upscale(np.zeros((32, 32), np.uint8), degradation="bicubic", out=out)  # the espcn weights
    with pytest.raises(SuperResError) as info:  # made with another model
        nsr.upscale(np.zeros((32, 32), np.uint8), "bicubic", out=out)
    assert "overwrite=True" in str(info.value) and "«" not in str(info.value)
    assert "--overwrite" in info.value.render("cli")
    with pytest.raises(SuperResError) as info:
        nsr.upscale(np.zeros((32, 32), np.float32), normalize="0,inf")
    assert info.value.render("cli").startswith("--normalize range needs finite LO < HI")


def _opt_names():
    """Every option named by an opt() call in the package's source."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "opt" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    yield path.name, first.value


def test_every_option_a_message_names_is_known():
    used = list(_opt_names())
    assert len(used) > 20
    assert {name for _, name in used} <= set(OPTIONS), [u for u in used if u[1] not in OPTIONS]
    for surface in ("python", "cli", "widget"):
        assert "«" not in render(" ".join(opt(n, True) + opt(n) for n in OPTIONS), surface)
