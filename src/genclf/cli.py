"""Command-line interface: parse arguments, call the Python API, map errors to exit codes.

Exit codes: 0 success, 2 bad input or usage (one line on stderr), 1 internal bug (traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings
from importlib import resources
from pathlib import Path

from genclf.errors import GenclfError

EXIT_OK, EXIT_BUG, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        sys.stderr.write(f"genclf: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


def default_out(command: str) -> Path:
    return Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"


def default_config_path() -> Path:
    return Path(str(resources.files("genclf") / "configs" / "default.yaml"))


def _common(parser: argparse.ArgumentParser, data: bool = True, training: bool = True) -> None:
    if data:
        parser.add_argument("--data", help="dataset spec: digits | idx:DIR | folder:DIR | npz:FILE")
        parser.add_argument("--image-size", type=int, help="resize images to N x N (folders default to 32)")
        parser.add_argument(
            "--channels",
            type=int,
            choices=(1, 3),
            help="convert images to 1 (grey) or 3 (RGB) channels",
        )
    parser.add_argument("--out", type=Path, help="output folder (default: runs/<command>-<timestamp>/)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="compute device (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    if training:
        parser.add_argument("--config", type=Path, help="YAML config file")
        parser.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. --set train.lr=0.001 (repeatable)",
        )
        parser.add_argument("--seed", type=int, help="random seed (default: 0)")
        parser.add_argument("--epochs", type=int, help="training epochs")
        parser.add_argument("--batch-size", type=int, help="training batch size")
        parser.add_argument("--lr", type=float, help="peak learning rate (AdamW, cosine schedule)")
        parser.add_argument(
            "--precision",
            choices=("auto", "fp32", "32", "bf16", "bf16-mixed", "16-mixed"),
            help="auto = bf16 + channels_last where the hardware has native bf16, else fp32; "
            "16-mixed = fp16 autocast + GradScaler (CUDA)",
        )
        parser.add_argument(
            "--compile", action="store_true", default=None, help="torch.compile the training step (long GPU runs)"
        )
        parser.add_argument(
            "--k-per-class",
            type=int,
            help="keep K labeled training images per class (low-data regime)",
        )


def build_parser() -> argparse.ArgumentParser:
    from genclf.models.classifiers import CLASSIFIERS

    parser = _Parser(prog="genclf", description="Image classification assisted by image generation.")
    parser.add_argument("--version", action="version", version="genclf 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "run",
        help="the main job: strategies x seeds, results table and figures",
        description="Run an experiment config (default: the built-in digits low-data config).",
    )
    p.add_argument(
        "config_file",
        nargs="?",
        type=Path,
        help="YAML config (default: genclf's configs/default.yaml)",
    )
    _common(p)
    p.add_argument("--seeds", type=int, nargs="+", help="seeds to run (default from the config)")
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="run only the I-th of N deterministic slices of the budget x seed x strategy grid "
        "(one per machine; combine the run folders with 'genclf merge')",
    )

    p = sub.add_parser(
        "merge",
        help="combine the run folders of 'genclf run --shard I/N' into one run",
        description="Concatenate the shards' results.csv in grid order, copy their cells and generators, and rebuild "
        "summary.json, the figures and report.html. The shards must share one config.",
    )
    p.add_argument("runs", nargs="+", type=Path, help="run folders of the shards")
    p.add_argument("--out", type=Path, required=True, help="folder of the merged run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser(
        "train",
        help="train one classifier",
        description="Train a classifier; writes model.safetensors, metrics.json, confusion.png.",
    )
    _common(p)
    p.add_argument("--model", choices=CLASSIFIERS.names(), help="classifier architecture (default: cnn)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --out from its last checkpoint",
    )

    p = sub.add_parser(
        "evaluate",
        help="score a trained classifier on a dataset's test split",
        description="Write metrics.json and confusion.png for a checkpoint on a dataset.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="folder written by 'genclf train'")
    p.add_argument(
        "--robustness",
        action="store_true",
        help="accuracy under common corruptions x severities (robustness.json, severity.png)",
    )
    p.add_argument(
        "--corruptions",
        help="comma-separated subset of: gaussian_noise, shot_noise, gaussian_blur, contrast, brightness, "
        "jpeg_compression, pixelate, occlusion, rotation (default: all)",
    )
    p.add_argument("--severities", default="1..5", help="severities in 1..5: a range '1..5' or a list '1,3,5'")
    p.add_argument("--adversarial", action="store_true", help="FGSM and PGD (L-inf) accuracy at each --eps")
    p.add_argument("--eps", default="0,0.05,0.1,0.2", help="comma-separated L-inf radii in [0, 1] pixel units")
    p.add_argument("--pgd-steps", type=int, default=10, help="PGD iterations (step size 2.5 eps / steps)")
    p.add_argument(
        "--max-images", type=int, default=2000, help="test images used for robustness (a fixed random subset)"
    )
    _common(p, training=False)

    p = sub.add_parser(
        "predict",
        help="classify image files",
        description="Classify a file or a folder of images; writes predictions.csv.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="folder written by 'genclf train'")
    p.add_argument("--input", type=Path, required=True, help="an image file or a folder (searched recursively)")
    _common(p, data=False, training=False)

    from genclf.models.generative import GENERATORS

    p = sub.add_parser(
        "train-generator",
        help="train a class-conditional generator (cgan, cvae, ddpm)",
        description="Train a generator; writes model.safetensors and a samples.png grid every epoch.",
    )
    _common(p)
    p.add_argument("--model", choices=GENERATORS.names(), help="generator (default: cvae)")
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted run in --out from its last checkpoint"
    )

    p = sub.add_parser(
        "sample",
        help="generate images from a trained generator",
        description="Write N images per class to an .npz file or to class sub-folders of PNGs.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="folder written by 'genclf train-generator'")
    p.add_argument("--per-class", type=int, default=10, help="images per class (default: 10)")
    p.add_argument("--seed", type=int, default=0)
    _common(p, data=False, training=False)

    p = sub.add_parser(
        "evaluate-generator",
        help="FID/KID, precision/recall/density/coverage and CAS of a generator",
        description="Score a generator against real data, in the feature space of a genclf classifier trained on the real data.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="folder written by 'genclf train-generator'")
    p.add_argument("--per-class", type=int, help="generated images per class (default: min(largest class, 1000))")
    p.add_argument("--seed", type=int, default=0)
    _common(p, training=False)

    p = sub.add_parser(
        "export",
        help="export a trained classifier to ONNX",
        description="Write a model file that runs without genclf: float32 images in [0, 1] (dynamic batch) -> class "
        "probabilities, normalisation inside, class names in the metadata; checked against PyTorch with onnxruntime.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="folder written by 'genclf train'")
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--out", type=Path, required=True, help="output file, e.g. model.onnx")

    from genclf.models.pix2pix import COLORIZERS

    p = sub.add_parser(
        "train-colorizer",
        help="train a grey -> colour model (pix2pix, or the L1-only U-Net)",
        description="Train a colorizer on the colour images of a dataset (labels unused); writes model.safetensors, "
        "a grey | colorized | original strip.png every epoch, and test PSNR/SSIM in colorizer_metrics.json.",
    )
    _common(p)
    p.add_argument("--model", choices=COLORIZERS.names(), help="colorizer (default: pix2pix)")
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted run in --out from its last checkpoint"
    )

    p = sub.add_parser(
        "colorize",
        help="colorize grey images with a trained colorizer",
        description="Colorize an image file or a folder (searched recursively; 1- or 3-channel grey, or colour, "
        "which is made grey first). Writes one PNG per input under --out with the same relative name, and for "
        "colour inputs a grey | colorized | original strip under --out/strips/.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="folder written by 'genclf train-colorizer'")
    p.add_argument("--input", type=Path, required=True, help="an image file or a folder")
    _common(p, data=False, training=False)

    p = sub.add_parser(
        "datasets",
        help="list data schemes, or describe one dataset",
        description="Without SPEC: list the data schemes. With SPEC: class counts, image shape, split sizes.",
    )
    p.add_argument("spec", nargs="?", help="dataset spec to describe")
    p.add_argument("--image-size", type=int)
    p.add_argument("--channels", type=int, choices=(1, 3))
    return parser


def _overrides(args: argparse.Namespace, mapping: dict[str, str]) -> list[str | tuple[str, object]]:
    """Turn the common flags that were given into config overrides (flags win over --set)."""
    out: list[str | tuple[str, object]] = list(getattr(args, "overrides", []) or [])
    for flag, key in mapping.items():
        value = getattr(args, flag, None)
        if value is not None:
            out.append((key, value))
    return out


COMMON_KEYS = {
    "data": "data.spec",
    "image_size": "data.image_size",
    "channels": "data.channels",
    "k_per_class": "data.k_per_class",
    "seed": "seed",
    "seeds": "seeds",
    "model": "model",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "precision": "train.precision",
    "compile": "train.compile",
    "device": "train.device",
}


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = lambda message, category, *rest, **kw: f"genclf: warning: {message}\n"
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from genclf import colorize_commands, commands, generator_commands

    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 speaks for all
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        args.quiet = True
        warnings.simplefilter("ignore")
    handler = f"cmd_{args.command.replace('-', '_')}"
    try:
        module = next(m for m in (commands, generator_commands, colorize_commands) if hasattr(m, handler))
        getattr(module, handler)(args, _overrides(args, COMMON_KEYS))
    except GenclfError as exc:
        sys.stderr.write(f"genclf: error: {' '.join(str(exc).split())}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("genclf: interrupted\n")
        return 130
    except Exception:
        traceback.print_exc()
        sys.stderr.write("genclf: internal error (a bug in genclf); please report it with the traceback above\n")
        return EXIT_BUG
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
