"""Classifier commands (train, evaluate, predict, export) and datasets, each a short composition of the API."""

from __future__ import annotations

import argparse
import csv
import io
import warnings
from pathlib import Path

from genclf import catalogue
from genclf.cli import common
from genclf.config import EvaluationConfig, TrainJobConfig, to_dict
from genclf.errors import ConfigError, DataError
from genclf.files import atomic_write, check_output_folder, spreadsheet_safe, write_json, write_text


def train_arguments(p: argparse.ArgumentParser) -> None:
    common.model_job_arguments(catalogue.CLASSIFIERS, "classifier architecture", "cnn")(p)
    p.add_argument(
        "--pretrained",
        action="store_true",
        default=None,
        help="start resnet18 from torchvision's ImageNet weights in the local torch hub cache (never downloaded)",
    )
    p.add_argument("--weights", help="start resnet18 from this state dict (.safetensors, or .pth read weights-only)")


def cmd_train(args: argparse.Namespace) -> None:
    common.check_keys(TrainJobConfig, args)  # a bad --set key is refused before anything heavy is imported
    import pandas as pd

    from genclf.evaluation.metrics import compute_metrics
    from genclf.models.classifiers import CLASSIFIERS
    from genclf.pipelines.classify import save_classifier, train_classifier
    from genclf.reporting.plots import confusion_figure
    from genclf.training.trainer import describe

    if args.pretrained:
        args.overrides.append(("options.pretrained", True))
    if args.weights:
        args.overrides.append(("options.weights", args.weights))
    base = common.data_defaults(args, "digits", schedule=True)
    config, out, data, split = common.prepare_job(args, TrainJobConfig, CLASSIFIERS, "train", base=base)
    common.say(
        args,
        f"{data.name}: {len(split.train)} train / {len(split.val)} val / {len(split.test)} test images, "
        f"{split.train.num_classes} classes, {split.train.channels}x{split.train.image_size}x{split.train.image_size}",
    )
    trained, result = train_classifier(
        split, config.model, common.resumable(args, out, config.train, config.seed), options=config.options
    )
    metrics = compute_metrics(split.test.labels.numpy(), trained.predict_proba(split.test.images), split.class_names)
    save_classifier(out, trained, config=to_dict(config), test_metrics=metrics.scalars(), fit=describe(result))
    write_json(out / "metrics.json", metrics.to_dict())
    history = pd.DataFrame(result.history)
    atomic_write(out / "history.csv", lambda tmp: history.to_csv(tmp, index=False))
    confusion_figure(
        metrics.confusion_matrix,
        split.class_names,
        f"{config.model} on {data.name} (test)",
        out / "confusion.png",
    )
    print(
        f"test accuracy {metrics.accuracy:.4f}  macro-F1 {metrics.macro_f1:.4f}  ({result.epochs_run} epochs, best {result.best_epoch}, {result.images_per_second:.0f} img/s)"
    )
    print(f"checkpoint: {out}")


