"""Models out of every run: the recommended strategy's classifiers saved, usable by predict, export and
load_model, with the run's own test-set probabilities."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import genclf
from genclf.data import load_dataset, make_split
from genclf.pipelines.classify import load_classifier

CONFIG = (
    "data: {spec: digits, k_per_class: 10}\n"
    "train: {epochs: 3, batch_size: 32, precision: fp32}\n"
    "strategies: [{name: baseline}, {name: class_weights}, {name: mixup}]\nseeds: [0, 1]\n"
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from genclf.cli import main

    root = tmp_path_factory.mktemp("run")
    (root / "run.yaml").write_text(CONFIG)
    assert main(["run", str(root / "run.yaml"), "--out", str(root / "out"), "--quiet", "--workers", "1"]) == 0
    return root / "out"


def test_the_recommended_strategy_and_the_baseline_keep_their_models_and_the_summary_says_which(run):
    summary = json.loads((run / "summary.json").read_text())
    detail = summary["budgets_detail"]["10"]
    recommended = detail["recommended"]
    assert recommended in ("baseline", "class_weights", "mixup")
    assert detail["recommendation"].startswith(f"Use {recommended}: macro_f1 ")
    kept = {p.name for p in (run / "models").iterdir()}
    assert kept == {"baseline", recommended}
    for strategy in kept:
        assert sorted(p.name for p in (run / "models" / strategy).iterdir()) == ["k10_seed0", "k10_seed1"]
    results = pd.read_csv(run / "results.csv")
    assert set(results["model"].dropna()) >= {f"models/baseline/k10_seed{s}" for s in (0, 1)}


def test_a_saved_model_reproduces_the_runs_own_test_probabilities(run):
    data = load_dataset("digits")
    for seed in (0, 1):
        folder = run / "models" / "baseline" / f"k10_seed{seed}"
        split = make_split(data, seed, k_per_class=10)
        expected = np.load(folder / "test_proba.npy")
        np.testing.assert_allclose(load_classifier(folder).predict_proba(split.test.images), expected, atol=1e-6)
    loaded = genclf.load_model(run, strategy="baseline", seed=1)
    np.testing.assert_allclose(
        loaded.predict_proba(make_split(data, 1, k_per_class=10).test.images),
        np.load(run / "models" / "baseline" / "k10_seed1" / "test_proba.npy"),
        atol=1e-6,
    )


def test_predict_and_export_take_a_run_folder(cli, run, tmp_path):
    split = make_split(load_dataset("digits"), 0, k_per_class=10)
    (tmp_path / "in").mkdir()
    for i in range(6):
        Image.fromarray(split.test.images[i, 0].numpy()).save(tmp_path / "in" / f"{i}.png")
    result = cli("predict", "--run", run, "--strategy", "baseline", "--input", tmp_path / "in", "--out", tmp_path / "p")
    assert result.code == 0, result.err
    table = pd.read_csv(tmp_path / "p" / "predictions.csv")
    expected = np.load(run / "models" / "baseline" / "k10_seed0" / "test_proba.npy")[:6]
    order = [int(p.split("/")[-1].split(".")[0]) for p in table["path"]]
    np.testing.assert_allclose(table.filter(like="p_").to_numpy()[np.argsort(order)], expected, atol=1e-5)
    exported = cli("export", "--run", run, "--out", tmp_path / "m.onnx")
    assert exported.code == 0, exported.err
    assert (tmp_path / "m.onnx").is_file()
    missing = cli("predict", "--run", run, "--strategy", "smote", "--input", tmp_path / "in", "--out", tmp_path / "q")
    assert missing.code == 2 and "saved:" in missing.err and not (tmp_path / "q").exists()


def test_save_models_none_keeps_nothing_and_all_keeps_every_strategy(cli, tmp_path):
    (tmp_path / "run.yaml").write_text(CONFIG.replace("seeds: [0, 1]", "seeds: [0]"))
    none = cli("run", tmp_path / "run.yaml", "--out", tmp_path / "none", "--quiet", "--save-models", "none")
    assert none.code == 0, none.err
    assert not (tmp_path / "none" / "models").exists()
    every = cli("run", tmp_path / "run.yaml", "--out", tmp_path / "all", "--quiet", "--save-models", "all")
    assert every.code == 0, every.err
    assert {p.name for p in (tmp_path / "all" / "models").iterdir()} == {"baseline", "class_weights", "mixup"}


def test_a_linear_probe_is_saved_as_one_network_with_its_head_folded_in(tmp_path):
    from genclf.config import StrategyConfig, TrainConfig
    from genclf.strategies import Context, build_strategy

    split = make_split(load_dataset("digits"), 0, k_per_class=10)
    strategy = build_strategy(
        StrategyConfig("linear_probe", classifier="efficientnet_lite0", params={"resolution": 32})
    )
    strategy.fit(split, Context(seed=0, train=TrainConfig(epochs=1, precision="fp32")))
    trained = strategy.deployable(split)
    from genclf.pipelines.classify import save_classifier

    save_classifier(tmp_path / "m", trained)
    again = load_classifier(tmp_path / "m").predict_proba(split.test.images)
    own = strategy.predict_proba(split.test.images)
    np.testing.assert_allclose(again, own, atol=2e-3)  # the strategy reads float16-rounded cached features
    assert (again.argmax(1) == own.argmax(1)).mean() > 0.99
