"""``feature_augmentation``: real plus generated embeddings for the head, drawn from a class-conditional
generator of the backbone's features (``generator``: gaussian, cvae or cgan; checked like any generator);
``balance: true`` is generative class balancing in feature space. With ``pseudo_label: true`` the generator
and the head also learn from the unlabeled pool's confidently pseudo-labelled embeddings (those of
``feature_pseudo_label``, the row to compare it with).
"""

from __future__ import annotations

import numpy as np

from genclf.config_rules import between, one_of
from genclf.evaluation.generator_quality import cas_status
from genclf.roles import GENERATIVE
from genclf.strategies.base import (
    Proposal,
    photos,
    photos_imbalanced,
    register_strategy,
)
from genclf.strategies.feature_generators import FEATURE_GENERATORS
from genclf.strategies.features import (
    DEFAULT_BACKBONE,
    HEAD_SECONDS,
    FeatureHead,
    FeatureStrategy,
    macro_f1_of,
)


class ChecksFeatureGenerator:
    """The check of a generator of embeddings, for the strategies that train one (``generator_key`` names it
    in generators.csv; ``params.min_cas_ratio`` gates it)."""

    def check(self, generator, x, y, val, counts, context) -> dict:
        """CAS: a head trained on as many generated embeddings as real ones, scored on the validation split
        (macro-F1), against the real-data head and chance; and the distances between generated and real
        validation embeddings (standardised on the labeled ones), with the labeled-vs-validation FID as floor."""
        from genclf.evaluation.generator_quality import feature_distances, prdc

        val_x, val_y = val
        k = len(counts)
        real = FeatureHead(k, seed=context.seed).fit(x, y, val_x, val_y)
        fake_x, fake_y = generator.sample(counts.tolist(), context.seed + 1)
        fake = FeatureHead(k, seed=context.seed).fit(fake_x, fake_y, val_x, val_y)
        real_f1, cas = real.val_macro_f1, fake.val_macro_f1
        chance = macro_f1_of(val_y, np.eye(k)[np.full(len(val_y), int(np.argmax(counts)))])
        mean, scale = x.astype(np.float64).mean(0), x.astype(np.float64).std(0) + 1e-6
        val_z, labeled_z, made_z = ((np.asarray(a, dtype=np.float64) - mean) / scale for a in (val_x, x, fake_x))
        distances = feature_distances(val_z, made_z, labeled_z, context.seed)
        if min(len(val_z), len(made_z)) > 5:
            distances.update({name: v for name, v in prdc(val_z, made_z).items() if name != "density"})
        return {
            "generator": self.generator_key(),
            "cas": round(cas, 4),
            "real_macro_f1": round(real_f1, 4),
            "chance_macro_f1": round(chance, 4),
            "status": cas_status(cas, real_f1, chance, float(self.params["min_cas_ratio"])),
            **{name: round(v, 5) for name, v in distances.items()},
        }


@register_strategy(
    "feature_augmentation",
    GENERATIVE,
    plan=[
        Proposal(5, photos, classifier=DEFAULT_BACKBONE),
        Proposal(
            6,
            photos_imbalanced,
            classifier=DEFAULT_BACKBONE,
            label=f"feature_balancing[{DEFAULT_BACKBONE}]",
            params={"balance": True},
        ),
    ],
)
class FeatureAugmentation(ChecksFeatureGenerator, FeatureStrategy):
    """Real + generated embeddings for the head (see the module docstring)."""

    defaults = {
        "resolution": 128,
        "generator": "gaussian",
        "ratio": 1.0,
        "balance": False,
        "min_cas_ratio": 0.75,
        "pseudo_label": False,
        "threshold": 0.9,
    }
    heads = 3  # its own, and the generator check's two (and the pseudo-labelling probe's)

    def validate_params(self) -> None:
        super().validate_params()
        self.check_param("generator", one_of(*sorted(FEATURE_GENERATORS)))
        self.check_param("ratio", between(0, 20, high_open=False))  # generated embeddings per real one
        self.check_param("threshold", between(0, 1))

    @classmethod
    def planned_seconds(cls, entry, split, train, probe: dict) -> float:
        return HEAD_SECONDS * (cls.heads + bool(entry.params.get("pseudo_label", False)))

    def generator_key(self) -> str:
        pool = "_pseudo" if self.params["pseudo_label"] else ""
        return f"features_{self.params['generator']}{pool}_{self.backbone}_{self.params['resolution']}px"

    def head_data(self, x, y, split, context, val):
        if self.params["pseudo_label"]:
            x, y = self.with_pseudo_labels(x, y, split, context, val)
        k = split.train.num_classes
        generator = FEATURE_GENERATORS[self.params["generator"]]().fit(x, y, k, seed=context.seed)
        counts = np.bincount(y, minlength=k)
        if self.params["balance"]:
            extra = (counts.max() - counts).tolist()
        else:
            extra = np.round(counts * float(self.params["ratio"])).astype(int).tolist()
        self.generator_checks = [self.check(generator, x, y, val, counts, context)]
        key = self.generator_key()
        if key not in context.used:
            context.used.append(key)
        fake_x, fake_y = generator.sample(extra, context.seed)
        self.extra["n_generated"] = len(fake_y)
        return np.concatenate([x, fake_x]), np.concatenate([y, fake_y])