def evaluate_arguments(p: argparse.ArgumentParser) -> None:
    common.add_checkpoint(p, "train")
    p.add_argument(
        "--robustness",
        action="store_true",
        help="accuracy under common corruptions x severities (robustness.json, severity.png)",
    )
    p.add_argument(
        "--corruptions", help=f"comma-separated subset of: {', '.join(catalogue.CORRUPTIONS)} (default: all)"
    )
    p.add_argument("--severities", default="1..5", help="severities in 1..5: a range '1..5' or a list '1,3,5'")
    p.add_argument("--adversarial", action="store_true", help="FGSM and PGD (L-inf) accuracy at each --eps")
    p.add_argument("--eps", default="0,0.05,0.1,0.2", help="comma-separated L-inf radii in [0, 1] pixel units")
    p.add_argument("--pgd-steps", type=int, default=10, help="PGD iterations (step size 2.5 eps / steps)")
    p.add_argument(
        "--max-images", type=int, default=2000, help="test images used for robustness (a fixed random subset)"
    )
    common.add_common(p, training=False)
    common.add_inference_batch(p)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from genclf.data import load_dataset
    from genclf.evaluation.extended import extended_evaluation
    from genclf.evaluation.metrics import compute_metrics
    from genclf.pipelines.classify import load_classifier
    from genclf.reporting.plots import confusion_figure, reliability_diagrams

    evaluation = evaluation_options(args)
    batch_size = common.inference_batch(args)
    args.checkpoint = checkpoint_of(args)
    trained = load_classifier(args.checkpoint, device=args.device or "cpu")
    _, saved = common.recorded_training(args.checkpoint)
    spec = args.data or saved.get("spec") or "digits"  # default: the data the checkpoint was trained on
    data = load_dataset(spec, trained.image_size, trained.channels)
    if data.train.class_names != trained.class_names:
        raise DataError(
            spec,
            f"classes {data.train.class_names} differ from the checkpoint's {trained.class_names}",
        )
    test = data.test if data.test is not None else common.recorded_split(args.checkpoint, data).test
    proba = trained.predict_proba(test.images, batch_size)
    metrics = compute_metrics(test.labels.numpy(), proba, trained.class_names)
    out = check_output_folder(args.out or common.default_out("evaluate"))
    args.out = out  # where environment.json goes
    columns, detail = extended_evaluation(
        lambda images: trained.predict_proba(images, batch_size),
        trained.pixel_model(),
        (test.images, test.labels),
        evaluation,
        test_proba=proba,
    )
    write_json(out / "metrics.json", {**metrics.to_dict(), "ece": columns["ece"], "nll": columns["nll"]})
    confusion_figure(
        metrics.confusion_matrix,
        trained.class_names,
        f"{trained.name} on {data.name} (test)",
        out / "confusion.png",
    )
    reliability_diagrams(
        {trained.name: (detail["calibration"]["reliability"], columns["ece"])},
        out / "reliability.png",
        f"reliability on {data.name} (test)",
    )
    print(
        f"test accuracy {metrics.accuracy:.4f}  macro-F1 {metrics.macro_f1:.4f}  ECE {columns['ece']:.4f}  on {len(test)} images"
    )
    if evaluation.robustness or evaluation.adversarial:
        write_robustness(out, detail, trained.name, data.name)
    print(f"metrics: {out / 'metrics.json'}")


def evaluation_options(args: argparse.Namespace) -> EvaluationConfig:
    """--robustness/--corruptions/--severities/--adversarial/--eps as a validated EvaluationConfig."""
    from genclf.evaluation.extended import validate_evaluation

    corruptions = [c.strip() for c in args.corruptions.split(",") if c.strip()] if args.corruptions else None
    return validate_evaluation(
        EvaluationConfig(
            robustness=args.robustness,
            corruptions=corruptions,
            severities=_int_list(args.severities, "--severities"),
            adversarial=args.adversarial,
            eps=_float_list(args.eps, "--eps"),
            pgd_steps=args.pgd_steps,
            max_images=args.max_images,
        ),
        where=None,
    )


def _int_list(text: str, flag: str) -> list[int]:
    """'1..5' or '1,3,5' -> [1, ...]."""
    try:
        if ".." in text:
            low, high = text.split("..")
            return list(range(int(low), int(high) + 1))
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(flag, f"expected a range like 1..5 or a list like 1,3,5, got {text!r}") from None


