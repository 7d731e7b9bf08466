"""A scikit-learn estimator around any registered strategy: ``fit(X, y)``, ``predict``, ``predict_proba``,
``score``; clone-able, so it works in ``Pipeline``, ``cross_val_score`` and ``GridSearchCV`` (e.g. over
``strategy``)::

    from genclf import ImageClassifier
    clf = ImageClassifier(strategy="synthetic_augmentation", epochs=5).fit(X, y, X_unlabeled=pool)
    clf.predict(X_test)

``X`` follows genclf's input convention (``genclf.data.inputs``): uint8 0..255 images (N, H, W), (N, H, W, C) or
(N, C, H, W), numpy or torch; float images only with ``value_range`` set. ``y`` is any array of class labels
(ints or strings), as in scikit-learn: ``classes_`` holds them sorted, and ``predict`` returns them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from genclf.config import StrategyConfig, TrainConfig, validate_config
from genclf.config_rules import MAX_SEED
from genclf.data.images import ImageSet, conform
from genclf.data.inputs import as_images
from genclf.data.splits import Normalization, Split, stratified_indices
from genclf.errors import CheckpointError, ConfigError, DataError
from genclf.runtime.seeding import generator
from genclf.strategies import STRATEGIES, Context, build_strategy

__all__ = ["ImageClassifier"]


class _Loaded:
    """A saved network standing in for the fitted strategy of a loaded estimator."""

    def __init__(self, trained):
        self.trained = trained

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.trained.predict_proba(images)


MIN_SIDE = 8  # the smallest images the networks take (smaller ones are upsized)


def _labels(y: Any, X: Any) -> np.ndarray:
    """``y`` as a 1-D array of class labels: a column vector is flattened with scikit-learn's warning."""
    if y is None:
        raise DataError("y", "ImageClassifier requires y to be passed, but the target y is None (one label per image)")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)  # DataConversionWarning, as every scikit-learn classifier gives
    if y.ndim != 1:
        n = len(X) if hasattr(X, "__len__") else "?"
        raise DataError("y", f"expected a 1-D array of labels, one per image ({n}), got shape {y.shape}")
    try:
        check_classification_targets(y)
    except ValueError:
        kind = type_of_target(y)
        raise DataError("y", f"Unknown label type: {kind}; expected class labels (ints or strings)") from None
    return y


