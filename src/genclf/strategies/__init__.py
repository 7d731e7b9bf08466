"""Strategies: ways of using (or not using) generation to help a classifier, each registered by name.

One file per strategy, named after it (``fixmatch.py`` registers ``fixmatch``); the shared pieces are
``base.py`` (the Strategy contract, the Context, the plan's predicates), ``classifier.py`` (a strategy that
trains one classifier), ``wrapped.py``, ``mixing.py``, ``generated_data.py``, ``features.py`` (strategies
on a pretrained backbone's frozen features), ``feature_generators.py`` (their generators of embeddings) and
``embedding_fusion.py`` (``feature_fusion`` and ``autoencoder_fusion`` on those embeddings).
"""

from genclf.strategies import (  # noqa: F401  (register the strategies)
    autoencoder_fusion,
    baseline,
    class_weights,
    classic_augmentation,
    colorize_then_classify,
    cutmix,
    feature_augmentation,
    feature_fusion,
    feature_pseudo_label,
    feature_smote,
    finetune,
    fixmatch,
    generative_balancing,
    generative_classifier,
    linear_probe,
    mixup,
    pseudo_label,
    random_oversampling,
    semi_supervised_gan,
    smote,
    synthetic_augmentation,
)
from genclf.strategies.base import STRATEGIES, Context, Strategy, build_strategy, strategy_class

__all__ = ["STRATEGIES", "Context", "Strategy", "build_strategy", "strategy_class"]
