"""The CLI end to end on tiny data: train, evaluate, predict, run, datasets, help."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import TINY_TRAIN, write_folder

from genclf.cli import build_parser


@pytest.mark.parametrize("command", sorted(build_parser()._subparsers._group_actions[0].choices))
def test_every_command_has_help(cli, command):
    result = cli(command, "--help")
    assert result.code == 0 and "usage: genclf " + command in result.out


def test_python_dash_m_is_the_same_program():
    done = subprocess.run([sys.executable, "-m", "genclf", "datasets"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "idx:PATH" in done.stdout


def test_train_evaluate_predict_on_a_folder(cli, tmp_path):
    root = write_folder(tmp_path / "imgs", n_per_class=20, size=16, colour=True)
    out = tmp_path / "model"
    result = cli(
        "train",
        "--data",
        f"folder:{root}",
        "--image-size",
        "16",
        "--channels",
        "3",
        "--model",
        "cnn",
        "--out",
        out,
        *TINY_TRAIN,
    )
    assert result.code == 0, result.err
    for name in ("model.safetensors", "model.json", "metrics.json", "confusion.png", "config.yaml", "history.csv"):
        assert (out / name).stat().st_size > 0, name
    meta = json.loads((out / "model.json").read_text())
    assert meta["class_names"] == ["cat", "dog", "fox"] and meta["image_size"] == 16 and meta["in_channels"] == 3
    assert meta["config"]["train"]["epochs"] == 2
    assert set(json.loads((out / "metrics.json").read_text())) >= {
        "accuracy",
        "macro_f1",
        "macro_precision",
        "macro_recall",
        "per_class",
        "confusion_matrix",
    }

    evaluated = cli("evaluate", "--checkpoint", out, "--data", f"folder:{root}", "--out", tmp_path / "eval")
    assert evaluated.code == 0, evaluated.err
    assert (
        json.loads((tmp_path / "eval" / "metrics.json").read_text())["accuracy"]
        == json.loads((out / "metrics.json").read_text())["accuracy"]
    )

    predicted = cli("predict", "--checkpoint", out, "--input", root / "dog", "--out", tmp_path / "pred")
    assert predicted.code == 0, predicted.err
    rows = list(csv.DictReader((tmp_path / "pred" / "predictions.csv").read_text().splitlines()))
    assert len(rows) == 20
    assert set(rows[0]) == {"path", "predicted", "p_cat", "p_dog", "p_fox"}
    assert sum(float(rows[0][f"p_{c}"]) for c in ("cat", "dog", "fox")) == pytest.approx(1.0, abs=1e-4)


def test_grey_input_to_a_colour_model_is_converted(cli, tmp_path):
    colour = write_folder(tmp_path / "c", n_per_class=6, size=8, colour=True)
    grey = write_folder(tmp_path / "g", n_per_class=2, size=8)
    out = tmp_path / "m"
    assert (
        cli(
            "train", "--data", f"folder:{colour}", "--image-size", "8", "--channels", "3", "--out", out, *TINY_TRAIN
        ).code
        == 0
    )
    assert cli("predict", "--checkpoint", out, "--input", grey, "--out", tmp_path / "p").code == 0


def test_train_cli_flags_override_the_config_file(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: 7, batch_size: 16}\nmodel: crnn\n")
    out = tmp_path / "o"
    assert cli("train", "--config", config, "--epochs", "1", "--quiet", "--precision", "fp32", "--out", out).code == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["train"]["epochs"] == 1 and saved["model"] == "crnn" and saved["train"]["batch_size"] == 16


def test_run_writes_results_summary_and_figures_and_resumes(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 10}\n"
        "train: {epochs: 2, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline, classifier: cnn}, {name: baseline, classifier: crnn}]\n"
        "seeds: [0, 1]\n"
    )
    out = tmp_path / "run"
    result = cli("run", config, "--out", out)
    assert result.code == 0, result.err
    # stderr is not a terminal here, so instead of a bar each finished cell gets one line
    cells = [line.split(":")[0] for line in result.err.splitlines() if line.startswith("cell ")]
    assert cells == [
        "cell 1/4 baseline k=10 seed=0",
        "cell 2/4 baseline[crnn] k=10 seed=0",
        "cell 3/4 baseline k=10 seed=1",
        "cell 4/4 baseline[crnn] k=10 seed=1",
    ], result.err
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 4
    assert set(results["strategy"]) == {"baseline", "baseline[crnn]"} and set(results["seed"]) == {0, 1}
    assert {"accuracy", "macro_f1", "macro_precision", "macro_recall", "roc_auc_ovr", "train_seconds"} <= set(
        results.columns
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budgets_detail"]["10"]["strategies"]["baseline"]["macro_f1"]["n"] == 2
    assert (out / "figures" / "macro_f1_k10.png").stat().st_size > 0 and (out / "report.html").is_file()
    assert (out / "config.yaml").is_file()
    # A second invocation finds every cell done and trains nothing.
    before = (out / "results.csv").read_text()
    again = cli("run", config, "--out", out, "--quiet")
    assert again.code == 0 and (out / "results.csv").read_text() == before


def test_run_without_arguments_uses_the_packaged_default_config():
    parser = build_parser()
    args = parser.parse_args(["run"])
    assert args.config_file is None
    from genclf.cli.common import default_config_path
    from genclf.config import RunConfig, load_config

    config = load_config(RunConfig, default_config_path())
    assert config.data.spec == "digits" and len(config.seeds) == 3


def test_flags_are_exact_and_a_misspelt_flag_or_command_gets_a_suggestion(cli, tmp_path):
    result = cli("run", "--epoch", "2", "--out", tmp_path / "run")  # an abbreviation is not taken as --epochs
    assert result.code == 2 and "did you mean '--epochs'?" in result.err
    assert len(result.err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    result = cli("rnu")
    assert result.code == 2 and "did you mean 'run'?" in result.err
