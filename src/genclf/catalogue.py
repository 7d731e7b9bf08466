"""The names genclf ships, for help pages and usage errors that answer without importing torch or the
runner: registered strategies (with their roles), models, corruptions, and the run's option values.

The registries stay the truth: a test checks this table against them, so a shipped registration missing
here fails CI. A strategy or model registered by the user's own module is not listed in ``--help`` but is
accepted all the same (names are checked against the registries when the command runs).
"""

from __future__ import annotations

STRATEGY_ROLES = {
    "autoencoder_fusion": "generative",
    "baseline": "baseline",
    "class_weights": "classical",
    "classic_augmentation": "classical",
    "colorize_then_classify": "generative",
    "cutmix": "classical",
    "feature_augmentation": "generative",
    "feature_fusion": "generative",
    "feature_pseudo_label": "classical",
    "feature_smote": "classical",
    "finetune": "classical",
    "fixmatch": "classical",
    "generative_balancing": "generative",
    "generative_classifier": "generative",
    "linear_probe": "baseline",
    "mixup": "classical",
    "pseudo_label": "classical",
    "random_oversampling": "classical",
    "semi_supervised_gan": "generative",
    "smote": "classical",
    "synthetic_augmentation": "generative",
}
# efficientnet_lite1 / _lite2 register too where their weight packages are installed
CLASSIFIERS = ("cnn", "crnn", "efficientnet_lite0", "resnet18")
GENERATORS = ("cgan", "cvae", "ddpm")
COLORIZERS = ("pix2pix", "unet_l1", "unet_pretrained")
CORRUPTIONS = (
    "gaussian_noise",
    "shot_noise",
    "gaussian_blur",
    "contrast",
    "brightness",
    "jpeg_compression",
    "pixelate",
    "occlusion",
    "rotation",
)
SAVE_POLICIES = ("best", "all", "none")
EXECUTORS = ("local", "ray")
