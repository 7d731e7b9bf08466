"""Generator quality, offline.

No Inception weights can be downloaded at run time, so every feature here comes from a genclf
classifier trained on the real training split of the same data (``features(x)``, the layer before
its linear head). Numbers are comparable between generators on the same data, not with published FIDs.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy import linalg

from genclf.config import TrainConfig
from genclf.pipelines.classify import TrainedClassifier
from genclf.training.fit import Fit


@torch.no_grad()
def extract_features(classifier: TrainedClassifier, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    model = classifier.model.eval()
    device = next(model.parameters()).device
    parts = []
    for start in range(0, len(images), batch_size):
        batch = classifier.normalization.apply(images[start : start + batch_size].to(device))
        parts.append(model.features(batch).float().cpu())
    return torch.cat(parts).numpy().astype(np.float64)


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID formula on two feature sets: |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^1/2).

    With fewer samples than dimensions (e.g. a few hundred 2,048-d Inception features) the trace of the root
    is computed exactly and fast from the samples: the eigenvalues of S_r S_f are the squared singular
    values of A_r A_f^T / sqrt((n_r - 1)(n_f - 1)) (A: the centred features), so no d x d matrix root is needed.
    """
    mu_r, mu_f = real.mean(0), fake.mean(0)
    if min(len(real), len(fake)) < real.shape[1]:
        a, b = real - mu_r, fake - mu_f
        scale = np.sqrt((len(real) - 1) * (len(fake) - 1))
        root_trace = np.linalg.svd(a @ b.T, compute_uv=False).sum() / scale
        traces = (a * a).sum() / (len(real) - 1) + (b * b).sum() / (len(fake) - 1)
        return float(max(0.0, ((mu_r - mu_f) ** 2).sum() + traces - 2 * root_trace))
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    with warnings.catch_warnings():  # a singular product is handled below, not worth a warning to the user
        warnings.simplefilter("ignore")
        root = linalg.sqrtm(cov_r @ cov_f)
        if not np.isfinite(root).all():  # singular product: regularise (as in pytorch-fid)
            offset = np.eye(len(cov_r)) * 1e-6
            root = linalg.sqrtm((cov_r + offset) @ (cov_f + offset))
    return float(max(0.0, ((mu_r - mu_f) ** 2).sum() + np.trace(cov_r + cov_f - 2 * root.real)))


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, subsets: int = 10, subset_size: int = 500, seed: int = 0
) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel; mean and std over subsets."""
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(real), len(fake))
    dim = real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        kxx, kyy, kxy = ((a @ b.T / dim + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off = size * (size - 1)
        values.append((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage with k-NN balls (Naeem et al. 2020)."""
    real_t, fake_t = torch.from_numpy(real).float(), torch.from_numpy(fake).float()
    real_real = torch.cdist(real_t, real_t)
    fake_fake = torch.cdist(fake_t, fake_t)
    real_fake = torch.cdist(real_t, fake_t)  # (R, F)
    radius_real = real_real.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0
    radius_fake = fake_fake.kthvalue(k + 1, dim=1).values
    inside = real_fake < radius_real[:, None]  # fake j inside real i's ball
    return {
        "precision": float(inside.any(dim=0).float().mean()),
        "recall": float((real_fake < radius_fake[None, :]).any(dim=1).float().mean()),
        "density": float(inside.float().sum(dim=0).mean() / k),
        "coverage": float((real_fake.min(dim=1).values < radius_real).float().mean()),
    }


