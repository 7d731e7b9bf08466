"""Strategy protocol: ``fit(split, context)`` then ``predict_proba(images)``; no file I/O in strategies.

The runner hands each strategy a ``Context``: the seed, training budgets, and ``context.generator(...)``,
which trains a class-conditional generator on the labeled images once per (data, budget, seed) and
caches it in memory, and in the run's ``ModelStore`` when the runner gives one (``genclf.run.store``):
strategies do learning, the run does I/O.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from genclf.config import StrategyConfig, TrainConfig
from genclf.config_rules import Rule, boolean, instance_of, integer, number
from genclf.data.images import ImageSet
from genclf.data.pseudo_labels import confident_pseudo_labels, pseudo_label_accuracy
from genclf.data.splits import Split
from genclf.errors import ConfigError
from genclf.registry import Registry
from genclf.roles import ROLES
from genclf.training.fit import Fit

STRATEGIES: Registry[type[Strategy]] = Registry("strategy")


class ModelStore(Protocol):
    """Where a run keeps the models its cells share (implemented by ``genclf.run.store.GeneratorStore``)."""

    def get_or_train(
        self,
        key: str,
        train: Callable[[], tuple[Any, float]],
        load: Callable[[Path], Any],
        save: Callable[..., Any],
        **meta: Any,
    ) -> tuple[Any, float, bool]:
        """``(model, training seconds, trained here)``: the stored ``key``, else ``train()`` once, stored."""
        ...


@dataclass
class Context:
    """What the runner shares between the strategies of one (data, budget, seed) cell."""

    seed: int
    train: TrainConfig
    generator_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=100, batch_size=32, lr=2e-3))
    quiet: bool = True
    store: ModelStore | None = None  # the run's shared models (None: kept in memory only)
    cache: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # training seconds of each cached model
    used: list[str] = field(default_factory=list)  # the cached models the current strategy asked for
    trained_now: float = 0.0  # seconds spent training cached models during the current strategy's fit
    generator_pool: str = "labeled"  # "pseudo_labeled": generators also learn from the confident unlabeled pool
    pseudo_threshold: float = 0.95
    generator_data: dict[str, Any] = field(default_factory=dict)  # what the generators learned from
    trained_keys: set[str] = field(default_factory=set)  # the cached models this process trained (not loaded)

    def start_strategy(self) -> None:
        """Reset the per-strategy accounting (the runner calls it before each fit)."""
        self.used, self.trained_now = [], 0.0

    def shared_seconds(self) -> float:
        """The training seconds of every cached model the current strategy used, each counted in full."""
        return sum(self.seconds.get(key, 0.0) for key in self.used)

    def generator(self, name: str, split: Split, options: dict[str, Any] | None = None):
        """The generator ``name`` trained on ``generator_images(split)``, at most once per context."""
        from genclf.pipelines.generate import load_generator, save_generator, train_generator

        images, budget = self.generator_images(split)
        return self._trained_once(name, options, images, train_generator, load_generator, save_generator, budget=budget)

    def generator_images(self, split: Split) -> tuple[ImageSet, TrainConfig]:
        """What the generators learn from, and their budget: the labeled images, or with
        ``generator_pool="pseudo_labeled"`` and an unlabeled pool, the labeled images plus the pool images
        that the labeled-only classifier labels with confidence >= ``pseudo_threshold`` (class-balanced).
        ``generator_train.epochs`` counts passes over the labeled set: a larger set gets fewer passes, so
        the optimizer steps, and the training time, stay the same."""
        pool = split.unlabeled
        if self.generator_pool != "pseudo_labeled" or pool is None or not len(pool):
            self.generator_data = {"generator_images": len(split.train), "pseudo_labeled": 0}
            return split.train, self.generator_train
        teacher = self.labeled_classifier(split)  # cached; counts its cost for every generator on its labels
        if "pseudo_set" not in self.cache:
            proba = teacher.predict_proba(pool.images)
            chosen = torch.from_numpy(confident_pseudo_labels(proba, self.pseudo_threshold))
            guessed = torch.from_numpy(proba.argmax(1)).long()[chosen]
            self.cache["pseudo_set"] = ImageSet(
                torch.cat([split.train.images, pool.images[chosen]]),
                torch.cat([split.train.labels, guessed]),
                split.class_names,
            )
            self.generator_data = {
                "generator_images": len(split.train) + len(chosen),
                "pseudo_labeled": len(chosen),
                # measured with the pool's hidden labels (-1: unknown, the estimator's pools), for the report only
                "pseudo_label_accuracy": pseudo_label_accuracy(guessed.numpy(), pool.labels[chosen].numpy()),
            }
        images = self.cache["pseudo_set"]
        epochs = max(1, round(self.generator_train.epochs * len(split.train) / len(images)))
        return images, dataclasses.replace(self.generator_train, epochs=epochs)

    def labeled_classifier(self, split: Split, classifier: str = "cnn"):
        """A ``classifier`` trained on the labeled images alone (the baseline's recipe), at most once per context:
        the teacher of pseudo-labelling and the real-data reference of generator checks."""
        from genclf.pipelines.classify import train_classifier

        key = f"labeled_{classifier}"
        if key not in self.used:
            self.used.append(key)
        if key not in self.cache:
            trained, result = train_classifier(split, classifier, Fit(self.train, self.seed, quiet=True))
            self.cache[key], self.seconds[key] = trained, result.train_seconds
            self.trained_now += result.train_seconds
        return self.cache[key]

    def generators(self) -> dict[str, Any]:
        """The generators (not colorizers, not classifiers) trained or loaded so far, by key."""
        return {k: v for k, v in self.cache.items() if hasattr(v, "sample_per_class")}

    def colorizers(self) -> dict[str, Any]:
        return {k: v for k, v in self.cache.items() if hasattr(v, "colorize")}

    def colorizer(self, name: str, images, options: dict[str, Any] | None = None, guide=None, guide_name: str = ""):
        """The colorizer ``name`` trained on colour ``images`` (an ImageSet), at most once per context.
        A task-aware one learns with ``guide``, a trained colour classifier; its key names the guide
        (``guide_name``), so colorizers guided by different classifiers are kept apart."""
        from genclf.pipelines.colorize import load_colorizer, save_colorizer, train_colorizer

        train = train_colorizer if guide is None else functools.partial(train_colorizer, guide=guide)
        suffix = "" if guide is None else f"_guide-{guide_name}"
        return self._trained_once(
            name, options, images, train, load_colorizer, save_colorizer, "colorizer_", suffix=suffix
        )

    def _trained_once(self, name, options, images, train, load, save, prefix: str = "", budget=None, suffix: str = ""):
        """Memory cache, then the run's disk store, then train (and store)."""
        options = dict(options or {})
        key = prefix + name + "".join(f"_{k}-{v}" for k, v in sorted(options.items())) + suffix
        if key not in self.used:
            self.used.append(key)
        if key in self.cache:
            return self.cache[key]
        budget = budget or self.generator_train

        def fit() -> tuple[Any, float]:
            trained, result = train(images, name, Fit(budget, self.seed, quiet=self.quiet), options=options)
            return trained, result.train_seconds

        if self.store is None:
            (trained, seconds), here = fit(), True
        else:
            trained, seconds, here = self.store.get_or_train(key, fit, load, save, seed=self.seed)
        self.seconds[key] = seconds
        if here:
            self.trained_now += seconds
            self.trained_keys.add(key)
        self.cache[key] = trained
        return trained


@dataclass
class View:
    """One row of results for a fitted strategy: a name, its method, its role (for the verdicts), test-set
    probabilities, and extra columns. Most strategies have one view; colorize_then_classify has four."""

    name: str
    method: str
    role: str
    proba: np.ndarray
    columns: dict[str, Any] = field(default_factory=dict)
    predict_proba: Callable[[torch.Tensor], np.ndarray] | None = None
    pixel_model: Callable[[torch.Tensor], torch.Tensor] | None = None


@dataclass
class Proposal:
    """An entry that a data-derived plan (``genclf run --data``) proposes: its place in the plan (``rank``),
    when (``when``: a predicate on the data survey, which has ``photos``, ``imbalanced``, ``n_unlabeled``,
    ``image_size``), and the entry's classifier, label and params."""

    rank: int
    when: Callable[[Any], bool]
    classifier: str = "cnn"
    label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def from_scratch(survey) -> bool:
    """Data the plan trains networks on from random weights (everything but colour photo folders)."""
    return not survey.photos


def from_scratch_imbalanced(survey) -> bool:
    return not survey.photos and survey.imbalanced


def from_scratch_unlabeled(survey) -> bool:
    return not survey.photos and survey.n_unlabeled > 0


def photos(survey) -> bool:
    """A folder of colour photos: the plan starts from pretrained features."""
    return survey.photos


def photos_imbalanced(survey) -> bool:
    return survey.photos and survey.imbalanced


def photos_unlabeled(survey) -> bool:
    return survey.photos and survey.n_unlabeled > 0


class Strategy:
    """Base class. Subclasses set ``defaults`` (their parameters) and implement ``fit`` and
    ``predict_proba``; ``register_strategy(name, role, cost, plan)`` declares the rest: the role, the
    training cost relative to the baseline classifier, and when a data-derived plan proposes it."""

    @classmethod
    def colorizer_of(cls, entry: StrategyConfig) -> tuple[str, dict, str] | None:
        """The colorizer its fit trains through the context, if any: (name, options without the guide, a key
        that is equal for entries sharing one trained colorizer). The plan times it."""
        return None

    @classmethod
    def for_entry(cls, entry: StrategyConfig) -> type[Strategy]:
        """The class that trains ``entry`` (and that the plan costs): this one, or a variant for the entry's
        classifier (``feature_fusion`` on a pretrained backbone fuses its embeddings)."""
        return cls

    @classmethod
    def takes_sample_weights(cls) -> bool:
        """Whether ``split.train.weights`` (a weight per labeled image) weighs its training loss."""
        return False

    role: str = ""
    defaults: dict[str, Any] = {}
    draws_generators = False  # fit() asks the context for a class-conditional generator (and its teacher)
    name: str = ""
    cost: float | str = 2.0  # relative to the baseline classifier; "balanced": scales with the balanced set
    plan: tuple[Proposal, ...] = ()

    @classmethod
    def proposals(cls, survey) -> list[tuple[int, StrategyConfig]]:
        """The (rank, entry) pairs a data-derived plan takes for ``survey``."""
        return [
            (p.rank, StrategyConfig(cls.name, classifier=p.classifier, label=p.label, params=dict(p.params)))
            for p in cls.plan
            if p.when(survey)
        ]

    @classmethod
    def relative_cost(cls, entry: StrategyConfig, split: Split) -> float:
        """The entry's training cost in baseline-classifier units (generators counted separately);
        "balanced": the size of the class-balanced training set relative to the real one."""
        if cls.cost == "balanced":
            counts = split.train.class_counts()
            return max(counts) * len(counts) / max(1, len(split.train))
        return float(cls.cost)

    def __init__(self, config: StrategyConfig):
        self.config = config
        unknown = set(config.params) - set(self.defaults)
        if unknown:
            raise ConfigError(
                f"strategies[{config.name}].params",
                f"unknown parameter(s) {sorted(unknown)}; expected: {sorted(self.defaults) or 'none'}",
            )
        self.params = {**self.defaults, **config.params}
        self.extra: dict[str, Any] = {}  # columns the strategy adds to its results row
        for name in config.params:
            self.check_param(name, param_type_rule(self.defaults[name]))
        self.validate_params()

    def check_param(self, name: str, rule: Rule) -> None:
        """Refuse ``params[name]`` (one line naming it) unless ``rule`` (see ``config_rules``) accepts it."""
        value = self.params[name]
        problem = rule(value) if value is not None else "expected a value, got null"
        if problem:
            raise ConfigError(f"strategies[{self.config.name}].params.{name}", problem)

    def validate_params(self) -> None:
        """Raise ConfigError for parameter values that cannot work."""

    def fit(self, split: Split, context: Context) -> None:
        raise NotImplementedError

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        raise NotImplementedError

    def new_classifier(self, split: Split, seed: int):
        """A freshly initialised classifier of this entry's type and dropout, seeded with ``seed``."""
        from genclf.models.classifiers import build_classifier, prepare_for

        torch.manual_seed(seed)
        model = build_classifier(
            self.config.classifier,
            split.train.channels,
            split.train.num_classes,
            split.train.image_size,
            dropout=self.params["dropout"],
        )
        return prepare_for(model, split.normalization)

    def views(self, split: Split) -> list[View]:
        """The results rows this strategy contributes for ``split.test``."""
        proba = self.predict_proba(split.test.images)
        return [
            View(
                self.config.display_name,
                self.config.name,
                self.role,
                proba,
                {},
                self.predict_proba,
                self.pixel_model(),
            )
        ]

    def deployable(self, split: Split):
        """The fitted model as one self-contained classifier (a ``TrainedClassifier`` that ``genclf predict``
        and ONNX export can use), or None where the strategy ends in no single network."""
        from genclf.pipelines.classify import TrainedClassifier

        classifier = getattr(self, "classifier", None)
        return classifier if isinstance(classifier, TrainedClassifier) else None

    def pixel_model(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The fitted model as a differentiable map from [0, 1] images to logits, for gradient attacks;
        None where the strategy has no such single network."""
        return None


def param_type_rule(default: Any) -> Rule:
    """A parameter takes its default's kind: true/false, an integer, a number, a name or a mapping (a
    default of None takes anything); ranges are each strategy's ``validate_params``."""
    if isinstance(default, bool):
        return boolean
    if isinstance(default, int):
        return integer()
    if isinstance(default, float):
        return number
    for kind, words in ((str, "a name"), (dict, "a mapping"), (list, "a list")):
        if isinstance(default, kind):
            return instance_of(kind, words)
    return lambda value: None


def budget_columns(budget: TrainConfig, epochs_run: int, n_train: int) -> dict[str, int]:
    """The classifier's training budget as results columns: epochs planned and optimizer steps taken."""
    steps_per_epoch = -(-max(1, n_train) // max(1, budget.batch_size))
    return {"epochs": int(budget.epochs), "steps": int(epochs_run) * steps_per_epoch}


def strategy_class(config: StrategyConfig) -> type[Strategy]:
    """The class that trains the entry ``config``: its registered strategy's, or that one's variant for it."""
    return STRATEGIES.get(config.name, "strategies.name").for_entry(config)


def build_strategy(config: StrategyConfig) -> Strategy:
    return strategy_class(config)(config)


def register_strategy(name: str, role: str, cost: float | str | None = None, plan: list[Proposal] | None = None):
    """Register a Strategy subclass under ``name`` with its ``role`` (one of ROLES), its training ``cost``
    relative to the baseline classifier (measured on genclf's benchmarks; 2 when unknown) and the
    ``plan`` proposals of a data-derived run: the one place a strategy declares what it is, so the grid,
    the CLI's choices, the plan, its estimate and the verdicts all follow from it."""
    if role not in ROLES:
        raise ValueError(f"strategy {name!r}: role must be one of {ROLES}, got {role!r}")

    def decorate(cls: type[Strategy]) -> type[Strategy]:
        cls.role, cls.name = role, name
        if cost is not None:
            cls.cost = cost
        cls.plan = tuple(plan or ())
        return STRATEGIES.register(name)(cls)

    return decorate
