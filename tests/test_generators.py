"""Generators, parametrized over the registry; generator-quality metrics on known cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN

from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.errors import TrainingError
from genclf.evaluation.generator_quality import frechet_distance, kernel_inception_distance, prdc
from genclf.models import GENERATORS
from genclf.models.output import StepOutput
from genclf.pipelines.generate import (
    diversity_ratios,
    diversity_warnings,
    load_generator,
    save_generator,
    train_generator,
)
from genclf.training.fit import Fit
from genclf.training.trainer import Trainer

TINY = TrainConfig(epochs=2, batch_size=32, lr=2e-3, precision="fp32")


@pytest.fixture(scope="module")
def tiny_digits():
    return make_split(load_dataset("digits"), 0, k_per_class=16).train


@pytest.mark.parametrize("name", GENERATORS.names())
def test_generator_trains_samples_and_round_trips(name, tiny_digits, tmp_path):
    trained, result = train_generator(tiny_digits, name, Fit(TINY, 0, quiet=True))
    assert result.epochs_run == 2 and np.isfinite(
        result.history[-1]["train_" + ("loss_d" if name == "cgan" else "loss")]
    )
    labels = torch.tensor([3, 3, 7, 0, 9])
    images = trained.sample(labels, seed=1)
    assert images.dtype == torch.uint8 and images.shape == (5, 1, 8, 8)
    assert torch.equal(images, trained.sample(labels, seed=1))  # same seed, same images
    save_generator(tmp_path, trained)
    loaded = load_generator(tmp_path)
    assert loaded.name == name and torch.equal(loaded.sample(labels, seed=1), images)


@pytest.mark.parametrize("name", GENERATORS.names())
def test_generator_resume_equals_uninterrupted(name, tiny_digits, tmp_path, monkeypatch):
    config = TrainConfig(epochs=3, batch_size=32, lr=2e-3, precision="fp32")
    full, _ = train_generator(tiny_digits, name, Fit(config, 2, state_dir=tmp_path / "full", quiet=True))
    real_save = Trainer._save

    def die_after_first(self, state_dir, *args):
        real_save(self, state_dir, *args)
        if args[-1].epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save", die_after_first)
    with pytest.raises(KeyboardInterrupt):
        train_generator(tiny_digits, name, Fit(config, 2, state_dir=tmp_path / "cut", quiet=True))
    monkeypatch.setattr(Trainer, "_save", real_save)
    resumed, _ = train_generator(tiny_digits, name, Fit(config, 2, state_dir=tmp_path / "cut", resume=True, quiet=True))
    for key, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


class FlakyModel(torch.nn.Module):
    """Loss is NaN on the given calls; otherwise a simple quadratic."""

    def __init__(self, bad_calls):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3))
        self.calls, self.bad_calls = 0, set(bad_calls)

    def training_step(self, batch):
        self.calls += 1
        loss = (self.w**2).sum()
        return StepOutput(loss * float("nan") if self.calls in self.bad_calls else loss, {"loss": loss.item()})


def test_divergence_rolls_back_once_with_half_the_learning_rate(tiny_digits):
    trainer = Trainer(TrainConfig(epochs=2, batch_size=32, precision="fp32"), quiet=True)
    model = FlakyModel(bad_calls={3})
    with pytest.warns(UserWarning, match="rolled back to the start of epoch 1 and halved the learning rate"):
        result = trainer.fit(model, tiny_digits.images, tiny_digits.labels, _norm())
    assert result.epochs_run == 2 and torch.isfinite(model.w).all()


def test_second_divergence_is_a_clear_error(tiny_digits):
    trainer = Trainer(TrainConfig(epochs=2, batch_size=32, precision="fp32"), quiet=True)
    with pytest.warns(UserWarning), pytest.raises(TrainingError, match="retried once at half the learning rate"):
        trainer.fit(FlakyModel(bad_calls={2, 9}), tiny_digits.images, tiny_digits.labels, _norm())


def _norm():
    from genclf.models.generative import generator_normalization

    return generator_normalization(1)


def test_collapsed_generator_is_reported(tiny_digits):
    from genclf.data.images import ImageSet

    collapsed = ImageSet(
        tiny_digits.images[:1].repeat(len(tiny_digits), 1, 1, 1), tiny_digits.labels, tiny_digits.class_names
    )
    with pytest.warns(UserWarning, match="mode collapse"):
        assert len(diversity_warnings(collapsed, tiny_digits)) == 10
    assert diversity_warnings(tiny_digits, tiny_digits) == []


def test_fid_is_zero_for_identical_sets_and_large_for_disjoint_ones():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(500, 8))
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(real, real + 10.0) == pytest.approx(800.0, rel=0.05)  # |mu diff|^2 = 8 * 100
    assert frechet_distance(real, rng.normal(size=(500, 8))) < 1.0


@pytest.mark.parametrize("sizes", [(30, 40, 64), (10, 50, 128)])
def test_fid_with_fewer_samples_than_dimensions_equals_the_matrix_root_formula(sizes):
    from scipy import linalg

    n_real, n_fake, dim = sizes
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(n_real, dim)), rng.normal(0.3, 1.2, size=(n_fake, dim))
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    reference = ((real.mean(0) - fake.mean(0)) ** 2).sum() + np.trace(
        cov_r + cov_f - 2 * linalg.sqrtm(cov_r @ cov_f).real
    )
    assert frechet_distance(real, fake) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)


def test_kid_is_near_zero_for_the_same_distribution_and_positive_otherwise():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(600, 8)), rng.normal(size=(600, 8))
    same, _ = kernel_inception_distance(a, b, subsets=5, subset_size=300)
    shifted, _ = kernel_inception_distance(a, b + 2.0, subsets=5, subset_size=300)
    assert abs(same) < 0.05 and shifted > 1.0


def test_prdc_on_toy_gaussians():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(400, 2))
    same = prdc(real, rng.normal(size=(400, 2)))
    assert same["precision"] > 0.8 and same["recall"] > 0.8 and same["coverage"] > 0.8
    far = prdc(real, rng.normal(size=(400, 2)) + 20)
    assert far["precision"] == 0.0 and far["recall"] == 0.0 and far["coverage"] == 0.0
    narrow = prdc(real, rng.normal(size=(400, 2)) * 0.1)  # mode-collapsed fakes: precise, poor recall
    assert narrow["precision"] > 0.9 and narrow["recall"] < 0.3


def test_generator_cli_train_sample_and_load_back(cli, tmp_path):
    out = tmp_path / "gen"
    result = cli("train-generator", "--model", "cvae", "--k-per-class", "10", "--out", out, *TINY_TRAIN)
    assert result.code == 0, result.err
    assert (out / "samples.png").stat().st_size > 0 and (out / "model.safetensors").is_file()
    assert cli("sample", "--checkpoint", out, "--per-class", "3", "--out", tmp_path / "s.npz").code == 0
    back = load_dataset(f"npz:{tmp_path / 's.npz'}")
    assert back.train.class_counts() == [3] * 10 and back.train.class_names == [str(i) for i in range(10)]
    assert cli("sample", "--checkpoint", out, "--per-class", "2", "--out", tmp_path / "folder").code == 0
    assert load_dataset(f"folder:{tmp_path / 'folder'}", image_size=8).train.class_counts() == [2] * 10


def test_sample_refuses_a_classifier_checkpoint(cli, tmp_path):
    assert cli("train", "--out", tmp_path / "clf", *TINY_TRAIN).code == 0
    result = cli("sample", "--checkpoint", tmp_path / "clf", "--out", tmp_path / "s.npz")
    assert result.code == 2 and "expected a 'generator' checkpoint" in result.err


def test_cgan_mode_seeking_keeps_the_noise_in_use():
    """Without the mode-seeking term the generator leans towards one image per class; with it, samples of a
    class differ about as much as real ones do."""
    split = make_split(load_dataset("digits"), 0)
    config = TrainConfig(epochs=10, batch_size=64, lr=2e-3, precision="fp32")
    ratios = {}
    for weight in (0.0, 1.0):
        trained, _ = train_generator(split.train, "cgan", Fit(config, 0, quiet=True), options={"mode_seeking": weight})
        samples = trained.sample_per_class(40, seed=0)
        per_class = diversity_ratios(samples, split.train)
        ratios[weight] = sum(per_class.values()) / len(per_class)
    assert ratios[1.0] > ratios[0.0] + 0.15 and ratios[1.0] > 0.7, ratios


@pytest.mark.parametrize(  # the default lr_scale is 0.2: Adam 4e-4 at genclf's usual generator lr of 2e-3
    ("options", "lr", "expected"),
    [({}, 1e-3, 2e-4), ({}, 2e-3, 4e-4), ({"lr_scale": 0.1}, 2e-3, 2e-4), ({"lr": 5e-4}, 1e-3, 5e-4)],
)
def test_cgan_follows_the_configured_learning_rate_unless_its_own_is_set(options, lr, expected):
    model = GENERATORS.get("cgan")(1, 10, 8, **options)
    opt_g, opt_d = model.configure_optimizers(TrainConfig(lr=lr))
    assert opt_g.param_groups[0]["lr"] == pytest.approx(expected) == opt_d.param_groups[0]["lr"]


def test_an_explicit_bf16_request_for_an_fp32_only_generator_is_said_once(tiny_digits):
    with pytest.warns(UserWarning, match="cgan trains in fp32"):
        train_generator(
            tiny_digits,
            "cgan",
            Fit(TrainConfig(epochs=1, batch_size=32, precision="bf16"), 0, quiet=True),
            options={"upsample": False},
        )


def test_cgan_upsample_generator_has_no_transposed_convolution_and_trains_in_bf16(tiny_digits):
    import warnings

    from torch import nn

    plain = GENERATORS.get("cgan")(1, 10, 8, upsample=False)
    grown = GENERATORS.get("cgan")(1, 10, 8)  # the default
    assert any(isinstance(m, nn.ConvTranspose2d) for m in plain.generator.modules()) and not plain.supports_bf16
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in grown.generator.modules()) and grown.supports_bf16
    config = TrainConfig(epochs=1, batch_size=32, precision="bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "trains in fp32" warning: the bf16 request is honoured
        trained, _ = train_generator(tiny_digits, "cgan", Fit(config, 0, quiet=True))
    assert trained.sample_per_class(2).images.shape == (20, 1, 8, 8)


def test_a_cgan_checkpoint_saved_before_the_upsample_default_loads_as_the_transposed_generator(tiny_digits, tmp_path):
    trained, _ = train_generator(tiny_digits, "cgan", Fit(TINY, 0, quiet=True), options={"upsample": False})
    assert trained.meta()["model_options"] == {"upsample": False}
    trained.options, trained.model.recorded_options = {}, dict  # what genclf 0.2.0 wrote: no model options
    save_generator(tmp_path / "old", trained)
    loaded = load_generator(tmp_path / "old")
    labels = torch.tensor([1, 4, 4, 9])
    assert torch.equal(loaded.sample(labels, seed=3), trained.sample(labels, seed=3))
    new, _ = train_generator(tiny_digits, "cgan", Fit(TINY, 0, quiet=True))
    save_generator(tmp_path / "new", new)
    # recorded, so a later change of the default cannot rebuild it differently
    assert load_generator(tmp_path / "new").options == {"upsample": True}