def assess_generator(
    generator,
    split,
    train_config,
    seed: int = 0,
    per_class: int | None = None,
    quiet: bool = True,
    real_classifier=None,
) -> dict:
    """Every generator-quality number for ``generator`` (a ``TrainedGenerator``) on ``split``.

    Trains two genclf ``cnn`` classifiers: one on the real training images (the feature space and the
    real-data reference accuracy; pass ``real_classifier`` to reuse one) and one on generated images
    only (CAS, Ravuri & Vinyals 2019).
    """
    from dataclasses import replace

    from genclf.pipelines.classify import train_classifier

    real_clf = real_classifier or train_classifier(split, "cnn", Fit(train_config, seed, quiet=quiet))[0]
    test_labels = split.test.labels.numpy()
    real_accuracy = float((real_clf.predict_proba(split.test.images).argmax(1) == test_labels).mean())
    counts = split.train.class_counts()
    per_class = per_class or max(counts)
    fake = generator.sample_per_class(per_class, seed=seed)
    f_train = extract_features(real_clf, split.train.images)
    f_test = extract_features(real_clf, split.test.images)
    f_fake = extract_features(real_clf, fake.images)
    synthetic_split = replace(split, train=fake, val=fake.subset(torch.arange(0)))
    cas_clf, _ = train_classifier(synthetic_split, "cnn", Fit(train_config, seed, quiet=quiet))
    cas = float((cas_clf.predict_proba(split.test.images).argmax(1) == test_labels).mean())
    fake_pred = real_clf.predict_proba(fake.images).argmax(1)
    fake_labels = fake.labels.numpy()
    n = min(len(f_test), len(f_fake), 5000)
    rng = np.random.default_rng(seed)
    sub_test, sub_fake = (
        f_test[rng.choice(len(f_test), n, replace=False)],
        f_fake[rng.choice(len(f_fake), n, replace=False)],
    )
    kid, kid_std = kernel_inception_distance(f_train, f_fake, seed=seed)
    kid_floor, _ = kernel_inception_distance(f_train, f_test, seed=seed)
    return {
        "feature_space": "penultimate layer of a genclf 'cnn' trained on the real training split",
        "generator": generator.name,
        "n_generated": len(fake),
        "fid": frechet_distance(f_train, f_fake),
        "fid_floor_real_train_vs_test": frechet_distance(f_train, f_test),
        "kid": kid,
        "kid_std": kid_std,
        "kid_floor_real_train_vs_test": kid_floor,
        **prdc(sub_test, sub_fake),
        "cas": cas,
        "real_data_accuracy": real_accuracy,
        "generated_accuracy_by_real_classifier": float((fake_pred == fake_labels).mean()),
        "per_class_generated_accuracy": {
            name: float((fake_pred[fake_labels == c] == c).mean()) for c, name in enumerate(fake.class_names)
        },
    }


def assessment_budget(train_size: int) -> TrainConfig:
    """A fixed training budget for the two assessment classifiers: about 1,500 steps, 3 to 30 epochs."""
    return TrainConfig(epochs=int(min(30, max(3, math.ceil(1500 * 128 / max(train_size, 1))))), batch_size=128, lr=2e-3)


CHANCE_MARGIN = 0.05  # CAS must beat the majority-class predictor by 5 % of the way from it to a perfect score


def cas_status(cas: float, real_score: float, chance: float, min_cas_ratio: float) -> str:
    """The CAS verdict shared by pixel and feature generators (all scores macro-F1 on the validation split):
    failed when CAS is under ``min_cas_ratio`` x the real-data score, or no better than predicting the
    majority class for every image (a generator whose samples collapse to one class)."""
    if cas < min_cas_ratio * real_score:
        return f"failed: CAS macro-F1 {cas:.3f} < {min_cas_ratio:g} x real-data macro-F1 {real_score:.3f}"
    if cas <= chance + CHANCE_MARGIN * (1 - chance):
        return f"failed: CAS macro-F1 {cas:.3f} is at chance (majority class: {chance:.3f})"
    return "ok"


