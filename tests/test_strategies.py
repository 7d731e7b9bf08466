"""Strategies, parametrized over the registry: each fits and predicts on tiny digits data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genclf.config import StrategyConfig, TrainConfig
from genclf.data import Imbalance, load_dataset, make_split
from genclf.errors import ConfigError, DataError
from genclf.strategies import STRATEGIES, Context, build_strategy

FAST = {
    "semi_supervised_gan": {"epochs": 3},
    "autoencoder_fusion": {"pretrain_epochs": 1},
    "colorize_then_classify": {"colorizer": "unet_l1"},
    "linear_probe": {"resolution": 32},
    "feature_smote": {"resolution": 32},
    "feature_augmentation": {"resolution": 32},
    "feature_pseudo_label": {"resolution": 32},
    "finetune": {"resolution": 32, "epochs": 1},
}
NEEDS_COLOUR = {"colorize_then_classify"}


@pytest.fixture(scope="module")
def split():
    return make_split(load_dataset("digits"), 0, k_per_class=8, imbalance=Imbalance(classes=[0, 1], ratio=0.5))


@pytest.fixture(scope="module")
def context():
    # One context for the module: generators are trained once and shared, as in the runner.
    return Context(
        seed=0,
        train=TrainConfig(epochs=3, batch_size=16, precision="fp32"),
        generator_train=TrainConfig(epochs=3, batch_size=16, precision="fp32"),
    )


@pytest.fixture(scope="module")
def colour_split():
    return make_split(load_dataset("shapes:20"), 0, k_per_class=8)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_fits_and_predicts_probabilities(name, split, colour_split, context):
    strategy = build_strategy(StrategyConfig(name=name, params=FAST.get(name, {})))
    data = colour_split if name in NEEDS_COLOUR else split
    strategy.fit(data, context)
    proba = strategy.predict_proba(data.test.images[:40])
    assert proba.shape == (min(40, len(data.test)), data.train.num_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    assert (proba >= 0).all()


def test_colour_strategies_refuse_grey_data(split, context):
    for name in NEEDS_COLOUR:
        with pytest.raises(DataError, match="colour"):
            build_strategy(StrategyConfig(name=name, params=FAST.get(name, {}))).fit(split, context)


def test_balancing_strategies_fill_minority_classes(split, context):
    for name in ("random_oversampling", "generative_balancing", "smote"):
        strategy = build_strategy(StrategyConfig(name=name))
        images, labels = strategy.training_data(split, context)
        counts = np.bincount(labels.numpy(), minlength=10)
        assert (counts == counts.max()).all(), name
        assert images.shape[1:] == split.train.images.shape[1:]


def test_synthetic_augmentation_ratio_sets_the_number_of_generated_images(split, context):
    strategy = build_strategy(StrategyConfig(name="synthetic_augmentation", params={"ratio": 2.0}))
    images, labels = strategy.training_data(split, context)
    assert len(labels) == len(split.train) + strategy.extra["n_synthetic"]
    assert strategy.extra["n_synthetic"] == 10 * round(2.0 * len(split.train) / 10)


def test_generators_are_trained_once_per_context(split, context):
    first = context.generator("cvae", split)
    assert context.generator("cvae", split) is first


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("synthetic_augmentation", {"ratio": -1}, "params.ratio"),
        ("synthetic_augmentation", {"generator": "vqgan"}, "params.generator"),
        ("baseline", {"colour": 1}, "params"),
        ("feature_fusion", {"source": "pixels"}, "params.source"),
        ("fixmatch", {"keep": "final"}, "params.keep"),
        ("fixmatch", {"ema": 1.0}, "params.ema"),
    ],
)
def test_bad_strategy_parameters_are_config_errors(name, params, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        build_strategy(StrategyConfig(name=name, params=params))


def _wrong_kind(default):
    """A value of another kind than ``default``: a word for a number or a flag, a number for a name."""
    return 7 if isinstance(default, str | dict | list) else "many"


def _every_parameter():
    """Each strategy class's parameters once: the registered ones, and their variants on a backbone."""
    from genclf.strategies import STRATEGIES, strategy_class

    seen = set()
    for name in STRATEGIES.names():
        for classifier in ("cnn", "efficientnet_lite0"):
            cls = strategy_class(StrategyConfig(name=name, classifier=classifier))
            if cls not in seen:
                seen.add(cls)
                for param, default in cls.defaults.items():
                    yield pytest.param(name, classifier, param, default, id=f"{cls.__name__}.{param}")


