"""BioImage Model Zoo (bioimage.io) model packages: run one, and write an architecture as one source file.

A package (a ``.zip``, its folder, or its ``rdf.yaml`` / ``*.bioimageio.yaml``) is read with PyYAML
and checked here; nothing is fetched. Format 0.5.x only. Its weights load without unpickling
objects: a ``pytorch_state_dict`` through ``torch.load(weights_only=True)`` (tensors and plain
containers), or ``torchscript``. The network of a state dict comes from, in this order: the package's
``config.napari_superres`` (packages we export), detection from the tensors (our zoo, then
``spandrel`` if installed), and only when the user trusts it, the package's own architecture source,
since that source is code. Scale and halo come from the output axes; a package that declares no
napari-superres tiling is run as not exactly tileable (the pipeline warns).

>>> src = architecture_source("espcn")
>>> "class ESPCN" in src and "def resize(" in src and "from .." not in src
True
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import io
import math
import zipfile
from pathlib import Path

from ..errors import SuperResError, first_line, opt

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
SUPPORTED_PRE = ("scale_linear", "scale_range", "ensure_dtype", "clip")
SUPPORTED_POST = ("scale_linear", "ensure_dtype", "clip")


# -- writing: one self-contained architecture file ---------------------------------------------------


def _strip(source: str, drop_names: tuple[str, ...] = ("ARCH",)) -> tuple[list[str], str]:
    """Absolute imports of a module's source, and its body without imports or ``drop_names``."""
    tree = ast.parse(source)
    imports, body = [], []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and (node.level or node.module == "__future__"):
                continue
            imports.append(ast.unparse(node))
        elif isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant):
            continue  # the module docstring
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") in drop_names for t in node.targets):
            continue
        else:
            body.append(ast.get_source_segment(source, node, padded=True))
    return imports, "\n\n\n".join(body)


def architecture_source(arch: str) -> str:
    """One importable Python file defining architecture ``arch`` (and what it needs of ours), for a
    package's ``architecture.source``: the functions of the MATLAB-compatible bicubic resize, the
    shared blocks and the architecture's module, without imports of napari_superres."""
    import importlib

    from .. import degradation

    module = importlib.import_module(f"{__package__}.arch.{arch}")
    from . import blocks

    parts = [
        inspect.getsource(getattr(degradation, f))
        for f in ("cubic", "contributions", "resize_axis", "resize")
    ]
    imports = ["import math", "from functools import lru_cache", "import numpy as np", "import torch"]
    for mod in (blocks, module):
        more, body = _strip(inspect.getsource(mod))
        imports += [i for i in more if i not in imports]
        parts.append(body)
    head = (
        f'"""{module.ARCH.get("paper", arch)}: the {arch} architecture of napari-superres, in one file.\n\n'
        "Written by napari_superres.models.package.architecture_source; the bicubic resize is MATLAB's\n"
        '(napari_superres.degradation.resize)."""\n\nfrom __future__ import annotations\n\n'
    )
    return head + "\n".join(imports) + "\n\n\n" + "\n\n\n".join(parts) + "\n"


def is_package(path: Path) -> bool:
    """Whether ``path`` names a bioimage.io package: a .zip, an rdf.yaml, or a folder holding one."""
    name = path.name.lower()
    if name.endswith(".zip") or name in RDF_NAMES or name.endswith(".bioimageio.yaml"):
        return True
    return path.is_dir() and any((path / n).is_file() for n in RDF_NAMES)


# -- reading a package --------------------------------------------------------------------------------