def generator_check(
    generator,
    split,
    reference: TrainedClassifier,
    train_config: TrainConfig,
    classifier: str = "cnn",
    seed: int = 0,
    min_cas_ratio: float = 0.75,
    min_diversity: float = 0.25,
    inception: bool = False,
) -> dict:
    """The quality check of a generator inside a run, on the real *validation* split.

    CAS: a ``classifier`` with the run's budget, trained on as many generated images per class as there
    are labeled ones, scored on the validation images with macro-F1 (never plain accuracy: on imbalanced data
    a classifier that says "majority" for everything scores the majority share); the real-data reference is
    ``reference`` (the same recipe on the labeled images), and chance is the majority-class predictor. FID/KID and PRDC are measured in ``reference``'s feature space against
    the validation images (with the labeled images against them as the floor); diversity is the per-class
    ratio of generated to real pairwise distances. ``status`` is ``failed: ...`` when ``cas_status`` says so or a
    class's diversity is under ``min_diversity``. ``inception``: colour images also get the standard
    Inception-V3 FID (``fid_inception``, and its floor), see ``genclf.evaluation.inception``.
    """
    from dataclasses import replace

    from genclf.pipelines.classify import macro_f1, train_classifier
    from genclf.pipelines.generate import diversity_ratios

    val_labels = split.val.labels
    k = split.train.num_classes
    real_score = macro_f1(val_labels, reference.predict_proba(split.val.images).argmax(1), k)
    counts = split.train.class_counts()
    labels = torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in enumerate(counts)])
    fake = type(split.train)(generator.sample(labels, seed=seed + 7), labels, list(split.class_names))
    synthetic = replace(split, train=fake, val=fake.subset(torch.arange(0)))
    cas_clf, _ = train_classifier(synthetic, classifier, Fit(train_config, seed, quiet=True))
    cas = macro_f1(val_labels, cas_clf.predict_proba(split.val.images).argmax(1), k)
    # what a classifier that learned nothing but the class sizes scores: the majority class for every image
    chance = macro_f1(val_labels, np.full(len(val_labels), int(np.argmax(counts))), k)
    f_val = extract_features(reference, split.val.images)
    f_fake = extract_features(reference, fake.images)
    f_real = extract_features(reference, split.train.images)
    diversity = diversity_ratios(generator.sample_per_class(50, seed=seed + 11), split.train)
    worst = min(diversity, key=diversity.get) if diversity else None
    status = cas_status(cas, real_score, chance, min_cas_ratio)
    if status == "ok" and worst is not None and diversity[worst] < min_diversity:
        status = f"failed: class {worst!r} diversity {diversity[worst]:.2f} < {min_diversity:g} (collapsed)"
    return {
        "cas": cas,
        "real_macro_f1": real_score,
        "chance_macro_f1": chance,
        "cas_ratio": cas / real_score if real_score else math.nan,
        **feature_distances(f_val, f_fake, f_real, seed),
        **prdc(f_val, f_fake, k=min(5, len(f_fake) - 1, len(f_val) - 1)),
        "min_diversity": diversity[worst] if worst is not None else math.nan,
        "n_generated": len(fake),
        **pretrained_distances(split, fake, seed),
        **(inception_distances(split, fake) if inception else {}),
        "status": status,
    }


def feature_distances(real: np.ndarray, fake: np.ndarray, floor: np.ndarray, seed: int = 0, name: str = "") -> dict:
    """In one feature space: FID and KID of ``fake`` against ``real``, and the FID ``floor`` (other real
    samples) scores against ``real``, keyed ``fid<name>``, ``fid<name>_floor``, ``kid<name>``."""
    return {
        f"fid{name}": frechet_distance(real, fake),
        f"fid{name}_floor": frechet_distance(real, floor),
        f"kid{name}": kernel_inception_distance(real, fake, seed=seed)[0],
    }


def inception_distances(split, fake) -> dict:
    """For colour images, the standard Inception-V3 FID and KID against the validation images, and the FID
    floor (the labeled images against them). Empty for grey images."""
    if split.train.channels != 3:
        return {}
    from genclf.evaluation.inception import inception_features

    f_val, f_fake, f_real = (inception_features(s.images) for s in (split.val, fake, split.train))
    return feature_distances(f_val, f_fake, f_real, name="_inception")


def pretrained_distances(split, fake, seed: int = 0) -> dict:
    """For colour images, FID and KID in the feature space of the ImageNet-pretrained EfficientNet-Lite0
    (cached features; a domain-independent yardstick next to the run classifier's own features), with the
    labeled images against the validation ones as the floor. Empty for grey images."""
    if split.train.channels != 3:
        return {}
    from genclf.models.features import embed

    f_val, f_fake, f_real = (embed("efficientnet_lite0", s.images) for s in (split.val, fake, split.train))
    return feature_distances(f_val, f_fake, f_real, seed, name="_imagenet")
