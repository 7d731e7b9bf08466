"""Transfer from ImageNet: what the strategies on a pretrained backbone share (heads on frozen features, the
backbone's cost probe, the feature-space generator); each strategy is its own file.

The entry's ``classifier`` names the pretrained backbone (``efficientnet_lite0`` unless another registered
backbone is given), so ``{name: linear_probe, classifier: efficientnet_lite0}`` reads as
``linear_probe[efficientnet_lite0]`` in every table.

- ``linear_probe`` (role baseline): a multinomial logistic regression on the frozen, cached features of the
  labeled images, its regularisation chosen on the validation split. It is the do-nothing option of a
  pretrained grid (labeled data only, no generation), so a photo plan lists it first and every other row is
  compared with it; in a grid that lists the cnn ``baseline`` first it is a classical competitor.
- ``feature_smote`` (classical): the same head after SMOTE in feature space (the classical counterpart of
  generative balancing on embeddings).
- ``finetune`` (classical): the whole backbone trained, its body at a tenth of the head's learning rate, for
  ``epochs`` passes (default 6: fine-tuning converges in a few).
- ``feature_augmentation`` (generative): a class-conditional generator of embeddings (``gaussian``: per-class
  means and a shared Ledoit-Wolf covariance, the model behind LDA; ``cvae`` and ``cgan``: small networks, see
  ``genclf.strategies.feature_generators``) trained on the labeled features; the head
  learns from real + generated embeddings (``ratio`` generated per real image, or with ``balance`` the
  minority classes filled up to the largest). The generator is checked like every generator: a head trained
  on generated embeddings alone (CAS, macro-F1 on the validation split) against the real-data head, and
  against chance; a generator that fails makes the strategy inconclusive. FID, KID and precision / recall /
  coverage between generated and real validation embeddings sit beside it in generators.csv."""

from __future__ import annotations

import numpy as np
import torch

from genclf.config_rules import integer
from genclf.data.splits import Split
from genclf.strategies.base import (
    Context,
    Strategy,
)

DEFAULT_BACKBONE = "efficientnet_lite0"
C_GRID = (0.001, 0.01, 0.1, 1.0)  # inverse L2 strengths tried on the validation split (features standardised)


def backbone_of(classifier: str) -> str:
    from genclf.models.backbones import BACKBONES

    return classifier if classifier in BACKBONES else DEFAULT_BACKBONE


def macro_f1_of(labels: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(labels, proba.argmax(1), average="macro", labels=np.arange(proba.shape[1]), zero_division=0))


