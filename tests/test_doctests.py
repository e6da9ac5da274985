"""The examples in the modules' docstrings are documentation a user copies: they must run as shown."""

import doctest
import importlib
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "napari_superres"
WITH_EXAMPLES = sorted(
    ".".join(("napari_superres", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py")
    if ">>> " in p.read_text(encoding="utf-8") and not p.name.startswith("_widget")
)


@pytest.mark.parametrize("module", WITH_EXAMPLES)
def test_docstring_examples_run_as_shown(module):
    result = doctest.testmod(
        importlib.import_module(module), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} examples in {module} fail (run pytest -s to see them)"
    )