class ImageClassifier(ClassifierMixin, BaseEstimator):
    """An image classifier trained with one genclf strategy.

    Parameters:
        strategy: a registered strategy (``genclf run --help`` lists them with their roles).
        model: the classifier architecture (``cnn``, ``crnn``, ``resnet18``, ...).
        params: the strategy's own parameters (as in a run config's ``params``).
        epochs, batch_size, lr: the classifier's training budget.
        generator_epochs: the budget of the generators that generative strategies train.
        val_fraction: share of ``X`` held out (stratified) to pick the best epoch and check generators.
        value_range: ``None`` for integer images 0..255; ``(0, 1)`` or ``(0, 255)`` for float images.
        precision, device: as in ``genclf train`` (``auto`` picks bf16 where the CPU/GPU runs it fast).
        random_state: the seed of the split, initialisation and sampling.
        verbose: show training progress.
    """

    def __init__(
        self,
        strategy: str = "baseline",
        model: str = "cnn",
        params: dict[str, Any] | None = None,
        epochs: int = 10,
        batch_size: int = 64,
        lr: float = 2e-3,
        generator_epochs: int = 100,
        val_fraction: float = 0.1,
        value_range: tuple[float, float] | None = None,
        precision: str = "auto",
        device: str = "auto",
        random_state: int = 0,
        verbose: bool = False,
    ):
        self.strategy = strategy
        self.model = model
        self.params = params
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.generator_epochs = generator_epochs
        self.val_fraction = val_fraction
        self.value_range = value_range
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None, sample_weight: Any = None) -> ImageClassifier:
        """Train the strategy on images ``X`` with labels ``y`` (and an unlabeled pool, for the strategies
        that use one: semi_supervised_gan, pseudo_label, fixmatch, and generators that learn from it).
        ``sample_weight``: a non-negative weight per image, weighing its loss (strategies that train on the
        labeled images as they are: baseline, class_weights, classic_augmentation, ...)."""
        seed = 0 if self.random_state is None else self.random_state  # None: genclf's runs are seeded anyway
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
            raise ConfigError("random_state", f"expected an integer in 0..{MAX_SEED}, got {seed!r}")
        seed = int(seed)
        train_config = TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, precision=self.precision, device=self.device
        )
        generator_config = TrainConfig(
            epochs=self.generator_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            precision=self.precision,
            device=self.device,
        )
        for config in (train_config, generator_config):
            validate_config(config)
        if not 0.0 <= self.val_fraction < 1.0:
            raise DataError("val_fraction", f"expected a number in [0, 1), got {self.val_fraction!r}")
        STRATEGIES.get(self.strategy, "strategy")
        strategy = build_strategy(StrategyConfig(self.strategy, self.model, params=dict(self.params or {})))
        y = _labels(y, X)
        images = as_images(X, self.value_range, where="X")
        if len(images) == 0:
            raise DataError("X", "expected at least one image, got an empty array (0 samples)")
        self.input_size_ = images.shape[-1]
        if images.shape[-1] < MIN_SIDE:  # as the command line does: tiny images are upsized for the networks
            images = conform(images, MIN_SIDE, None)
        if y.ndim != 1 or len(y) != len(images):
            raise DataError("y", f"expected one label per image ({len(images)}), got shape {y.shape}")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError("y", f"expected at least 2 classes, got {len(self.classes_)} class(es)")
        weights = self._sample_weights(sample_weight, len(images))
        labeled = ImageSet(
            images, torch.from_numpy(codes.astype(np.int64)), [str(c) for c in self.classes_], weights=weights
        )
        train_idx, val_idx = stratified_indices(labeled.labels, len(self.classes_), self.val_fraction, generator(seed))
        train, val = labeled.subset(train_idx), labeled.subset(val_idx)
        unlabeled = None
        if X_unlabeled is not None:
            pool = as_images(X_unlabeled, self.value_range, train.channels, self.input_size_, where="X_unlabeled")
            pool = conform(pool, train.image_size, None)
            # the pool's labels are unknown: -1 makes any use of them fail loudly
            unlabeled = ImageSet(pool, torch.full((len(pool),), -1, dtype=torch.long), train.class_names)
        # no test split inside fit: the validation images stand in where a strategy wants one
        split = Split(train, val, val, unlabeled, Normalization.fit(train.images))
        context = Context(
            seed,
            train_config,
            generator_config,
            quiet=not self.verbose,
            generator_pool="pseudo_labeled" if unlabeled is not None else "labeled",
        )
        torch.manual_seed(seed)
        context.start_strategy()
        strategy.fit(split, context)
        self.strategy_ = strategy
        self.channels_, self.image_size_ = train.channels, train.image_size
        self.generators_ = context.generators()
        self.model_ = strategy.deployable(split)  # one network, or None (e.g. colorize_then_classify)
        return self

    def _sample_weights(self, sample_weight: Any, n: int) -> torch.Tensor | None:
        if sample_weight is None:
            return None
        if not STRATEGIES.get(self.strategy).takes_sample_weights():
            takers = [name for name in STRATEGIES.names() if STRATEGIES.get(name).takes_sample_weights()]
            raise ConfigError(
                "sample_weight",
                f"strategy {self.strategy!r} resamples or generates its training images, so no weight per image "
                f"applies; strategies that take sample_weight: {', '.join(takers)}",
            )
        weights = np.full(n, float(sample_weight)) if np.isscalar(sample_weight) else np.asarray(sample_weight)
        if weights.shape != (n,):
            raise DataError("sample_weight", f"expected one weight per image, shape ({n},), got {weights.shape}")
        try:
            weights = weights.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError("sample_weight", f"expected numbers, got {weights.dtype} values") from None
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise DataError("sample_weight", "expected finite, non-negative weights")
        if weights.sum() <= 0:
            raise DataError("sample_weight", "all weights are zero: nothing to learn from")
        return torch.from_numpy(weights.astype(np.float32))

    def _network(self):
        check_is_fitted(self, "strategy_")
        if getattr(self, "model_", None) is None:
            raise CheckpointError(
                "strategy", f"{self.strategy!r} ends in no single network that can be saved or exported"
            )
        return self.model_

    def save(self, path: str | Path) -> Path:
        """Write the fitted classifier as a genclf checkpoint folder (``model.safetensors`` + ``model.json``,
        no pickle): ``ImageClassifier.load``, ``genclf.load_model``, ``genclf predict --checkpoint`` and
        ``genclf export`` all read it."""
        from genclf.pipelines.classify import save_classifier

        params = {
            k: v for k, v in self.get_params().items() if isinstance(v, (str, int, float, bool, dict, list, tuple))
        }
        return save_classifier(path, self._network(), estimator=params, classes=self.classes_.tolist())

    @classmethod
    def load(cls, path: str | Path) -> ImageClassifier:
        """A fitted estimator from a folder written by ``save`` (predict, predict_proba, score, export_onnx)."""
        import inspect

        from genclf.pipelines.classify import load_classifier
        from genclf.training.checkpoint import read_meta_json

        meta = read_meta_json(path)
        trained = load_classifier(path)
        accepted = inspect.signature(cls.__init__).parameters
        params = {k: v for k, v in (meta.get("estimator") or {}).items() if k in accepted}
        if isinstance(params.get("value_range"), list):
            params["value_range"] = tuple(params["value_range"])
        estimator = cls(**params)
        estimator.classes_ = np.asarray(meta.get("classes") or trained.class_names)
        estimator.strategy_ = _Loaded(trained)
        estimator.model_, estimator.generators_ = trained, {}
        estimator.channels_, estimator.image_size_ = trained.channels, trained.image_size
        return estimator

    def export_onnx(self, path: str | Path) -> dict:
        """An ONNX file of the fitted network (uint8 images in, probabilities out), checked with onnxruntime."""
        from genclf.pipelines.export import export_onnx

        return export_onnx(self._network(), path)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, len(classes_)), columns in ``classes_`` order."""
        check_is_fitted(self, "strategy_")
        size = getattr(self, "input_size_", self.image_size_)
        images = conform(as_images(X, self.value_range, self.channels_, size, where="X"), self.image_size_, None)
        return self.strategy_.predict_proba(images)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # images: (N, H, W[, C]) arrays, not feature matrices
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags
