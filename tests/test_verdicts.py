"""The quality gate: a generator that does not work makes the strategies relying on it inconclusive."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from genclf.models.generative import GENERATORS, GenerativeModel
from genclf.models.output import StepOutput
from genclf.training.fit import Fit


class NoiseGenerator(GenerativeModel):
    """Emits uniform noise whatever the label: a broken generator."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int):
        super().__init__(in_channels, num_classes, image_size)
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch):
        return StepOutput((self.w**2).sum(), {"loss": 0.0})

    @torch.no_grad()
    def sample(self, labels, generator=None):
        shape = (len(labels), self.in_channels, self.image_size, self.image_size)
        return torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)


@pytest.fixture
def noise_generator(monkeypatch):
    monkeypatch.setattr(GENERATORS, "_entries", {**GENERATORS._entries, "noise": NoiseGenerator})
    return "noise"


def test_a_broken_generator_makes_its_strategies_inconclusive_and_the_headline_says_so(cli, tmp_path, noise_generator):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 10}\ntrain: {epochs: 10, batch_size: 32, precision: fp32}\n"
        "generator_train: {epochs: 1, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}, {name: classic_augmentation},"
        f" {{name: synthetic_augmentation, params: {{generator: {noise_generator}}}}}]\nseeds: [0, 1]\n"
    )
    out = tmp_path / "run"
    result = cli("run", config, "--out", out, "--quiet")
    assert result.code == 0, result.err
    checks = pd.read_csv(out / "generators.csv")
    assert list(checks["generator"]) == ["noise", "noise"] and list(checks["seed"]) == [0, 1]
    assert checks["status"].str.startswith("failed: CAS").all()
    assert (checks["cas"] < 0.75 * checks["real_macro_f1"]).all()
    summary = json.loads((out / "summary.json").read_text())
    block = summary["budgets_detail"]["10"]
    assert block["headline"].startswith("Inconclusive: every generative strategy relies on a generator that failed")
    verdicts = {c["strategy"]: c["verdict"] for c in block["comparisons"]}
    assert verdicts["synthetic_augmentation"].startswith("inconclusive: generator noise failed its quality check")
    assert not verdicts["classic_augmentation"].startswith("inconclusive")
    assert "Inconclusive" in result.out and "failed its quality check" in (out / "report.html").read_text()


def test_a_working_generator_passes_its_check_and_keeps_its_verdict(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 10}\ntrain: {epochs: 30, batch_size: 32, precision: fp32}\n"
        "generator_train: {epochs: 120, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}, {name: synthetic_augmentation, params: {generator: cvae}}]\nseeds: [0]\n"
    )
    out = tmp_path / "run"
    assert cli("run", config, "--out", out, "--quiet").code == 0
    check = pd.read_csv(out / "generators.csv").iloc[0]
    assert check["status"] == "ok" and check["pseudo_labeled"] > 0 and check["generator_images"] > 100
    verdict = json.loads((out / "summary.json").read_text())["budgets_detail"]["10"]["comparisons"][0]["verdict"]
    assert verdict == "untested (one seed)"


def test_generators_learn_only_from_labeled_images_when_asked(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 5}\ntrain: {epochs: 1, batch_size: 32, precision: fp32}\n"
        "generator_train: {epochs: 1, batch_size: 32, precision: fp32}\ngenerator_pool: labeled\n"
        "strategies: [{name: baseline}, {name: generative_classifier}]\nseeds: [0]\n"
    )
    out = tmp_path / "run"
    assert cli("run", config, "--out", out, "--quiet").code == 0
    check = pd.read_csv(out / "generators.csv").iloc[0]
    assert check["generator_images"] == 50 and check["pseudo_labeled"] == 0


class MajorityOnlyGenerator:
    """Draws noisy copies of the majority class's mean image whatever label it is asked for: the "brown blobs
    for both classes" of a generator collapsed onto one class."""

    def __init__(self, images: torch.Tensor, class_names: list[str]):
        self.mean, self.class_names = images.float().mean(0), class_names

    def sample(self, labels, seed=0):
        noise = torch.randn((len(labels), *self.mean.shape), generator=torch.Generator().manual_seed(seed))
        return (self.mean + 4 * noise).clamp(0, 255).to(torch.uint8)

    def sample_per_class(self, per_class, seed=0):
        from genclf.data.images import ImageSet

        labels = torch.arange(len(self.class_names)).repeat_interleave(per_class)
        return ImageSet(self.sample(labels, seed), labels, list(self.class_names))


def test_a_generator_that_draws_only_the_majority_class_of_a_3_to_1_folder_fails_its_check(tmp_path):
    """Scored with plain accuracy, its CAS would be the majority share of the validation split (0.75), which
    passes 0.75 x a real accuracy near 1; scored with macro-F1 it is at chance."""
    from conftest import toy_images
    from PIL import Image

    from genclf.config import TrainConfig
    from genclf.data import load_dataset, make_split
    from genclf.evaluation.generator_quality import generator_check
    from genclf.pipelines.classify import train_classifier

    images, labels = toy_images(60, classes=2, size=12)
    for i, (image, label) in enumerate(zip(images, labels)):
        if label == 1 and i % 3:  # 60 "fire" frames, 20 "water": 3:1
            continue
        folder = tmp_path / "frames" / ("fire" if label == 0 else "water")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    split = make_split(load_dataset(f"folder:{tmp_path / 'frames'}", 12, 1), 0)
    assert split.train.class_counts()[0] >= 2.5 * split.train.class_counts()[1]
    budget = TrainConfig(epochs=8, batch_size=16, precision="fp32")
    reference, _ = train_classifier(split, "cnn", Fit(budget, 0, quiet=True))
    majority = split.train.images[split.train.labels == 0]
    check = generator_check(MajorityOnlyGenerator(majority, split.class_names), split, reference, budget)
    assert check["real_macro_f1"] > 0.8
    assert check["cas"] < 0.6 and check["status"].startswith("failed: CAS macro-F1")
