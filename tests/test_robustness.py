"""Corruptions, adversarial attacks, calibration, and their place in `genclf evaluate` and `genclf run`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.errors import ConfigError
from genclf.evaluation.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
)
from genclf.evaluation.robustness import (
    CORRUPTIONS,
    adversarial_accuracy,
    corrupt,
    corruption_accuracy,
    corruption_error,
    fgsm_attack,
)
from genclf.pipelines.classify import train_classifier
from genclf.training.fit import Fit


@pytest.fixture(scope="module")
def digits_model():
    split = make_split(load_dataset("digits"), 0)
    trained, _ = train_classifier(
        split, "cnn", Fit(TrainConfig(epochs=6, batch_size=32, precision="fp32"), 0, quiet=True)
    )
    return trained, split


@pytest.fixture(scope="module")
def batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (6, 3, 16, 16), generator=gen, dtype=torch.uint8)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corruption_keeps_shape_dtype_and_is_deterministic(name, batch):
    for severity in (1, 3, 5):
        out = corrupt(batch, name, severity, seed=3)
        assert out.shape == batch.shape and out.dtype == torch.uint8
        assert torch.equal(out, corrupt(batch, name, severity, seed=3))
    assert torch.equal(corrupt(batch, name, 0), batch)  # severity 0 is the identity
    assert not torch.equal(corrupt(batch, name, 5, seed=3), batch)  # the strongest one changes something


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "occlusion", "rotation"])
def test_random_corruptions_depend_on_the_seed(name, batch):
    assert not torch.equal(corrupt(batch, name, 4, seed=0), corrupt(batch, name, 4, seed=1))


def test_noise_grows_with_severity(batch):
    grey = torch.full((64, 1, 16, 16), 128, dtype=torch.uint8)
    change = [(corrupt(grey, "gaussian_noise", s).float() - 128).abs().mean().item() for s in range(1, 6)]
    assert change == sorted(change) and change[0] > 0


def test_unknown_corruption_or_severity_is_a_config_error(batch):
    with pytest.raises(ConfigError, match="unknown corruption 'fog'"):
        corrupt(batch, "fog", 1)
    with pytest.raises(ConfigError, match="between 1 and 5"):
        corrupt(batch, "contrast", 6)


def test_corruption_error_is_relative_to_the_reference():
    reference = {"contrast": {"1": 0.9, "2": 0.7}}
    assert corruption_error(reference, reference)["mce"] == pytest.approx(1.0)
    better = {"contrast": {"1": 0.95, "2": 0.85}}  # errors 0.2 vs 0.4
    assert corruption_error(better, reference)["mce"] == pytest.approx(0.5)


def test_ece_of_calibrated_and_overconfident_predictors():
    rng = np.random.default_rng(0)
    n = 20000
    confidence = rng.uniform(0.5, 1.0, n)
    labels = np.zeros(n, dtype=int)
    correct = rng.uniform(size=n) < confidence  # right exactly as often as it claims
    proba = np.stack([np.where(correct, confidence, 1 - confidence), np.where(correct, 1 - confidence, confidence)], 1)
    assert expected_calibration_error(proba, labels) < 0.02
    over = np.tile([0.99, 0.01], (n, 1))
    half = np.where(rng.uniform(size=n) < 0.5, 0, 1)  # right half of the time, 99% sure every time
    assert expected_calibration_error(over, half) == pytest.approx(0.49, abs=0.02)


def test_temperature_scaling_softens_an_overconfident_predictor():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 3000)
    logits = rng.normal(size=(3000, 3))
    logits[np.arange(3000), labels] += 1.0
    proba = np.exp(4 * logits) / np.exp(4 * logits).sum(1, keepdims=True)  # sharpened x4
    t = fit_temperature(proba, labels)
    assert 3.0 < t < 5.5
    scaled = apply_temperature(proba, t)
    assert negative_log_likelihood(scaled, labels) < negative_log_likelihood(proba, labels)
    assert expected_calibration_error(scaled, labels) < expected_calibration_error(proba, labels)


def test_fgsm_eps_zero_changes_nothing_and_large_eps_hurts(digits_model):
    trained, split = digits_model
    model = trained.pixel_model()
    x, y = split.test.images[:200], split.test.labels[:200]
    pixels = x.float() / 255
    assert torch.equal(fgsm_attack(model, pixels, y, 0.0), pixels)
    result = adversarial_accuracy(model, x, y, eps=[0.0, 0.3], pgd_steps=5)
    clean = float((trained.predict_proba(x).argmax(1) == y.numpy()).mean())
    assert result["fgsm_accuracy"][0] == pytest.approx(clean, abs=1e-6)
    assert result["fgsm_accuracy"][1] < clean - 0.3
    assert result["pgd_accuracy"][1] <= result["fgsm_accuracy"][1] + 0.02
    adv = fgsm_attack(model, pixels, y, 0.1)
    assert (adv - pixels).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1


def test_corruption_accuracy_table(digits_model):
    trained, split = digits_model
    result = corruption_accuracy(
        trained.predict_proba, split.test.images[:100], split.test.labels[:100], ["contrast", "occlusion"], [1, 5]
    )
    assert set(result["accuracy"]) == {"contrast", "occlusion"} and set(result["accuracy"]["contrast"]) == {"1", "5"}
    assert result["accuracy"]["occlusion"]["5"] < result["clean_accuracy"]


def test_evaluate_robustness_cli_writes_json_and_figures(cli, tmp_path):
    ckpt = tmp_path / "ckpt"
    assert cli("train", "--data", "digits", "--epochs", "2", "--out", ckpt, "--quiet").code == 0
    out = tmp_path / "eval"
    result = cli(
        "evaluate", "--checkpoint", ckpt, "--data", "digits", "--robustness", "--corruptions", "contrast,rotation",
        "--severities", "1..2", "--adversarial", "--eps", "0,0.1", "--pgd-steps", "2", "--max-images", "50",
        "--out", out,
    )  # fmt: skip
    assert result.code == 0, result.err
    detail = json.loads((out / "robustness.json").read_text())
    assert set(detail["corruptions"]["accuracy"]) == {"contrast", "rotation"}
    assert detail["corruptions"]["n_images"] == 50 and detail["adversarial"]["eps"] == [0.0, 0.1]
    assert 0 <= detail["calibration"]["ece"] <= 1
    for name in ("severity.png", "adversarial.png", "reliability.png", "metrics.json"):
        assert (out / name).stat().st_size > 0
    bad = cli("evaluate", "--checkpoint", ckpt, "--robustness", "--severities", "0..5", "--out", tmp_path / "x")
    assert bad.code == 2 and "--severities" in bad.err and len(bad.err.strip().splitlines()) == 1
    bad = cli("evaluate", "--checkpoint", ckpt, "--robustness", "--corruptions", "fog", "--out", tmp_path / "x")
    assert bad.code == 2 and "unknown corruption 'fog'" in bad.err


def test_run_with_robustness_adds_columns_section_and_verdict(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 10}\n"
        "train: {epochs: 2, batch_size: 32, precision: fp32}\n"
        "generator_train: {epochs: 2, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}, {name: classic_augmentation}, {name: generative_classifier}]\n"
        "seeds: [0, 1]\n"
        "evaluation: {robustness: true, corruptions: [contrast, occlusion], severities: [1, 3], adversarial: true,"
        " eps: [0.0, 0.1], pgd_steps: 2, max_images: 60}\n"
    )
    out = tmp_path / "run"
    result = cli("run", config, "--out", out, "--quiet")
    assert result.code == 0, result.err
    assert "Robustness: " in result.out
    results = pd.read_csv(out / "results.csv")
    for column in ("ece", "ece_scaled", "corruption_accuracy", "mce", "fgsm_acc@0.1", "pgd_acc@0.1"):
        assert column in results.columns, column
    assert np.allclose(results.loc[results["strategy"] == "baseline", "mce"], 1.0)
    generative = results[results["strategy"] == "generative_classifier"]
    assert generative["pgd_acc@0.1"].isna().all()  # no single differentiable network: not attacked
    assert generative["corruption_accuracy"].notna().all()
    html = (out / "report.html").read_text()
    assert "id='robustness'" in html and "Robustness: " in html
    summary = json.loads((out / "summary.json").read_text())
    assert any("severity" in f for f in summary["figures"]) and any("reliability" in f for f in summary["figures"])
    assert summary["budgets_detail"]["10"]["robustness"]["comparisons"]
