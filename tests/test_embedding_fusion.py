"""``feature_fusion`` and ``autoencoder_fusion`` on a pretrained backbone: the entry's classifier picks the
embedding variant, its head reads the embedding beside the side network's features, the fusion's generator
is checked like feature augmentation's, the autoencoder learns from the unlabeled pool, and the plan costs
them as heads on cached features."""

from __future__ import annotations

import numpy as np
import pytest

from genclf.config import StrategyConfig, TrainConfig
from genclf.data import load_dataset, make_split
from genclf.errors import ConfigError
from genclf.strategies import Context, build_strategy, strategy_class
from genclf.strategies.embedding_fusion import EmbeddingAutoencoderFusion, EmbeddingFeatureFusion
from genclf.strategies.feature_generators import FeatureCGAN, FeatureCVAE

LOW_RES = {"resolution": 32}


@pytest.fixture(scope="module")
def digits_split():
    """10 labeled digits per class; smaller validation, test and pool sets than the full split's."""
    import dataclasses

    import torch

    split = make_split(load_dataset("digits"), 0, k_per_class=10)
    few = torch.arange(60)
    return dataclasses.replace(
        split,
        val=split.val.subset(few),
        test=split.test.subset(few),
        unlabeled=split.unlabeled.subset(torch.arange(300)),
    )


@pytest.fixture(autouse=True)
def one_head_strength(monkeypatch):
    monkeypatch.setattr("genclf.strategies.features.C_GRID", (0.1,))  # one head per fit, not four


@pytest.fixture
def context():
    return Context(seed=0, train=TrainConfig(epochs=1, batch_size=16, precision="fp32"))


def on_backbone(name: str, **params) -> StrategyConfig:
    return StrategyConfig(name, classifier="efficientnet_lite0", params={**LOW_RES, **params})


def test_the_pretrained_backbone_selects_the_embedding_variants():
    assert strategy_class(on_backbone("feature_fusion")) is EmbeddingFeatureFusion
    assert strategy_class(on_backbone("autoencoder_fusion")) is EmbeddingAutoencoderFusion
    assert strategy_class(StrategyConfig("feature_fusion", classifier="cnn")).__name__ == "FeatureFusion"
    assert EmbeddingFeatureFusion.role == EmbeddingAutoencoderFusion.role == "generative"
    assert EmbeddingFeatureFusion.draws_generators is False  # no pixel generator is trained for it


def test_feature_fusion_reads_the_generators_features_beside_the_embedding(digits_split, context, monkeypatch):
    monkeypatch.setattr(FeatureCGAN, "steps", 50)
    strategy = build_strategy(on_backbone("feature_fusion"))
    strategy.fit(digits_split, context)
    embeddings = strategy.embed(digits_split.test.images[:7])
    width = embeddings.shape[1] + FeatureCGAN.hidden  # the discriminator's hidden features
    assert strategy.fused(embeddings).shape == (7, width)
    assert strategy.head.model.coef_.shape[1] == width  # the head reads both
    (check,) = strategy.generator_checks
    assert check["generator"] == "features_cgan_efficientnet_lite0_32px" and 0 <= check["cas"] <= 1
    assert check["generator"] in context.used
    proba = strategy.predict_proba(digits_split.test.images)
    assert (proba.argmax(1) == digits_split.test.labels.numpy()).mean() > 0.4  # chance 0.1
    assert strategy.deployable(digits_split) is None  # two networks: nothing single to save


def test_the_cvae_source_gives_its_encoder_means_under_every_label(monkeypatch):
    monkeypatch.setattr(FeatureCVAE, "steps", 20)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 16)).astype(np.float32), np.arange(30) % 3
    strategy = build_strategy(on_backbone("feature_fusion", source="cvae"))
    strategy.generator = FeatureCVAE().fit(x, y, 3, seed=0)
    side = strategy.side(x[:5])
    assert side.shape == (5, 3 * FeatureCVAE.latent)
    latent = FeatureCVAE.latent
    assert not np.allclose(side[:, :latent], side[:, latent : 2 * latent])  # each label's encoding differs


def test_autoencoder_fusion_learns_its_code_from_the_labeled_images_and_the_pool(digits_split, context):
    strategy = build_strategy(on_backbone("autoencoder_fusion", code=8, steps=100))
    strategy.fit(digits_split, context)
    assert strategy.extra["n_pretrain"] == len(digits_split.train) + len(digits_split.unlabeled)
    x = strategy.embed(digits_split.train.images)
    assert strategy.fused(x).shape == (len(x), x.shape[1] + 8)
    # trained: the code reconstructs the embeddings better than predicting their mean (MSE 1 when standardised)
    assert strategy.extra["reconstruction_mse"] < 0.9
    proba = strategy.predict_proba(digits_split.test.images)
    assert (proba.argmax(1) == digits_split.test.labels.numpy()).mean() > 0.4


@pytest.mark.parametrize(
    "name,params",
    [
        ("feature_fusion", {"source": "gaussian"}),
        ("feature_fusion", {"hidden": 64}),
        ("autoencoder_fusion", {"code": 1}),
        ("autoencoder_fusion", {"steps": True}),
        ("autoencoder_fusion", {"resolution": 8}),
    ],
)
def test_embedding_fusion_rejects_bad_params(name, params):
    with pytest.raises(ConfigError, match=f"strategies\\[{name}\\].params"):
        build_strategy(on_backbone(name, **params))


def test_a_pretrained_fusion_entry_is_planned_as_heads_on_cached_features():
    from genclf.config import DataConfig, RunConfig
    from genclf.run.plan import Plan, estimate, survey

    config = RunConfig(
        data=DataConfig(spec="digits", k_per_class=10),
        seeds=[0],
        strategies=[on_backbone("feature_fusion"), on_backbone("autoencoder_fusion")],
        train=TrainConfig(epochs=50),
    )
    plan = estimate(Plan(config=config, survey=survey("digits")))
    cells = dict(plan.cells)
    assert set(cells) == {"feature_fusion[efficientnet_lite0]", "autoencoder_fusion[efficientnet_lite0]"}
    assert all(0 < seconds < 60 for seconds in cells.values())  # heads, not 50 epochs of a network
    assert plan.generator_seconds == 0  # no pixel generator drawn
    assert np.isfinite(plan.once_seconds)