def _float_list(text: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(flag, f"expected comma-separated numbers, got {text!r}") from None


def write_robustness(out: Path, detail: dict, model: str, data: str) -> None:
    """robustness.json, accuracy-vs-severity curves (one line per corruption) and the attack curves."""
    from genclf.reporting.plots import adversarial_curves, severity_curves

    write_json(out / "robustness.json", detail)
    corruption = detail.get("corruptions")
    if corruption:
        severities = [0, *corruption["severities"]]
        curves = {
            name: (severities, [corruption["clean_accuracy"], *row.values()])
            for name, row in corruption["accuracy"].items()
        }
        severity_curves(curves, out / "severity.png", f"{model} on {data}: accuracy vs corruption severity")
        print(
            f"clean accuracy {corruption['clean_accuracy']:.4f}  mean corruption accuracy "
            f"{corruption['mean_corruption_accuracy']:.4f}  ({corruption['n_images']} images)"
        )
        for name, row in corruption["accuracy"].items():
            print(f"  {name:<17}" + "  ".join(f"s{s}: {a:.3f}" for s, a in row.items()))
    attack = detail.get("adversarial")
    if attack:
        adversarial_curves(
            {
                f"{model} FGSM": (attack["eps"], attack["fgsm_accuracy"]),
                f"{model} PGD": (attack["eps"], attack["pgd_accuracy"]),
            },
            out / "adversarial.png",
            f"{model} on {data}: accuracy under L-inf attacks",
        )
        for e, f, p in zip(attack["eps"], attack["fgsm_accuracy"], attack["pgd_accuracy"]):
            print(f"  eps {e:g}: FGSM {f:.4f}  PGD-{attack['pgd_steps']} {p:.4f}")
    print(f"robustness: {out / 'robustness.json'}")


def add_model_source(p: argparse.ArgumentParser) -> None:
    """--checkpoint DIR, or --run RUN_DIR [--strategy NAME] [--seed N] [--budget K]: a run's saved model."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="folder written by 'genclf train'")
    source.add_argument(
        "--run", type=Path, help="a 'genclf run' folder: its saved model of the recommended strategy (or --strategy)"
    )
    p.add_argument("--strategy", help="with --run: the strategy whose model to use (default: the recommended one)")
    p.add_argument("--seed", type=int, help="with --run: the seed's model (default: the lowest saved)")
    p.add_argument("--budget", help="with --run: the labeled budget (k per class, or 'all'; default: the first)")


def checkpoint_of(args: argparse.Namespace) -> Path:
    if getattr(args, "run", None) is None:
        for flag in ("strategy", "seed", "budget"):
            if getattr(args, flag, None) is not None:
                raise ConfigError(f"--{flag}", "only goes with --run RUN_DIR")
        return args.checkpoint
    from genclf.run.folder import RunFolder

    path = RunFolder(args.run).saved_model(args.strategy, args.seed, args.budget)
    common.say(args, f"model: {path}")
    return path


def predict_arguments(p: argparse.ArgumentParser) -> None:
    add_model_source(p)
    p.add_argument("--input", type=Path, required=True, help="an image file or a folder (searched recursively)")
    common.add_common(p, data=False, training=False)
    common.add_inference_batch(p)


def cmd_predict(args: argparse.Namespace) -> None:
    from genclf.data.image_folder import read_images
    from genclf.data.images import grey_images
    from genclf.pipelines.classify import load_classifier

    batch_size = common.inference_batch(args)
    args.checkpoint = checkpoint_of(args)
    trained = load_classifier(args.checkpoint, device=args.device or "cpu")
    mode = "L" if trained.channels == 1 else "RGB"
    images, paths = read_images(args.input, trained.image_size, mode)
    if trained.channels == 3 and bool(grey_images(images).all()):
        warnings.warn(
            f"every input image is grey, but {args.checkpoint} was trained on colour images: expect lower accuracy; "
            "colorize them first (genclf colorize) or use a model trained on grey images",
            stacklevel=2,
        )
    proba = trained.predict_proba(images, batch_size)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "predicted", *[spreadsheet_safe(f"p_{name}") for name in trained.class_names]])
    for path, row in zip(paths, proba):
        predicted = trained.class_names[int(row.argmax())]
        writer.writerow([spreadsheet_safe(path), spreadsheet_safe(predicted), *[f"{p:.6f}" for p in row]])
    out = check_output_folder(args.out or common.default_out("predict"))
    args.out = out  # where environment.json goes
    write_text(out / "predictions.csv", buffer.getvalue())
    print(f"{len(paths)} image(s) classified\npredictions: {out / 'predictions.csv'}")


def export_arguments(p: argparse.ArgumentParser) -> None:
    add_model_source(p)
    p.add_argument("--format", choices=("onnx",), default="onnx", help="model file format")
    p.add_argument("--out", type=Path, required=True, help="output file, e.g. model.onnx")


def cmd_export(args: argparse.Namespace) -> None:
    from genclf.pipelines.classify import load_classifier
    from genclf.pipelines.export import export_onnx

    trained = load_classifier(checkpoint_of(args))
    result = export_onnx(trained, args.out)
    print(
        f"exported {trained.name} ({len(trained.class_names)} classes) to {args.out}\n"
        f"input: {result['genclf_input']}\nonnxruntime vs PyTorch: max |Δprob| = {result['max_abs_prob_diff']:.2e}"
    )


COMMANDS = [
    common.Command(
        "train",
        "Train a classifier; writes model.safetensors, metrics.json, confusion.png.",
        train_arguments,
        cmd_train,
    ),
    common.Command(
        "evaluate",
        "Write metrics.json and confusion.png for a checkpoint on a dataset (default: the data it was trained on, "
        "with its recorded split).",
        evaluate_arguments,
        cmd_evaluate,
    ),
    common.Command(
        "predict",
        "Classify a file or a folder of images; writes predictions.csv.",
        predict_arguments,
        cmd_predict,
    ),
    common.Command(
        "export",
        "Write a model file that runs without genclf: uint8 images 0..255 (dynamic batch) -> class "
        "probabilities, normalisation inside, class names in the metadata; checked against PyTorch with onnxruntime.",
        export_arguments,
        cmd_export,
    ),
]
