"""The Python API: the scikit-learn estimator, one input convention, load_run / load_model, tracking,
fast start-up, file modes, and the README's Python API section (executed)."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone, is_classifier
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import genclf
from genclf.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
FAST = {"epochs": 2, "batch_size": 64, "precision": "fp32", "device": "cpu"}


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    images = np.round(d.images * 255 / 16).astype(np.uint8)  # (1797, 8, 8) uint8
    return images, d.target


def test_estimator_in_pipeline_cross_val_score_and_grid_search(digits):
    X, y = digits
    X, y = X[:600], y[:600]
    assert is_classifier(genclf.ImageClassifier())
    # a Pipeline whose first step hands images through unchanged (e.g. a user's preprocessing)
    pipe = Pipeline([("identity", FunctionTransformer(lambda a: a)), ("clf", genclf.ImageClassifier(**FAST))])
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(pipe, X, y, cv=cv)
    assert scores.shape == (3,) and scores.min() > 0.5  # 10 classes: chance is 0.1
    search = GridSearchCV(genclf.ImageClassifier(**FAST), {"strategy": ["baseline", "mixup"]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["strategy"] in ("baseline", "mixup")
    assert set(search.cv_results_["param_strategy"]) == {"baseline", "mixup"}
    assert search.score(X[:100], y[:100]) > 0.5


def test_estimator_follows_scikit_learn_conventions(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = genclf.ImageClassifier(**FAST, random_state=3)
    assert clone(clf).get_params() == clf.get_params()
    assert not hasattr(clf, "classes_")
    with pytest.raises(Exception, match="not fitted"):
        clf.predict(X[:2])
    assert clf.fit(X[:400], names[y[:400]]) is clf  # string labels, as scikit-learn allows
    assert list(clf.classes_) == sorted(names)
    predicted = clf.predict(X[400:450])
    assert predicted.dtype.kind == "U" and set(predicted) <= set(names)
    proba = clf.predict_proba(X[400:450])
    assert proba.shape == (50, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    # deterministic: same random_state, same probabilities; pickles round trip
    again = clone(clf).fit(X[:400], names[y[:400]])
    np.testing.assert_allclose(again.predict_proba(X[400:450]), proba, atol=1e-6)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(X[400:450]), proba, atol=1e-6)
    # order of samples does not change a sample's prediction
    order = np.arange(450, 400, -1) - 1
    np.testing.assert_allclose(clf.predict_proba(X[order]), proba[::-1], atol=1e-6)


API_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_get_params_invariance",
    "check_set_params",
    "check_parameters_default_constructible",
    "check_mixin_order",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimators_unfitted",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_decision_proba_consistency",
]


@pytest.mark.parametrize("check", API_CHECKS)
def test_scikit_learns_checks_that_apply_to_images_pass(check):
    """scikit-learn's own checks of the estimator API (clone, params, repr, init, unfitted errors, tags).
    Its other checks feed 2-D feature matrices (N, F), which are not images: ImageClassifier rejects them with
    a clear ValueError, declares ``three_d_array`` input in its tags (so check_estimator skips them), and the
    image versions of those checks (fit returns self, idempotent fit, pickling, sample order, misuse errors)
    are the other tests of this file."""
    from sklearn.utils import estimator_checks

    getattr(estimator_checks, check)("ImageClassifier", genclf.ImageClassifier(**FAST))


@pytest.mark.parametrize(
    "fit_args, message",
    [
        ((np.zeros((20, 8, 8), np.float32), np.arange(20) % 2), "need their range stated"),
        ((np.zeros((20, 64)), np.arange(20) % 2), "expected a batch of images"),
        ((np.zeros((20, 8, 9), np.uint8), np.arange(20) % 2), "must be square"),
        ((np.full((20, 8, 8), 300), np.arange(20) % 2), "0..255"),
        ((np.zeros((20, 8, 8), np.uint8), np.arange(19) % 2), "one label per image"),
        ((np.zeros((20, 8, 8), np.uint8), np.zeros(20)), "at least 2 classes"),
        ((np.zeros((20, 8, 8), np.uint8), np.linspace(0, 1, 20)), "Unknown label type"),
        (("images.png", [0, 1]), "expected a numpy array or torch tensor"),
    ],
)
def test_estimator_misuse_is_one_clear_value_error(fit_args, message):
    with pytest.raises(ValueError, match=message):
        genclf.ImageClassifier(**FAST).fit(*fit_args)


def test_float_images_need_a_stated_and_respected_range(digits):
    X, y = digits
    as_float = X[:300].astype(np.float32) / 255.0
    clf = genclf.ImageClassifier(**FAST, value_range=(0, 1)).fit(as_float, y[:300])
    uint8_clf = genclf.ImageClassifier(**FAST).fit(X[:300], y[:300])
    np.testing.assert_allclose(clf.predict_proba(as_float[:20]), uint8_clf.predict_proba(X[:20]), atol=1e-5)
    with pytest.raises(DataError, match=r"values must lie in \[0, 1\]"):
        clf.predict(as_float[:5] * 255)  # 0..255 floats declared as 0..1: caught, not scored as garbage
    with pytest.raises(DataError, match="expects 8x8 images, got 4x4"):
        clf.predict(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(DataError, match="expects 1-channel images, got 3"):
        clf.predict(np.zeros((3, 8, 8, 3), np.float32))


def test_unlabeled_pool_reaches_semi_supervised_strategies(digits):
    X, y = digits
    clf = genclf.ImageClassifier(strategy="pseudo_label", params={"threshold": 0.2}, **{**FAST, "epochs": 15})
    clf.fit(X[:300], y[:300], X_unlabeled=X[300:900])
    assert clf.strategy_.extra["n_pseudo"] > 0  # the pool was used
    assert np.isnan(clf.strategy_.extra["pseudo_label_accuracy"])  # its labels are unknown: not made up
    with pytest.raises(DataError, match="X_unlabeled: the model expects 8x8"):
        genclf.ImageClassifier(strategy="pseudo_label", **FAST).fit(
            X[:100], y[:100], X_unlabeled=np.zeros((5, 4, 4), np.uint8)
        )


def test_trained_classifier_takes_numpy_and_torch_with_one_convention(cli, tmp_path, digits):
    X, _ = digits
    assert (
        cli(
            "train", "--data", "digits", "--epochs", "1", "--quiet", "--precision", "fp32", "--out", tmp_path / "m"
        ).code
        == 0
    )
    model = genclf.load_model(tmp_path / "m")
    assert isinstance(model, genclf.TrainedClassifier)
    from_numpy = model.predict_proba(X[:16])  # (N, H, W) uint8 numpy
    from_torch = model.predict_proba(torch.from_numpy(X[:16]).unsqueeze(1))  # (N, C, H, W) uint8 tensor
    np.testing.assert_allclose(from_numpy, from_torch)
    assert model.predict(X[:3]) == [model.class_names[i] for i in from_numpy[:3].argmax(1)]
    with pytest.raises(DataError, match="value_range"):
        model.predict_proba(X[:4].astype(np.float32) / 255)
    np.testing.assert_allclose(model.predict_proba(X[:16] / 255.0, value_range=(0, 1)), from_numpy, atol=1e-6)
    with pytest.raises(DataError, match="expects 8x8 images, got 4x4"):
        model.predict_proba(np.zeros((2, 4, 4), np.uint8))


def test_load_model_knows_every_kind_and_refuses_other_folders(cli, tmp_path):
    gen = tmp_path / "g"
    code = cli("train-generator", "--data", "digits", "--model", "cvae", "--epochs", "1", "--quiet", "--out", gen).code
    assert code == 0
    generator = genclf.load_model(gen)
    assert generator.sample_per_class(2).images.shape == (20, 1, 8, 8)
    with pytest.raises(genclf.GenclfError, match="not a genclf checkpoint folder"):
        genclf.load_model(tmp_path)


def test_load_run_round_trip(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 10}\n"
        "train: {epochs: 1, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}, {name: mixup}]\n"
        "seeds: [0, 1]\n"
    )
    assert cli("run", config, "--out", tmp_path / "run", "--quiet").code == 0
    run = genclf.load_run(tmp_path / "run")
    import pandas as pd

    assert run.results.equals(pd.read_csv(tmp_path / "run" / "results.csv", keep_default_na=False, na_values=[""]))
    assert set(run.results["strategy"]) == {"baseline", "mixup"} and len(run.results) == 4
    assert run.config.seeds == [0, 1] and run.config.train.epochs == 1
    assert run.report == tmp_path / "run" / "report.html" and run.report.is_file()
    assert run.figures and all(path.is_file() for path in run.figures.values())
    assert "mixup" in run.headline or "No" in run.headline or "inconclusive" in run.headline
    assert list(run.strategies().index.get_level_values(0)) == ["baseline", "mixup"]
    history = sorted((tmp_path / "run" / "history").glob("*.csv"))
    assert len(history) == 4  # every cell's epochs: one history file per (strategy, seed)
    assert {"model", "epoch", "train_loss"} <= set(pd.read_csv(history[0]).columns)
    manifest = (tmp_path / "run" / "run.json").read_text()
    assert '"torch"' in manifest and '"cpu_capability"' in manifest
    with pytest.raises(genclf.GenclfError, match="not a genclf run folder"):
        genclf.load_run(tmp_path)


def test_tensorboard_and_mlflow_receive_epochs_params_and_artifacts(cli, tmp_path):
    pytest.importorskip("tensorboard")
    mlflow = pytest.importorskip("mlflow")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "t"
    args = ["train", "--data", "digits", "--epochs", "3", "--quiet", "--precision", "fp32", "--out", out]
    assert cli(*args, "--log-to", "tensorboard", "--log-to", "mlflow").code == 0
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0}).Reload()
    losses = events.Scalars("cnn/train_loss")
    assert [e.step for e in losses] == [1, 2, 3]
    assert "cnn/val_macro_f1" in events.Tags()["scalars"]
    assert any(tag.startswith("figures/confusion") for tag in events.Tags()["images"])

    client = mlflow.tracking.MlflowClient((out / "mlruns").resolve().as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("genclf").experiment_id])
    assert run.data.params["model"] == "cnn" and run.data.params["train.epochs"] == "3"
    history = client.get_metric_history(run.info.run_id, "cnn/train_loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.value for m in history] == pytest.approx([e.value for e in losses])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "confusion.png", "history.csv"} <= artifacts
    assert (out / "environment.json").is_file()


def test_a_tracked_run_logs_every_cell(cli, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 10}\ntrain: {epochs: 2, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}]\nseeds: [0, 1]\n"
    )
    assert cli("run", config, "--out", tmp_path / "run", "--quiet", "--log-to", "tensorboard").code == 0
    board = tmp_path / "run" / "tensorboard"
    assert sorted(p.name for p in board.iterdir() if p.is_dir()) == ["baseline_k10_seed0", "baseline_k10_seed1"]
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    for seed in (0, 1):  # one run directory per cell, the same tags in each: TensorBoard overlays the cells
        events = EventAccumulator(str(board / f"baseline_k10_seed{seed}")).Reload()
        assert {"cnn/train_loss", "cnn/val_macro_f1", "results/macro_f1"} <= set(events.Tags()["scalars"])
        assert [e.step for e in events.Scalars("cnn/train_loss")] == [1, 2]
        (final,) = events.Scalars("results/macro_f1")
        assert final.value == pytest.approx(results.loc[results["seed"] == seed, "macro_f1"].item(), abs=1e-6)
    top = EventAccumulator(str(board)).Reload().Tags()
    assert "results/baseline/k10/macro_f1" in top["scalars"] and "config/text_summary" in top["tensors"]


def test_unknown_tracking_backend_is_a_usage_error(cli, tmp_path):
    result = cli("train", "--data", "digits", "--log-to", "wandb", "--out", tmp_path / "x")
    assert result.code == 2 and "--log-to" in result.err


HELP_AND_USAGE_ERRORS = [
    ["--help"],
    ["--version"],
    ["datasets"],
    *[[command, "--help"] for command in ("run", "train", "evaluate", "predict", "export", "train-generator")],
    *[[command, "--help"] for command in ("sample", "train-colorizer", "colorize", "report", "merge")],
    ["run", "--epoch", "2"],  # a misspelt flag
    ["run", "--set", "train.epochz=2", "--dry-run"],  # an unknown config key
    ["train", "--set", "data.spek=digits"],
    ["train", "--model", "cnnn"],  # an unknown model: the registry is imported only to check it
]


def test_start_up_imports_no_torch_sklearn_or_pandas():
    """Help pages and usage errors answer without the heavy libraries (measured: bench/startup.py). One
    process runs them all in turn (each ends in SystemExit or returns its exit code) and says, after each,
    which heavy module it found imported."""
    code = (
        "import sys\nfrom genclf.cli import main\n"
        f"for argv in {HELP_AND_USAGE_ERRORS[:-1]!r}:\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "    heavy = [m for m in ('torch', 'sklearn', 'pandas', 'matplotlib', 'scipy') if m in sys.modules]\n"
        "    print('HEAVY', argv, heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = [line for line in done.stderr.splitlines() if line.startswith("HEAVY")]
    assert len(lines) == len(HELP_AND_USAGE_ERRORS) - 1
    assert all(line.endswith("[]") for line in lines), lines


def test_the_catalogue_lists_every_shipped_registration():
    """The names help pages show without importing the registries are the registries' own."""
    from genclf import catalogue
    from genclf.evaluation.robustness import CORRUPTIONS
    from genclf.models.classifiers import CLASSIFIERS
    from genclf.models.generative import GENERATORS
    from genclf.models.pix2pix import COLORIZERS
    from genclf.strategies import STRATEGIES

    assert {name: STRATEGIES.get(name).role for name in STRATEGIES.names()} == catalogue.STRATEGY_ROLES
    assert set(catalogue.CLASSIFIERS) == set(CLASSIFIERS.names()) - {"efficientnet_lite1", "efficientnet_lite2"}
    assert set(catalogue.GENERATORS) == set(GENERATORS.names())
    assert set(catalogue.COLORIZERS) == set(COLORIZERS.names())
    assert tuple(CORRUPTIONS) == catalogue.CORRUPTIONS