@pytest.mark.parametrize(("name", "classifier", "param", "default"), list(_every_parameter()))
def test_every_strategy_parameter_of_the_wrong_kind_is_one_config_error_naming_it(name, classifier, param, default):
    """Not a ValueError or TypeError from deep inside validation: ``genclf run`` would print a traceback."""
    for bad in (_wrong_kind(default), None):
        with pytest.raises(ConfigError, match=rf"strategies\[{name}\]\.params\.{param}: expected"):
            build_strategy(StrategyConfig(name=name, classifier=classifier, params={param: bad}))


def test_fixmatch_keeps_the_last_epoch_when_asked(split, context, monkeypatch):
    """keep: last returns the final weights (FixMatch's protocol), keep: best the best validation epoch."""
    import itertools

    import genclf.pipelines.classify as classify

    kept = {}
    for keep in ("best", "last"):
        scores = itertools.count()  # validation macro-F1 that only falls: the best epoch is the first
        monkeypatch.setattr(classify, "macro_f1", lambda *args, scores=scores: -float(next(scores)))
        strategy = build_strategy(StrategyConfig(name="fixmatch", params={"keep": keep, "step_ratio": 2.0}))
        strategy.fit(split, context)
        kept[keep] = strategy.extra["best_epoch"]
    assert kept == {"best": 1, "last": 6}  # 3 epochs x step_ratio 2


def test_fixmatch_ema_averages_the_weights_and_is_what_is_validated_and_kept(split, context):
    """ema > 0: each step moves the average towards the live weights by the warmed-up rate; evaluation and the
    kept classifier use the average, pseudo-labels the live weights."""
    import torch

    from genclf.models.classifiers import build_classifier
    from genclf.strategies.fixmatch import FixMatchClassifier

    torch.manual_seed(0)
    live = build_classifier("cnn", 1, 10, 8)
    wrapper = FixMatchClassifier(live, split.train.images, split.normalization, ema_decay=0.9)
    before = {k: v.clone() for k, v in wrapper.ema.state_dict().items()}
    with torch.no_grad():
        for p in live.parameters():
            p.add_(1.0)
    wrapper.update_ema()  # step 0: decay min(0.9, 1/10) = 0.1, so 90% of the way to the live weights
    for name, value in wrapper.ema.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.1 * before[name] + 0.9 * live.state_dict()[name])
    x = torch.randn(4, 1, 8, 8)
    wrapper.eval()
    torch.testing.assert_close(wrapper(x), wrapper.ema.eval()(x))
    assert not torch.allclose(wrapper(x), live.eval()(x))
    assert not any(p.requires_grad for p in wrapper.ema.parameters())  # never in the optimizer's updates
    assert wrapper.final_classifier() is wrapper.ema

    strategy = build_strategy(StrategyConfig(name="fixmatch", params={"ema": 0.9, "keep": "last"}))
    strategy.fit(split, context)
    kept = strategy.classifier.model
    assert isinstance(kept, type(live)) and all(p.requires_grad for p in kept.parameters())
    proba = strategy.predict_proba(split.test.images)
    assert proba.shape == (len(split.test), 10) and np.allclose(proba.sum(1), 1, atol=1e-5)


def test_unknown_strategy_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown strategy 'magic'"):
        build_strategy(StrategyConfig(name="magic"))


def test_a_generative_rows_seconds_include_the_generator_it_used(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 5}\ntrain: {epochs: 1, batch_size: 32, precision: fp32}\n"
        "generator_train: {epochs: 3, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}, {name: synthetic_augmentation, params: {generator: cvae}},"
        " {name: generative_classifier}]\nseeds: [0]\n"
    )
    out = tmp_path / "run"
    assert cli("run", config, "--out", out, "--quiet").code == 0
    rows = pd.read_csv(out / "results.csv").set_index("strategy")
    assert rows.loc["baseline", "generator_seconds"] == 0
    shared = rows.loc["synthetic_augmentation", "generator_seconds"]
    assert shared > 0 and rows.loc["generative_classifier", "generator_seconds"] == shared  # counted for both
    assert rows.loc["generative_classifier", "train_seconds"] >= shared
    # the cvae learned from pseudo-labels too: the labeled-only classifier that made them is part of its cost
    assert rows.loc["generative_classifier", "generators"] == "labeled_cnn cvae"