class _Files:
    """The files of a package: a zip archive or a folder, by their names in the package."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = None
        if path.is_dir():
            self.root = path
        elif path.suffix.lower() == ".zip":
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as e:
                raise SuperResError(f"{path} is not a readable zip archive ({first_line(e)})") from None
            self.root = None
        else:
            self.root = path.parent

    def rdf_name(self) -> str:
        if self.zip is not None:
            names = self.zip.namelist()
            for n in RDF_NAMES:
                if n in names:
                    return n
            found = [n for n in names if n.endswith(".bioimageio.yaml")]
            if found:
                return found[0]
            raise SuperResError(f"{self.path} holds no rdf.yaml: it is not a bioimage.io model package")
        if self.path.is_file():
            return self.path.name
        for n in RDF_NAMES:
            if (self.root / n).is_file():
                return n
        found = sorted(self.root.glob("*.bioimageio.yaml"))
        if found:
            return found[0].name
        raise SuperResError(f"{self.path} holds no rdf.yaml: it is not a bioimage.io model package")

    def read(self, name: str, sha256: str | None = None) -> bytes:
        if "://" in name:
            raise SuperResError(
                f"the package refers to {name} online; napari-superres fetches nothing: "
                "give a package with its files inside (bioimageio package)"
            )
        try:
            data = self.zip.read(name) if self.zip is not None else (self.root / name).read_bytes()
        except (KeyError, OSError):
            raise SuperResError(
                f"{self.path} lacks {name}, which its rdf.yaml names; the package is incomplete"
            ) from None
        if sha256 and hashlib.sha256(data).hexdigest() != sha256.lower():
            raise SuperResError(
                f"{name} in {self.path} does not match its sha256 in rdf.yaml: the file is damaged or was "
                "changed; get the package again"
            )
        return data


def _source_name(entry) -> tuple[str | None, str | None]:
    src = entry.get("source") if isinstance(entry, dict) else entry
    return (src, entry.get("sha256") if isinstance(entry, dict) else None) if src else (None, None)


def _axes(tensor: dict) -> dict:
    return {str(a.get("id", a.get("type"))): a for a in tensor.get("axes", []) if isinstance(a, dict)}


def _scale_and_halo(rdf: dict, path: Path) -> tuple[int, int, int]:
    """(scale, halo in input pixels, channels) from the single input and output tensors' axes."""
    ins, outs = rdf.get("inputs") or [], rdf.get("outputs") or []
    if len(ins) != 1 or len(outs) != 1:
        raise SuperResError(
            f"{path} has {len(ins)} inputs and {len(outs)} outputs; an image enlarger has one of each"
        )
    ia, oa = _axes(ins[0]), _axes(outs[0])
    if not {"y", "x"} <= set(ia) or not {"y", "x"} <= set(oa):
        raise SuperResError(
            f"{path}: the input and output need spatial axes y and x (they have {list(ia)} / {list(oa)})"
        )
    scales = []
    for ax in ("y", "x"):
        s_in, s_out = float(ia[ax].get("scale", 1.0)), float(oa[ax].get("scale", 1.0))
        factor = s_in / s_out if s_out > 0 else 0.0
        size = oa[ax].get("size")
        if isinstance(size, int) and isinstance(ia[ax].get("size"), int):
            factor = size / ia[ax]["size"]
        scales.append(factor)
    if scales[0] != scales[1] or scales[0] <= 1 or abs(scales[0] - round(scales[0])) > 1e-6:
        raise SuperResError(
            f"{path}: its output axes scale y x{scales[0]:g}, x x{scales[1]:g}; napari-superres runs "
            "models that enlarge both by the same whole number (2-8)"
        )
    scale = int(round(scales[0]))
    halo_out = max(int(oa[ax].get("halo", 0) or 0) for ax in ("y", "x"))
    channel = ia.get("channel", {})
    channels = len(channel.get("channel_names", [])) or int(channel.get("size", 1) or 1) if channel else 1
    return scale, math.ceil(halo_out / scale), channels


def _check_processing(rdf: dict, path: Path) -> None:
    for where, key, allowed in (
        ("inputs", "preprocessing", SUPPORTED_PRE),
        ("outputs", "postprocessing", SUPPORTED_POST),
    ):
        for step in rdf[where][0].get(key, []) or []:
            op = step.get("id", step.get("name"))
            if op not in allowed:
                raise SuperResError(
                    f"{path}: {key} step {op!r} is not one napari-superres reproduces ({', '.join(allowed)}); "
                    "run this package with bioimageio.core"
                )


def _ours(cfg: dict):
    """The napari-superres description a package we exported carries, or None."""
    ours = (cfg or {}).get("napari_superres") if isinstance(cfg, dict) else None
    return ours if isinstance(ours, dict) and "arch" in ours else None


def _module_from_source(files: _Files, arch_entry: dict, state: dict, path: Path):
    import torch  # noqa: F401  the source imports it

    src, sha = _source_name(arch_entry)
    name = arch_entry.get("callable")
    code = files.read(src, sha).decode("utf-8")
    namespace = {"__name__": f"bioimageio_architecture_{hashlib.sha256(code.encode()).hexdigest()[:8]}"}
    try:
        exec(compile(code, src, "exec"), namespace)  # noqa: S102  the user trusted this package's code
        module = namespace[name](**(arch_entry.get("kwargs") or {}))
        module.load_state_dict(state, strict=True)
    except Exception as e:  # noqa: BLE001  code from elsewhere: any failure is said in one line
        raise SuperResError(
            f"{path}: its architecture {src}:{name} did not build or load its weights ({first_line(e)})"
        ) from None
    return module.eval()


def _try_spandrel(state: dict, path: Path):
    """The network through spandrel when it is installed and knows it, else None."""
    import importlib.util

    from .foreign import load_with_spandrel

    if importlib.util.find_spec("spandrel") is None:
        return None
    try:
        return load_with_spandrel(state, path)
    except SuperResError:
        return None