def test_an_unknown_model_is_one_line_naming_the_choices(cli, tmp_path):
    result = cli("train", "--model", "cnnn", "--out", tmp_path / "x")
    assert result.code == 2 and "unknown classifier 'cnnn'; expected one of:" in result.err
    assert "crnn" in result.err and not (tmp_path / "x").exists()


def test_cli_index_matches_the_commands_and_every_flag_has_help():
    from genclf.cli import INDEX, build_parser, command
    from genclf.models.generative import GENERATORS

    parser = build_parser()
    for name in INDEX:
        assert command(name).name == name
    assert f"({', '.join(GENERATORS.names())})" in INDEX["train-generator"][1]
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, sub in subparsers.items()
        for action in sub._actions
        if not action.help and "-h" not in action.option_strings
    ]
    assert missing == []
    assert "(default: 512)" in subparsers["predict"].format_help()


def test_shipped_configs_run_by_name_and_bad_names_say_what_exists(cli):
    from genclf.cli.common import resolve_config, shipped_configs

    assert {"default", "mnist_imbalance", "fashion_low_data"} <= set(shipped_configs())
    assert resolve_config("mnist_imbalance") == shipped_configs()["mnist_imbalance"]
    result = cli("run", "no_such_config")
    assert result.code == 2 and "mnist_imbalance" in result.err and "Traceback" not in result.err


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_outputs_follow_the_umask(tmp_path, umask, mode):
    from genclf.files import write_json

    old = os.umask(umask)
    try:
        path = write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary file left behind


