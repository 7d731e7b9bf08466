"""The CLI's commands, each a short composition of the Python API."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pandas as pd

from genclf.classify import load_classifier, save_classifier, train_classifier
from genclf.cli import default_config_path, default_out
from genclf.config import EvaluationConfig, RunConfig, TrainJobConfig, load_config, save_config, to_dict
from genclf.data import SCHEMES, load_dataset, make_split
from genclf.data.image_folder import read_images
from genclf.errors import CheckpointError, ConfigError, DataError
from genclf.evaluation.extended import extended_evaluation, validate_evaluation
from genclf.evaluation.metrics import compute_metrics
from genclf.experiment import merge_runs, parse_shard, run_experiment
from genclf.files import atomic_write, write_json, write_text
from genclf.reporting.plots import adversarial_curves, confusion_figure, reliability_diagrams, severity_curves
from genclf.reporting.tables import format_table
from genclf.training.checkpoint import STATE_FILE
from genclf.training.trainer import describe


def _say(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message)


def cmd_run(args: argparse.Namespace, overrides: list) -> None:
    overrides = [o for o in overrides if not (isinstance(o, tuple) and o[0] == "seed")]
    if args.seed is not None and args.seeds is None:
        overrides.append(("seeds", [args.seed]))
    config = load_config(RunConfig, args.config_file or args.config or default_config_path(), overrides)
    shard = parse_shard(args.shard)
    out = args.out or default_out("run")
    result = run_experiment(config, out, quiet=args.quiet, shard=shard)
    if shard is not None:
        print(f"shard {shard[0]}/{shard[1]} done; combine all shards with: genclf merge RUN_DIRS... --out DIR")
    print_run(result, out)


def cmd_merge(args: argparse.Namespace, overrides: list) -> None:
    result = merge_runs(args.runs, args.out)
    print(f"merged {len(args.runs)} run folder(s), {len(result.results)} results rows")
    print_run(result, args.out)


def print_run(result, out: Path) -> None:
    for budget, block in result.summary["budgets_detail"].items():
        print(f"\n== {budget} labeled per class ==" if budget != "all" else "\n== all labeled images ==")
        print(format_table(block["strategies"]))
        for name, lines in block["verdicts"].items():
            print(f"  {name}: {lines[0]}")
        print(block["headline"])
        if block.get("robustness"):
            print(block["robustness"]["headline"])
    print(f"\nreport: {out / 'report.html'}\nresults: {out / 'results.csv'}\nsummary: {out / 'summary.json'}")


def prepare_training(args: argparse.Namespace, config, command: str):
    """Output folder, data and split of a training command; checks that ``--resume`` has something to resume."""
    if args.resume and args.out is None:
        raise CheckpointError("--resume", "needs --out DIR, the folder of the interrupted run")
    out = args.out or default_out(command)
    if args.resume and not (out / STATE_FILE).is_file():
        raise CheckpointError(
            out, f"no {STATE_FILE} to resume from (expected the folder of an interrupted 'genclf {command}')"
        )
    d = config.data
    data = load_dataset(d.spec, d.image_size, d.channels)
    split = make_split(data, config.seed, d.val_fraction, d.test_fraction, d.k_per_class, d.imbalance)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")
    return out, data, split


def cmd_train(args: argparse.Namespace, overrides: list) -> None:
    config = load_config(TrainJobConfig, args.config, overrides)
    out, data, split = prepare_training(args, config, "train")
    _say(
        args,
        f"{data.name}: {len(split.train)} train / {len(split.val)} val / {len(split.test)} test images, "
        f"{split.train.num_classes} classes, {split.train.channels}x{split.train.image_size}x{split.train.image_size}",
    )
    trained, result = train_classifier(
        split,
        config.model,
        config.train,
        config.seed,
        state_dir=out,
        resume=args.resume,
        quiet=args.quiet,
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


def cmd_evaluate(args: argparse.Namespace, overrides: list) -> None:
    trained = load_classifier(args.checkpoint, device=args.device or "cpu")
    spec = args.data or "digits"
    data = load_dataset(spec, trained.image_size, trained.channels)
    if data.train.class_names != trained.class_names:
        raise DataError(
            spec,
            f"classes {data.train.class_names} differ from the checkpoint's {trained.class_names}",
        )
    config = _saved_config(args.checkpoint)
    test = (
        data.test
        if data.test is not None
        else make_split(data, 0, test_fraction=config.get("data", {}).get("test_fraction", 0.2)).test
    )
    proba = trained.predict_proba(test.images)
    metrics = compute_metrics(test.labels.numpy(), proba, trained.class_names)
    evaluation = evaluation_options(args)
    out = args.out or default_out("evaluate")
    columns, detail = extended_evaluation(
        trained.predict_proba, trained.pixel_model(), (test.images, test.labels), evaluation, test_proba=proba
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


def _saved_config(folder: Path) -> dict:
    meta = json.loads((folder / "model.json").read_text()) if (folder / "model.json").is_file() else {}
    return meta.get("config", {})


def cmd_predict(args: argparse.Namespace, overrides: list) -> None:
    trained = load_classifier(args.checkpoint, device=args.device or "cpu")
    mode = "L" if trained.channels == 1 else "RGB"
    images, paths = read_images(args.input, trained.image_size, mode)
    proba = trained.predict_proba(images)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "predicted", *[f"p_{name}" for name in trained.class_names]])
    for path, row in zip(paths, proba):
        writer.writerow([str(path), trained.class_names[int(row.argmax())], *[f"{p:.6f}" for p in row]])
    out = args.out or default_out("predict")
    write_text(out / "predictions.csv", buffer.getvalue())
    print(f"{len(paths)} image(s) classified\npredictions: {out / 'predictions.csv'}")


def cmd_export(args: argparse.Namespace, overrides: list) -> None:
    from genclf.export import export_onnx

    trained = load_classifier(args.checkpoint)
    result = export_onnx(trained, args.out)
    print(
        f"exported {trained.name} ({len(trained.class_names)} classes) to {args.out}\n"
        f"input: {result['genclf_input']}\nonnxruntime vs PyTorch: max |Δprob| = {result['max_abs_prob_diff']:.2e}"
    )


def cmd_datasets(args: argparse.Namespace, overrides: list) -> None:
    if args.spec is None:
        for name in SCHEMES.names():
            scheme = SCHEMES.get(name)
            print(f"{name + (':PATH' if scheme.needs_argument else ''):<14} {scheme.help}")
        return
    data = load_dataset(args.spec, args.image_size, args.channels)
    sets = {"train": data.train, "test": data.test}
    print(
        f"{data.name}: {data.train.num_classes} classes, images {data.train.channels}x{data.train.image_size}x{data.train.image_size} uint8"
    )
    table = pd.DataFrame(
        {name: s.class_counts() for name, s in sets.items() if s is not None},
        index=data.train.class_names,
    )
    print(table.to_string())
    print(
        "sizes: "
        + ", ".join(f"{name} {len(s)}" for name, s in sets.items() if s is not None)
        + ("" if data.test is not None else " (no test split: genclf holds out a stratified 20% by default)")
    )