def load_package(path: str | Path, trust_code: bool = False):
    """An :class:`~napari_superres.models.spec.SRModel` from a bioimage.io model package."""
    import yaml

    from .foreign import detect, unwrap
    from .spec import SRModel, build

    path = Path(path).expanduser()
    if not path.exists():
        raise SuperResError(f"bioimage.io package {path} does not exist; check the path")
    files = _Files(path)
    rdf_name = files.rdf_name()
    try:
        rdf = yaml.safe_load(files.read(rdf_name))
    except yaml.YAMLError as e:
        raise SuperResError(f"{path}: {rdf_name} is not valid YAML ({first_line(e)})") from None
    if not isinstance(rdf, dict) or rdf.get("type") != "model":
        raise SuperResError(
            f"{path}: {rdf_name} does not describe a model (type {rdf.get('type') if isinstance(rdf, dict) else None!r})"
        )
    version = str(rdf.get("format_version", "?"))
    if not version.startswith("0.5."):
        raise SuperResError(
            f"{path} is a bioimage.io model of format {version}; napari-superres reads format 0.5: "
            "convert it with 'bioimageio update-format' (bioimageio.core)"
        )
    scale, halo, channels = _scale_and_halo(rdf, path)
    _check_processing(rdf, path)

    def own_network(module, kind: str, exact: bool) -> SRModel:
        """A network our zoo does not build: the package's halo; exact tiling only where we exported it."""
        return SRModel(
            name=path.stem,
            arch=kind,
            scale=scale,
            in_channels=channels,
            halo=halo,
            exact_tiling=exact,
            size_multiple=1,
            module=module,
        )

    weights = rdf.get("weights") or {}
    ours = _ours(rdf.get("config"))
    if "pytorch_state_dict" in weights:
        entry = weights["pytorch_state_dict"]
        blob = files.read(*_source_name(entry))
        if _source_name(entry.get("architecture") or {})[0]:  # checked even where our zoo builds it
            files.read(*_source_name(entry["architecture"]))
        import torch

        try:
            state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001  pickled objects beyond tensors are refused here
            raise SuperResError(
                f"{path}: its weights need unpickling arbitrary objects, which napari-superres never does "
                f"({first_line(e)}); ask for a plain state dict"
            ) from None
        state = unwrap(state, path)
        if ours is not None:
            try:
                model = build(ours["arch"], scale, ours.get("config"), name=path.stem)
                model.module.load_state_dict(state, strict=True)
            except (RuntimeError, TypeError, ValueError, KeyError) as e:
                raise SuperResError(
                    f"{path}: its weights do not fit the {ours['arch']} network its config names ({first_line(e)})"
                ) from None
        else:
            found = detect(state, scale)
            arch = entry.get("architecture") or {}
            if found is not None:
                model = found[-1]
            elif not trust_code and (spandrel := _try_spandrel(state, path)) is not None:
                model = spandrel
            else:
                if not trust_code:
                    src = _source_name(arch)[0] or arch.get("import_from", "?")
                    raise SuperResError(
                        f"{path}: its network is its own code ({src}:{arch.get('callable')}), not one of "
                        f"napari-superres's; it runs only if you trust that code: {opt('trust_code', True)}"
                    )
                if "source" not in arch:
                    raise SuperResError(
                        f"{path}: its architecture comes from a library ({arch.get('import_from')}); give a package with its source file"
                    )
                model = own_network(_module_from_source(files, arch, state, path), "bioimageio", False)
    elif "torchscript" in weights:
        import torch

        entry = weights["torchscript"]
        blob = files.read(*_source_name(entry))
        try:
            module = torch.jit.load(io.BytesIO(blob), map_location="cpu").eval()
        except Exception as e:  # noqa: BLE001
            raise SuperResError(f"{path}: its TorchScript weights do not load ({first_line(e)})") from None
        model = own_network(module, "torchscript", bool(ours and ours.get("exact_tiling")))
    else:
        have = ", ".join(weights) or "none"
        raise SuperResError(
            f"{path}: its weights are {have}; napari-superres runs pytorch_state_dict or torchscript weights"
        )
    model.scale = scale
    if ours is None:  # the package's halo where it reaches further than the detected network's
        model.halo = max(model.halo, halo)
    model.metadata = {
        "source": str(path),
        "bioimageio_name": str(rdf.get("name", "")),
        **(ours or {}).get("metadata", {}),
    }
    model.degradation = str((ours or {}).get("degradation", "bicubic"))
    model.origin = str(path.resolve()) if not trust_code else None
    return model
