"""The ``napari-superres`` command line: upscale, models, bench, train, demo.

Bad input ends with a one-line ``error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"scale must be a number such as 2 or 2.5, got {text!r}") from None
    return int(value) if value.is_integer() else value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="napari-superres",
        description="Deep-CNN super-resolution for images of any size (numpy, TIFF, zarr, OME-Zarr).",
    )
    sub = p.add_subparsers(dest="verb", required=True)

    u = sub.add_parser("upscale", help="upscale an image file or zarr array into OME-Zarr")
    u.add_argument("input", help="TIFF, zarr, OME-Zarr, PNG or JPEG")
    u.add_argument("output", help="output OME-Zarr path (.zarr / .ome.zarr)")
    u.add_argument("--model", default="default", help="registry name or .safetensors file (default: %(default)s)")
    u.add_argument("--scale", type=_scale, default=2, help="enlargement factor, >1 and <=8 (default: 2)")
    u.add_argument("--axes", default=None, help="axis order such as YX, ZYX, TCZYX, YXC (default: inferred)")
    u.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    u.add_argument("--tile", type=int, default=None, help="tile size in input pixels (default: automatic)")
    u.add_argument("--normalize", default="auto", help="auto, none, or LO,HI (default: auto)")
    u.add_argument("--overwrite", action="store_true", help="replace an existing output")
    u.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("models", help="list the models, their scales and measured quality")

    b = sub.add_parser("bench", help="PSNR/SSIM on a benchmark folder with the standard protocol")
    b.add_argument("dirs", nargs="+", help="folders of HR images (Set5, Set14, B100, ...)")
    b.add_argument("--model", action="append", default=None, help="model name or path (repeatable)")
    b.add_argument("--scale", type=int, action="append", default=None, help="scale (repeatable; default 2)")
    b.add_argument("--device", default="auto")
    b.add_argument("--record", action="store_true", help="write the figures into the weights' metadata")

    t = sub.add_parser("train", help="train or fine-tune a model; resumes from --checkpoint")
    t.add_argument("data", nargs="+", help="folders or files of training images")
    t.add_argument("--arch", default="espcn")
    t.add_argument("--scale", type=int, default=2)
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--patch-size", type=int, default=32, help="LR patch size")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--act", default=None, help="activation for architectures that take one")
    t.add_argument("--init", default=None, help="model to fine-tune (name or .safetensors)")
    t.add_argument("--out", required=True, help="output .safetensors")
    t.add_argument("--checkpoint", default=None, help="checkpoint file (default: OUT.ckpt)")
    t.add_argument("--checkpoint-every", type=int, default=500)
    t.add_argument("--val", default=None, help="validation folder (default: every 20th image held out)")
    t.add_argument("--val-every", type=int, default=500)
    t.add_argument("--channel", choices=("y", "raw"), default="y")
    t.add_argument("--blur-sigma", type=float, default=0.0)
    t.add_argument("--noise-sigma", type=float, default=0.0)
    t.add_argument("--poisson-peak", type=float, default=None)
    t.add_argument("--device", default="auto")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--describe-data", default=None, help="how the training data is described in metadata")

    d = sub.add_parser("demo", help="the main job on the bundled sample image and bundled weights")
    d.add_argument("output", nargs="?", default="superres-demo.ome.zarr")
    d.add_argument("--overwrite", action="store_true")
    return p


def _cmd_train(a) -> None:
    from .training import train

    config = {"act": a.act} if a.act else None
    deg = {"blur_sigma": a.blur_sigma, "noise_sigma": a.noise_sigma, "poisson_peak": a.poisson_peak}
    train(
        a.arch,
        list(a.data),
        a.scale,
        steps=a.steps,
        batch_size=a.batch_size,
        patch_size=a.patch_size,
        lr=a.lr,
        config=config,
        init=a.init,
        out=a.out,
        checkpoint=a.checkpoint or a.out + ".ckpt",
        checkpoint_every=a.checkpoint_every,
        val_data=a.val,
        val_every=a.val_every,
        channel=a.channel,
        degradation={k: v for k, v in deg.items() if v},
        device=a.device,
        seed=a.seed,
        data_description=a.describe_data,
        progress=True,
    )
    print(f"saved {a.out}")


COMMANDS = {"train": "_cmd_train"}


def main(argv: list[str] | None = None) -> int:
    from .errors import SuperResError

    args = _parser().parse_args(argv)
    try:
        globals()[COMMANDS[args.verb]](args)
    except SuperResError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished chunks are kept; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