def test_wheel_builds_installs_in_a_fresh_venv_and_runs(tmp_path):
    """The wheel carries the code, py.typed, LICENSE and the example configs; installed alone in a fresh venv
    (dependencies from this environment), 'genclf run' works from any folder."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, ROOT],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("genclf-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "genclf/py.typed" in names and "genclf/configs/mnist_imbalance.yaml" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    venv = tmp_path / "venv"
    # Not --system-site-packages: inside a virtual environment that means the base interpreter's packages,
    # not this environment's. The dependencies come from this environment's site-packages through a .pth
    # file instead (whose own .pth files, such as an editable install of the checkout, are not read).
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    own = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    import sysconfig

    here = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(own) / "dependencies.pth").write_text("\n".join(here) + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], check=True)
    where = subprocess.run(
        [python, "-c", "import genclf.cli, sys; print(genclf.cli.__file__)"], capture_output=True, text=True, check=True
    ).stdout
    assert str(venv) in where  # the wheel's copy, not the checkout
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 5}\ntrain: {epochs: 1, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}]\nseeds: [0]\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [venv / "bin" / "genclf", "run", config, "--out", tmp_path / "run", "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / "report.html").is_file()


def test_readme_python_api_section_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's Python API section has no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md (Python API)", "exec"), namespace)  # noqa: S102


def test_an_image_classifier_saves_loads_and_exports_without_pickle(tmp_path):
    from sklearn.datasets import load_digits

    from genclf import ImageClassifier

    digits = load_digits()
    X = (digits.images * 16).clip(0, 255).astype(np.uint8)
    y = np.array([f"d{v}" for v in digits.target])
    clf = ImageClassifier(strategy="class_weights", epochs=2, precision="fp32").fit(X[:400], y[:400])
    folder = clf.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]
    back = ImageClassifier.load(folder)
    np.testing.assert_allclose(back.predict_proba(X[400:450]), clf.predict_proba(X[400:450]), atol=1e-6)
    assert list(back.predict(X[400:410])) == list(clf.predict(X[400:410])) and back.strategy == "class_weights"
    assert genclf.load_model(folder).class_names == list(clf.classes_)
    assert back.export_onnx(tmp_path / "m.onnx")["max_abs_prob_diff"] < 1e-4


def test_an_mlflow_run_has_one_child_per_cell_with_its_params_metrics_and_the_run_outputs(cli, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 5}\ntrain: {epochs: 2, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}, {name: class_weights}]\nseeds: [0, 1]\n"
    )
    out = tmp_path / "run"
    assert cli("run", config, "--out", out, "--quiet", "--log-to", "mlflow").code == 0
    client = mlflow.tracking.MlflowClient((out / "mlruns").resolve().as_uri())
    runs = client.search_runs([client.get_experiment_by_name("genclf").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and len(children) == 4  # 2 strategies x 2 seeds
    results = pd.read_csv(out / "results.csv")
    for child in children:
        p = child.data.params
        assert {p["strategy"], p["role"]} in ({"baseline"}, {"class_weights", "classical"})
        assert p["budget"] == "5" and p["seed"] in ("0", "1") and p["classifier"] == "cnn"
        row = results[(results["strategy"] == p["strategy"]) & (results["seed"] == int(p["seed"]))].iloc[0]
        assert child.data.metrics["macro_f1"] == pytest.approx(row["macro_f1"])
        assert [
            m.step for m in client.get_metric_history(child.info.run_id, f"{child.info.run_name}/cnn/train_loss")
        ] == [1, 2]
        assert child.data.tags["genclf.version"] == genclf.__version__
    parent = parents[0]
    assert parent.data.tags["genclf.version"] == genclf.__version__ and "torch.version" in parent.data.tags
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"results.csv", "summary.json", "config.yaml", "environment.json", "report.html"} <= artifacts
    environment = json.loads((out / "environment.json").read_text())
    assert environment["scikit-learn"] and environment["imbalanced-learn"] and environment["torchvision"]
    assert environment["device"] == "cpu" and environment["device_requested"] == "auto"