class FeatureHead:
    """Standardised features -> multinomial logistic regression, with every class's column in its output."""

    def __init__(self, num_classes: int, class_weight: str | None = None, seed: int = 0):
        self.num_classes, self.class_weight, self.seed = num_classes, class_weight, seed

    def fit(self, x: np.ndarray, y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray) -> FeatureHead:
        """Fit one head per C in ``C_GRID`` and keep the best on validation macro-F1 (ties: the stronger
        regularisation); without a validation split, C = 0.1."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        self.scaler = StandardScaler().fit(x)
        xs = self.scaler.transform(x)
        grid = C_GRID if len(val_y) else (0.1,)
        best = None
        for c in grid:
            model = LogisticRegression(C=c, max_iter=2000, class_weight=self.class_weight, random_state=self.seed)
            model.fit(xs, y)
            self.model = model
            score = macro_f1_of(val_y, self.predict_proba(val_x)) if len(val_y) else 0.0
            if best is None or score > best[0]:
                best = (score, model, c)
        self.val_macro_f1, self.model, self.c = best
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        proba = np.zeros((len(x), self.num_classes), dtype=np.float64)
        if len(x):
            proba[:, self.model.classes_] = self.model.predict_proba(self.scaler.transform(x))
        return proba.astype(np.float32)

    def as_linear(self) -> tuple[np.ndarray, np.ndarray]:
        """The head as logits = W x + b on raw features: the standardisation folded into the weights; a
        class the head never saw gets a bias that keeps its probability at zero."""
        coef, intercept = self.model.coef_, self.model.intercept_
        if len(self.model.classes_) == 2:  # binary: one decision function, the first class's logit at 0
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
        scale, mean = self.scaler.scale_, self.scaler.mean_
        weight = np.zeros((self.num_classes, coef.shape[1]))
        bias = np.full(self.num_classes, -1e4)
        weight[self.model.classes_] = coef / scale
        bias[self.model.classes_] = intercept - (coef / scale) @ mean
        return weight, bias

    def fold_into(self, model) -> None:
        """Make ``model.head`` (a linear layer on the backbone's pooled features) this head."""
        weight, bias = self.as_linear()
        model.head.weight.data.copy_(torch.from_numpy(weight).float())
        model.head.bias.data.copy_(torch.from_numpy(bias).float())


HEAD_SECONDS = 2.5  # one validated logistic-regression head on ~1,000 embeddings (measured on 2 cores)


class PlannedOnBackbone:
    """What a data-derived plan needs to cost a strategy on a pretrained backbone: a probe (the backbone's
    forward time per image, and the feature-cache work the run pays once) and seconds per cell."""

    heads = 1  # logistic-regression heads fitted per cell

    @classmethod
    def probe_key(cls, entry) -> tuple[str, int]:
        return backbone_of(entry.classifier), int(entry.params.get("resolution", cls.defaults["resolution"]))

    @classmethod
    def probe(cls, entry, split: Split, data) -> dict:
        import time

        from genclf.models.features import frozen_backbone, missing_count

        backbone, resolution = cls.probe_key(entry)
        began = time.perf_counter()
        model = frozen_backbone(backbone, resolution, split.train.channels)
        loaded = time.perf_counter() - began
        sample = split.train.images[:32].float().div(255.0)
        with torch.inference_mode():
            model.features(sample[:2])  # warm-up
            began = time.perf_counter()
            model.features(sample)
        per_image = (time.perf_counter() - began) / max(1, len(sample))
        used = [data.train.images] + ([data.test.images] if data.test is not None else [])
        missing = missing_count(backbone, torch.cat(used), resolution)
        return {"image_seconds": per_image, "once_seconds": loaded + missing * per_image}

    @classmethod
    def planned_seconds(cls, entry, split: Split, train, probe: dict) -> float:
        return HEAD_SECONDS * cls.heads


class FeatureStrategy(PlannedOnBackbone, Strategy):
    """A head on frozen features of the labeled images (and whatever ``head_data`` adds)."""

    defaults = {"resolution": 128}

    def validate_params(self) -> None:
        self.check_param("resolution", integer(32, 512))

    @property
    def backbone(self) -> str:
        return backbone_of(self.config.classifier)

    def embed(self, images: torch.Tensor, quiet: bool = True) -> np.ndarray:
        from genclf.models.features import embed

        return embed(self.backbone, images, self.params["resolution"], quiet=quiet)

    def head_data(self, x: np.ndarray, y: np.ndarray, split: Split, context: Context, val) -> tuple:
        return x, y

    def with_pseudo_labels(self, x: np.ndarray, y: np.ndarray, split: Split, context: Context, val) -> tuple:
        """The labeled embeddings plus the confident, class-balanced part of the unlabeled pool's, labelled
        by the linear probe of the labeled ones (self-training in feature space). ``threshold`` applies to
        the probe's probabilities after temperature scaling on the validation split: a strongly regularised
        probe (10 labels per class) is so underconfident that a raw 0.9 admits nothing, a weakly regularised
        one overconfident. Without a pool, the labeled embeddings alone."""
        from genclf.data.pseudo_labels import confident_pseudo_labels, pseudo_label_accuracy
        from genclf.evaluation.calibration import apply_temperature, fit_temperature

        pool = split.unlabeled
        if pool is None or not len(pool):
            self.extra.update({"n_pseudo": 0, "n_unlabeled": 0})
            return x, y
        teacher = FeatureHead(split.train.num_classes, self.class_weight(), context.seed).fit(x, y, *val)
        val_x, val_y = val
        temperature = fit_temperature(teacher.predict_proba(val_x), val_y) if len(val_y) else 1.0
        pool_x = self.embed(pool.images, context.quiet)
        proba = apply_temperature(teacher.predict_proba(pool_x), temperature)
        chosen = confident_pseudo_labels(proba, float(self.params["threshold"]))
        pseudo = proba.argmax(1)[chosen]
        self.extra.update(
            {
                "n_unlabeled": len(pool),
                "n_pseudo": len(chosen),
                "pseudo_temperature": round(temperature, 4),
                "pseudo_label_accuracy": pseudo_label_accuracy(pseudo, pool.labels.numpy()[chosen]),
            }
        )
        return np.concatenate([x, pool_x[chosen]]), np.concatenate([y, pseudo])

    def class_weight(self) -> str | None:
        return None

    def fit(self, split: Split, context: Context) -> None:
        x, y = self.embed(split.train.images, context.quiet), split.train.labels.numpy()
        val = (self.embed(split.val.images), split.val.labels.numpy())
        hx, hy = self.head_data(x, y, split, context, val)
        self.extra["n_train_effective"] = len(hy)
        self.head = FeatureHead(split.train.num_classes, self.class_weight(), context.seed).fit(hx, hy, *val)
        self.extra["head_c"] = self.head.c
        self.extra.update({"epochs": 0, "steps": 0})  # a closed-form head: no epochs of a network

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.head.predict_proba(self.embed(images))

    def deployable(self, split: Split):
        """The backbone with the head folded in as its linear layer: one network from uint8 images to
        probabilities (equal to the strategy's own up to the float16 rounding of cached features)."""
        from genclf.models.classifiers import build_classifier, prepare_for
        from genclf.pipelines.classify import TrainedClassifier

        options = {"dropout": 0.0, "resolution": int(self.params["resolution"])}
        model = build_classifier(
            self.backbone, split.train.channels, split.train.num_classes, split.train.image_size, **options
        )
        prepare_for(model, split.normalization)
        self.head.fold_into(model)
        return TrainedClassifier(model.eval(), self.backbone, options, list(split.class_names), split.normalization)
