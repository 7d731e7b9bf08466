"""Classifiers, parametrized over the registry: shapes, learning, checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.models import CLASSIFIERS, build_classifier
from genclf.pipelines.classify import load_classifier, save_classifier, train_classifier
from genclf.training.fit import Fit


@pytest.mark.parametrize("name", CLASSIFIERS.names())
@pytest.mark.parametrize(("channels", "size"), [(1, 8), (3, 28), (1, 64)])
def test_features_and_logits_shapes(name, channels, size):
    model = build_classifier(name, channels, 7, size).eval()
    x = torch.randn(3, channels, size, size)
    features = model.features(x)
    assert features.shape == (3, model.feature_dim)
    assert model(x).shape == (3, 7)


@pytest.mark.parametrize("name", CLASSIFIERS.names())
def test_training_step_returns_loss_and_logs(name):
    model = build_classifier(name, 1, 4, 8)
    out = model.training_step((torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 3, 0])))
    assert out.loss.ndim == 0 and out.loss.requires_grad
    assert set(out.logs) == {"loss", "acc"}


@pytest.fixture(scope="module")
def digits_split():
    return make_split(load_dataset("digits"), 0)


@pytest.mark.parametrize("name", ["cnn", "crnn"])
def test_classifier_learns_digits(name, digits_split):
    trained, result = train_classifier(
        digits_split, name, Fit(TrainConfig(epochs=4, batch_size=32, precision="fp32"), 0, quiet=True)
    )
    accuracy = (trained.predict_proba(digits_split.test.images).argmax(1) == digits_split.test.labels.numpy()).mean()
    assert accuracy > 0.85
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


@pytest.mark.parametrize("name", CLASSIFIERS.names())
def test_checkpoint_round_trip_rebuilds_the_same_model(name, digits_split, tmp_path):
    trained, _ = train_classifier(  # one step on 64 images: the round trip, not the training, is under test
        digits_split,
        name,
        Fit(TrainConfig(epochs=1, batch_size=64, precision="fp32"), 0, quiet=True),
        train_images=digits_split.train.images[:64],
        train_labels=digits_split.train.labels[:64],
    )
    save_classifier(tmp_path, trained, note="x")
    loaded = load_classifier(tmp_path)
    images = digits_split.test.images[:20]
    assert loaded.name == name and loaded.class_names == trained.class_names
    np.testing.assert_allclose(loaded.predict_proba(images), trained.predict_proba(images), atol=1e-6)
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind
