"""The command line's arguments: every command, flag, default and help text of ``napari-superres``."""

from __future__ import annotations

import argparse


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"scale must be a number such as 2 or 2.5, got {text!r}") from None
    return int(value) if value.is_integer() else value


class _Help(argparse.HelpFormatter):
    """Help that shows each option's default where its text does not already say it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (
            "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):  # every --help shows each option's default
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, exit status 2, as for every other bad input
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="napari-superres",
        description="Deep-CNN super-resolution for images of any size (numpy, TIFF, zarr, OME-Zarr).",
    )
    sub = p.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    u = sub.add_parser("upscale", help="upscale an image file or zarr array into OME-Zarr")
    u.add_argument("input", help="TIFF, zarr, OME-Zarr, PNG or JPEG")
    u.add_argument("output", help="output OME-Zarr (.zarr / .ome.zarr) or TIFF (.tif: OME-TIFF, or GeoTIFF)")
    u.add_argument(
        "--model",
        default="default",
        help="registry name or .safetensors file; NAME+x8: mean over 8 flips and turns (default: %(default)s)",
    )
    u.add_argument("--scale", type=_scale, default=2, help="enlargement factor, >1 and <=8 (default: 2)")
    u.add_argument("--axes", default=None, help="axis order such as YX, ZYX, TCZYX, YXC (default: inferred)")
    u.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    u.add_argument("--tile", type=int, default=None, help="tile size in input pixels (default: automatic)")
    u.add_argument("--normalize", default="auto", help="auto, none, or LO,HI (default: auto)")
    u.add_argument(
        "--consistency",
        type=int,
        default=0,
        metavar="N",
        help="N back-projection steps after the network, so downscaling the result gives the input (default: 0)",
    )
    u.add_argument(
        "--degradation",
        default="auto",
        help="how the image was made: bicubic, binning, gaussian:SIGMA (PSF in output pixels), "
        "gaussian:fwhm=F,pixel=P, a PSF file (.npy/.tif/.txt), or auto (estimated from the image: "
        "the bicubic and binning weights blended by how well each fits; default: %(default)s)",
    )
    u.add_argument("--nodata", type=float, default=None, help="value of missing pixels (default: the file's)")
    u.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"), help="network precision")
    u.add_argument(
        "--batch", type=int, default=None, help="tiles per forward pass (default: 8 on a GPU, 1 on the CPU)"
    )
    u.add_argument(
        "--adapt",
        type=float,
        default=None,
        metavar="SECONDS",
        help="first fine-tune the model on this image for up to SECONDS (kept only if it does better on a "
        "held-back part; weights saved as OUTPUT.adapted.safetensors and reused by a rerun)",
    )
    u.add_argument("--scheduler", default=None, help="a dask.distributed scheduler address (default: local)")
    u.add_argument("--overwrite", action="store_true", help="replace an existing output")
    u.add_argument("--quiet", action="store_true", help="no progress bar")
    u.add_argument(
        "--trust-code",
        action="store_true",
        help="run a bioimage.io package whose network is its own Python source (that code runs here)",
    )
    u.add_argument(
        "--cog",
        action="store_true",
        help="write a .tif as a Cloud-Optimized GeoTIFF (the default for georeferenced inputs)",
    )

    e = sub.add_parser("export", help="write a model as a bioimage.io model package (.zip, format 0.5)")
    e.add_argument("model", help="registry name, .safetensors file, or a trained / adapted model's file")
    e.add_argument("output", help="the package to write (.zip)")
    e.add_argument("--scale", type=int, default=None, help="enlargement of a named model (default: 2)")
    e.add_argument("--degradation", default=None, help="load the named model's weights for this degradation")
    e.add_argument(
        "--normalize",
        default="0,255",
        help="LO,HI: the value range of the data the package will be given; its pre/post-processing",
    )
    e.add_argument("--author", action="append", default=None, help="an author's name (repeatable)")
    e.add_argument("--test", action="store_true", help="then run 'bioimageio test' on it (bioimageio.core)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing package")

    ad = sub.add_parser(
        "adapt", help="fine-tune a model on one image itself (zero-shot) and save the weights"
    )
    ad.add_argument("input", help="the image to adapt to (TIFF, zarr, OME-Zarr, PNG or JPEG)")
    ad.add_argument("out", help="where to save the adapted weights (.safetensors)")
    ad.add_argument("--model", default="default", help="model to start from (default: default)")
    ad.add_argument("--scale", type=int, default=2, help="the scale it will enlarge by (default: 2)")
    ad.add_argument(
        "--degradation", default=None, help="how the image was made (default: the model's own; or auto)"
    )
    ad.add_argument("--seconds", type=float, default=120.0, help="time budget (default: 120)")
    ad.add_argument("--axes", default=None, help="axis order (default: inferred)")
    ad.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    ad.add_argument("--overwrite", action="store_true", help="replace an existing weights file")

    i = sub.add_parser("isotropic", help="enlarge Z of an anisotropic stack to match XY (self-supervised)")
    i.add_argument("input", help="TIFF, OME-TIFF, zarr or OME-Zarr with a Z axis")
    i.add_argument("output", help="output OME-Zarr path")
    i.add_argument("--axes", default=None, help="axis order such as ZYX (default: from the file)")
    i.add_argument("--factor", type=int, default=None, help="Z enlargement (default: Z spacing / XY spacing)")
    i.add_argument("--steps", type=int, default=300, help="training steps on the stack's XY planes")
    i.add_argument("--blur-sigma", type=float, default=0.0, help="axial blur in XY pixels (default: none)")
    i.add_argument("--model", default=None, help="a saved axial model (.safetensors) instead of training")
    i.add_argument("--save-model", default=None, help="save the trained axial model here (.safetensors)")
    i.add_argument("--overwrite", action="store_true", help="replace an existing output")

    sub.add_parser("models", help="list the models, their scales and measured quality")

    b = sub.add_parser(
        "bench", help="PSNR/SSIM on benchmark folders (standard protocol), or on real images (--real)"
    )
    b.add_argument("dirs", nargs="*", help="folders of HR images (Set5, Set14, B100, ...)")
    b.add_argument(
        "--real",
        default=None,
        metavar="FOLDER",
        help="score the real validation split of FOLDER (../shared/data/real) under each --degradation",
    )
    b.add_argument(
        "--degradation",
        action="append",
        default=None,
        help="with --real: how the LR is made from each HR (repeatable; default bicubic, binning, gaussian:1.0)",
    )
    b.add_argument(
        "--json", default=None, help="with --real: also write every figure, per image, to this file"
    )
    b.add_argument("--model", action="append", default=None, help="model name or path (repeatable)")
    b.add_argument("--scale", type=int, action="append", default=None, help="scale (repeatable; default 2)")
    b.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    b.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"), help="network precision")
    b.add_argument("--record", action="store_true", help="write the figures into the weights' metadata")
    b.add_argument(
        "--adapt",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --real: also each model adapted to each image for up to SECONDS",
    )

    t = sub.add_parser("train", help="train or fine-tune a model; resumes from --checkpoint")
    t.add_argument("data", nargs="+", help="folders or files of training images")
    t.add_argument(
        "--arch", default="espcn", help="architecture of a new network (see 'napari-superres models')"
    )
    t.add_argument("--scale", type=int, default=2, help="enlargement the network learns")
    t.add_argument(
        "--steps", type=int, default=2000, help="optimisation steps (a resumed run continues to this)"
    )
    t.add_argument("--batch-size", type=int, default=16, help="patches per step")
    t.add_argument("--patch-size", type=int, default=32, help="LR patch size")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate (cosine decay to 1%% of it)")
    t.add_argument("--loss", choices=("l1", "l2"), default="l1", help="pixel loss (l2: mean squared error)")
    t.add_argument("--act", default=None, help="activation for architectures that take one")
    t.add_argument("--config", default=None, help="architecture options as JSON, e.g. '{\"residual\": true}'")
    t.add_argument(
        "--init",
        default=None,
        help="model to fine-tune (name or .safetensors); one of another scale gives its body to a new tail",
    )
    t.add_argument("--out", required=True, help="output .safetensors")
    t.add_argument("--checkpoint", default=None, help="checkpoint file (OUT.ckpt when not given)")
    t.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    t.add_argument("--val", default=None, help="validation folder (default: every 20th image held out)")
    t.add_argument("--val-every", type=int, default=500, help="steps between validation PSNRs")
    t.add_argument(
        "--channel",
        choices=("y", "raw"),
        default="y",
        help="y: luma of 8-bit RGB (benchmark protocol); raw: planes as they are (microscopy)",
    )
    t.add_argument(
        "--degradation",
        action="append",
        default=None,
        help="how LR patches are made: bicubic, binning, gaussian:SIGMA or a PSF file; repeat to draw "
        "from several (default: bicubic)",
    )
    t.add_argument(
        "--noise",
        choices=("none", "auto"),
        default="none",
        help="auto: Poisson-Gaussian noise at a random level on each LR patch (noise-robust models)",
    )
    t.add_argument(
        "--gain", action="store_true", help="scale half of the patches by a random brightness gain (0.5-2)"
    )
    t.add_argument(
        "--real",
        default=None,
        metavar="FOLDER",
        help="also train on the real images of FOLDER (../shared/data/real), less its validation split",
    )
    t.add_argument("--blur-sigma", type=float, default=0.0, help="older form of --degradation gaussian:SIGMA")
    t.add_argument("--noise-sigma", type=float, default=0.0, help="Gaussian noise on every LR patch")
    t.add_argument("--poisson-peak", type=float, default=None, help="Poisson noise at this count for value 1")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument("--seed", type=int, default=0, help="random seed (patches, initialisation)")
    t.add_argument("--describe-data", default=None, help="how the training data is described in metadata")
    t.add_argument("--overwrite", action="store_true", help="replace an existing --out file")

    f = sub.add_parser("perf", help="benchmark: raw forward vs in-memory vs zarr-to-zarr, MP/s and memory")
    f.add_argument("--model", default="default", help="model name or weights file")
    f.add_argument("--scale", type=int, default=2, help="enlargement")
    f.add_argument("--size", type=int, default=2048, help="image side in pixels (default: %(default)s)")
    f.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    f.add_argument("--tile", type=int, default=None, help="tile side in input pixels (default: the model's)")
    f.add_argument("--stages", default="raw,raw-tiles,memory,zarr,monai", help="comma-separated subset")

    d = sub.add_parser("demo", help="the main job on the bundled sample image and bundled weights")
    d.add_argument("output", nargs="?", default="superres-demo.ome.zarr")
    d.add_argument("--overwrite", action="store_true", help="replace an existing output")
    return p
