"""A run plan derived from the data, for ``genclf run --data SPEC`` without a config file.

What the data decides:

- **labels**: every labeled image is used (no low-data subset; a budget sweep only when asked with
  ``--k-per-class`` or ``--set data.k_per_class=[...]``);
- **image size and channels**: the source's own for small images (folders: the median shorter side of a
  sample of files, when it is at most ``MAX_NATIVE``); larger photos at ``TRANSFER_SIZE`` px in colour
  folders (the pretrained backbone's input), ``PHOTO_SIZE`` px otherwise; colour when any sampled image is
  colour;
- **epochs and batch size**: from the training set size, aiming at about ``TARGET_STEPS`` optimizer steps
  (between ``MIN_EPOCHS`` and ``MAX_EPOCHS`` epochs); batch 32 below 5,000 training images, 64 above;
- **strategies**: each registered strategy declares when the plan proposes it (a predicate on the survey:
  colour photos, imbalance, an unlabeled pool) and where it goes in the plan; this module names none. Data
  trained from scratch gets the baseline, standard augmentation, mixup, CutMix and synthetic augmentation
  (cVAE) always, the imbalance remedies when the classes are imbalanced (largest / smallest class >=
  ``IMBALANCE_RATIO``) and the semi-supervised strategies when there is an unlabeled pool (a folder's
  ``unlabeled/`` sub-folder); a folder of colour photos gets a linear probe on frozen ImageNet features (the
  grid's baseline), fine-tuning, generation in feature space and the imbalance remedies on features;
- **seeds**: 3.

The estimate times one epoch of the baseline classifier and one of the cVAE on the run's own training set
(the *probe*, a few seconds) and multiplies by each cell's budget, with each strategy's declared cost
relative to the baseline (measured on genclf's benchmarks). Strategies on a pretrained backbone cost
themselves from a probe of the backbone's forward time, and the feature cache the run fills once is
costed once. ``time_budget`` scales epochs (then seeds) down to fit.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genclf.config import DataConfig, RunConfig, StrategyConfig, TrainConfig
from genclf.errors import ConfigError
from genclf.training.fit import Fit

MAX_NATIVE = 64  # images up to this size are used at their own size
PHOTO_SIZE = 64  # larger photos are resized to this
TARGET_STEPS = 750
MIN_EPOCHS, MAX_EPOCHS = 10, 40
IMBALANCE_RATIO = 1.5
SEEDS = [0, 1, 2]
SAMPLE_FILES = 200  # files whose headers are read to survey a folder
COLOUR_MODES = ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")

GENERATOR_EPOCHS = 40  # passes over the labeled set for the cVAE of a planned run
TRANSFER_BACKBONE = "efficientnet_lite0"  # colour photo folders start from its ImageNet features
FINETUNE_EPOCHS = 6  # ``genclf train`` on a colour photo folder fine-tunes the backbone this long
PROBE_IMAGES = 2048  # a colorizer's epoch is timed on at most this many images of its pool
TRANSFER_SIZE = 128  # colour photo folders load at the backbone's input size (models.backbones.DEFAULT_RESOLUTION)


@dataclass
class Survey:
    """What the data looks like, before any choice is made."""

    spec: str
    name: str
    class_names: list[str]
    class_counts: list[int]
    n_test: int | None
    n_unlabeled: int
    native_size: int
    channels: int
    image_size: int
    photos: bool = False  # a folder of colour images: the plan starts from pretrained features
    data: Any = field(default=None, repr=False, compare=False)  # the LoadedData it read (reused by estimate)

    @property
    def imbalance_ratio(self) -> float:
        return max(self.class_counts) / max(1, min(self.class_counts))

    @property
    def imbalanced(self) -> bool:
        return self.imbalance_ratio >= IMBALANCE_RATIO


@dataclass
class Plan:
    config: RunConfig
    survey: Survey
    cells: list[tuple[str, float]] = field(default_factory=list)  # (entry, estimated seconds per seed)
    generator_seconds: float = 0.0  # per seed
    colorizer_seconds: float = 0.0  # per seed: the colorizers the grid trains (shared by their entries)
    once_seconds: float = 0.0  # paid once for the whole run (the pretrained feature cache)
    probe_seconds: float = 0.0
    budget_minutes: float | None = None  # the --time-budget it was fitted to
    workers: int = 1  # processes fitting cells at once (each with one thread when more than one)

    @property
    def estimate_seconds(self) -> float:
        per_seed = sum(seconds for _, seconds in self.cells) + self.generator_seconds + self.colorizer_seconds
        return per_seed * len(self.config.seeds) / self.workers + self.once_seconds


def _folder_native(root: Path) -> tuple[int, int]:
    """Median shorter side and channels (3 if any colour) of a sample of a folder's image files."""
    from PIL import Image

    from genclf.data.image_folder import read_image_paths

    paths = read_image_paths(root)
    step = max(1, len(paths) // SAMPLE_FILES)
    sides, colour = [], False
    for path in paths[::step][:SAMPLE_FILES]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as image:  # the header only: no pixels are decoded
                    sides.append(min(image.size))
                    colour = colour or image.mode in COLOUR_MODES
        except (OSError, Image.DecompressionBombError):
            continue  # not an image, or over the pixel limit: the loader reports it, naming the file
    if not sides:
        return 32, 3
    sides.sort()
    return sides[len(sides) // 2], 3 if colour else 1


def choose_size(native: int, photos: bool = False) -> int:
    """The image size a planned run trains at: the native size of small images; for larger photos
    ``PHOTO_SIZE``, or in colour folders (which start from pretrained features) ``TRANSFER_SIZE``, the
    backbone's input, so the photos are not shrunk below what it sees."""
    if native <= MAX_NATIVE:
        return max(8, native)
    return min(native, TRANSFER_SIZE) if photos else PHOTO_SIZE


def survey(spec: str) -> Survey:
    """Look at the data: class counts, sizes, channels, unlabeled pool."""
    from genclf.data import load_dataset
    from genclf.data.datasets import parse_spec

    scheme, argument = parse_spec(spec)
    if scheme == "folder":
        native, channels = _folder_native(Path(str(argument)).expanduser())
        size = choose_size(native, photos=channels == 3)
        data = load_dataset(spec, size, channels)
    else:
        data = load_dataset(spec)
        native, channels = data.train.image_size, data.train.channels
        size = choose_size(native)
        if size != native:
            data = load_dataset(spec, size, channels)
    return Survey(
        spec=spec,
        name=data.name,
        class_names=list(data.train.class_names),
        class_counts=data.train.class_counts(),
        n_test=len(data.test) if data.test is not None else None,
        n_unlabeled=len(data.unlabeled) if data.unlabeled is not None else 0,
        native_size=native,
        channels=channels,
        image_size=size,
        photos=scheme == "folder" and channels == 3,
        data=data,
    )


def strategies_for(found: Survey) -> list[StrategyConfig]:
    """The entries the data calls for: every registered strategy's proposals for this survey, in the plan
    order they declare (see ``genclf.strategies.base.Proposal``)."""
    from genclf.strategies import STRATEGIES

    proposed = [pair for name in STRATEGIES.names() for pair in STRATEGIES.get(name).proposals(found)]
    return [entry for _, entry in sorted(proposed, key=lambda pair: pair[0])]


def epochs_for(n_train: int, batch_size: int) -> int:
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(MAX_EPOCHS, max(MIN_EPOCHS, round(TARGET_STEPS / steps_per_epoch))))


def plan_run(spec: str, seeds: list[int] | None = None) -> Plan:
    """The run config the data calls for (no probe: ``estimate`` adds the timing)."""
    found = survey(spec)
    test_fraction = 0.2
    n_total = sum(found.class_counts)
    n_train = int(n_total * (1 - 0.1) * (1 - test_fraction if found.n_test is None else 1))
    batch_size = 32 if n_train < 5000 else 64
    config = RunConfig(
        data=DataConfig(spec=spec, image_size=found.image_size, channels=found.channels, test_fraction=test_fraction),
        train=TrainConfig(epochs=epochs_for(n_train, batch_size), batch_size=batch_size, lr=3e-3),
        generator_train=TrainConfig(epochs=GENERATOR_EPOCHS, batch_size=batch_size, lr=2e-3),
        strategies=strategies_for(found),
        seeds=list(seeds or SEEDS),
    )
    return Plan(config, found)


def estimate(plan: Plan, workers: int = 1) -> Plan:
    """Fill in the per-cell estimates from a timing probe on the first split (one classifier epoch, one cVAE
    epoch on the training set), timed as a run's cells will run: with ``workers`` > 1, on one thread, and the
    cells spread over the workers."""
    import torch

    threads = torch.get_num_threads()
    plan.workers = max(1, workers)
    if plan.workers > 1:
        torch.set_num_threads(1)
    try:
        return _estimate(plan)
    finally:
        torch.set_num_threads(threads)


def _estimate(plan: Plan) -> Plan:
    from genclf.data import load_dataset, make_split
    from genclf.pipelines.classify import train_classifier
    from genclf.pipelines.generate import train_generator
    from genclf.strategies.base import strategy_class

    config = plan.config
    d, found = config.data, plan.survey
    if found.data is not None and (d.spec, d.image_size, d.channels) == (found.spec, found.image_size, found.channels):
        data = found.data  # the survey read it at these settings
    else:
        data = load_dataset(d.spec, d.image_size, d.channels)
    split = make_split(data, config.seeds[0], d.val_fraction, d.test_fraction, d.budgets()[0], d.imbalance)
    one_epoch = dataclasses.replace(config.train, epochs=1)
    began = time.perf_counter()
    declared = [e for e in config.strategies if hasattr(strategy_class(e), "planned_seconds")]
    epoch_of: dict[str, float] = {}  # one epoch of each classifier the grid trains (a crnn is not a cnn)
    for name in dict.fromkeys(e.classifier for e in config.strategies if e not in declared):
        _, fit = train_classifier(split, name, Fit(one_epoch, config.seeds[0], quiet=True))
        epoch_of[name] = fit.train_seconds
    classifier_epoch = epoch_of.get("cnn", next(iter(epoch_of.values()), 0.0))  # the generator check's classifier
    probes = {}
    for entry in declared:  # strategies that cost themselves from a probe of their backbone
        cls = strategy_class(entry)
        probe_key = cls.probe_key(entry)
        if probe_key not in probes:
            probes[probe_key] = cls.probe(entry, split, data)
            plan.once_seconds += probes[probe_key]["once_seconds"]
    generator_epoch = 0.0
    drawing = any(strategy_class(s).draws_generators for s in config.strategies)
    if drawing:
        _, gen_fit = train_generator(
            split.train, "cvae", Fit(dataclasses.replace(config.generator_train, epochs=1), config.seeds[0], quiet=True)
        )
        generator_epoch = gen_fit.train_seconds
    plan.colorizer_seconds = _colorizer_seconds(config, split)
    plan.probe_seconds = time.perf_counter() - began
    baseline = classifier_epoch * config.train.epochs
    plan.cells = [
        (
            entry.display_name,
            strategy_class(entry).planned_seconds(
                entry, split, config.train, probes[strategy_class(entry).probe_key(entry)]
            )
            if entry in declared
            else epoch_of[entry.classifier] * config.train.epochs * relative_cost(entry, split),
        )
        for entry in config.strategies
    ]
    if drawing and config.generator_pool == "pseudo_labeled" and split.unlabeled is not None and len(split.unlabeled):
        plan.cells.append(("(pseudo-label teacher)", baseline))
    plan.generator_seconds = generator_epoch * config.generator_train.epochs
    if generator_epoch:  # the generator check trains two classifiers: the real-data reference and the CAS one
        plan.generator_seconds += 2 * baseline
    return plan


def _colorizer_seconds(config: RunConfig, split) -> float:
    """Per seed: one epoch of each distinct colorizer the grid's entries train (timed on at most
    ``PROBE_IMAGES`` of the pool they learn from, scaled to the pool), times the colorizers' epochs. Entries
    that share a colorizer share its training."""
    import torch

    from genclf.pipelines.colorize import colour_pool, train_colorizer
    from genclf.strategies import STRATEGIES

    used = {}
    for entry in config.strategies:
        colorizer = STRATEGIES.get(entry.name).colorizer_of(entry)
        if colorizer is not None:
            name, options, key = colorizer
            used.setdefault(key, (name, options))
    if not used:
        return 0.0
    one_epoch = dataclasses.replace(config.generator_train, epochs=1)
    pool = colour_pool(split)
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(config.seeds[0]))
    sample = pool.subset(order[:PROBE_IMAGES]) if len(pool) > PROBE_IMAGES else pool
    timed: dict[str, float] = {}
    for name, options in used.values():
        if name not in timed:  # task-aware copies of one colorizer cost about what it costs
            _, fit = train_colorizer(sample, name, Fit(one_epoch, config.seeds[0], quiet=True), options=options)
            timed[name] = fit.train_seconds * len(pool) / len(sample)
    return sum(timed[name] for name, _ in used.values()) * config.generator_train.epochs


def relative_cost(entry, split) -> float:
    """A strategy's training cost in baseline-classifier units, as the strategy declares it."""
    from genclf.strategies import STRATEGIES

    return STRATEGIES.get(entry.name).relative_cost(entry, split)


def fit_time_budget(plan: Plan, minutes: float) -> Plan:
    """Scale epochs (not below ``MIN_EPOCHS``, or the planned epochs when fewer), then seeds (not below 1), so
    the estimate fits ``minutes``. Epochs are not cut further: a model trained for a handful of epochs
    answers nothing (measured: 7 epochs on 1,000 photos gave macro-F1 0.53-0.61, far below the same net
    trained longer), so a budget too small for one seed at that floor runs over, and says so."""
    if not math.isfinite(minutes) or minutes <= 0:
        raise ConfigError("--time-budget", f"expected a positive number of minutes, got {minutes}")
    budget = minutes * 60
    plan.budget_minutes = minutes
    config = plan.config
    floor = min(MIN_EPOCHS, config.train.epochs)
    generator_floor = min(MIN_EPOCHS, config.generator_train.epochs)
    for _ in range(6):
        total = plan.estimate_seconds
        if total <= budget:
            break
        scale = budget / total
        epochs = max(floor, int(config.train.epochs * scale))
        gen_epochs = max(generator_floor, int(config.generator_train.epochs * scale))
        if epochs == config.train.epochs and gen_epochs == config.generator_train.epochs:
            if len(config.seeds) == 1:
                break
            config.seeds = config.seeds[: max(1, len(config.seeds) - 1)]
        else:
            ratio = epochs / config.train.epochs
            gen_ratio = gen_epochs / config.generator_train.epochs
            config.train = dataclasses.replace(config.train, epochs=epochs)
            config.generator_train = dataclasses.replace(config.generator_train, epochs=gen_epochs)
            plan.cells = [(name, seconds * ratio) for name, seconds in plan.cells]
            plan.generator_seconds *= gen_ratio
            plan.colorizer_seconds *= gen_ratio
    return plan


def job_defaults(spec: str, schedule: bool = True, model: str | None = None) -> dict:
    """Defaults of a one-model job (``train``, ``train-generator``, ``train-colorizer``) on ``spec`` when no
    config file is given: the run plan's image size and channels for the data, and with ``schedule`` (the
    classifier's job) its epochs and batch size. On a colour photo folder the classifier's job fine-tunes
    the pretrained backbone (``FINETUNE_EPOCHS``) unless ``model`` names another. Flags and --set still win."""
    planned = plan_run(spec)
    d, t = planned.config.data, planned.config.train
    transfer = schedule and planned.survey.photos and model in (None, TRANSFER_BACKBONE)
    # a network learning from scratch (generators, colorizers, a cnn) trains at the from-scratch photo size
    size = d.image_size if transfer else choose_size(planned.survey.native_size)
    defaults: dict = {"data": {"spec": spec, "image_size": size, "channels": d.channels}}
    if schedule:
        defaults["train"] = {"epochs": t.epochs, "batch_size": t.batch_size, "lr": t.lr}
        if transfer:
            defaults["model"] = TRANSFER_BACKBONE
            defaults["train"]["epochs"] = FINETUNE_EPOCHS
    return defaults


def describe(plan: Plan) -> str:
    """The plan as a user reads it before anything long starts."""
    found, config = plan.survey, plan.config
    counts = ", ".join(f"{n} {c}" for n, c in zip(found.class_names, found.class_counts))
    lines = [
        f"data {found.name}: {sum(found.class_counts)} labeled images in {len(found.class_names)} classes ({counts})"
        + (f"; {found.n_unlabeled} unlabeled" if found.n_unlabeled else "")
        + (f"; own test split {found.n_test}" if found.n_test else "; test: a stratified 20% held out"),
        f"images: {'colour' if found.channels == 3 else 'grey'}, native ~{found.native_size} px -> trained at "
        f"{found.image_size}x{found.image_size}",
        f"classes {'imbalanced' if found.imbalance_ratio >= IMBALANCE_RATIO else 'balanced'} "
        f"(largest/smallest {found.imbalance_ratio:.2f}); every labeled image used",
        f"classifiers: {', '.join(dict.fromkeys(e.classifier for e in config.strategies))}; "
        f"training: {config.train.epochs} epochs, batch {config.train.batch_size}; "
        f"generators: {config.generator_train.epochs} epochs; seeds {config.seeds}",
        f"grid: {len(config.strategies)} strategies x {len(config.seeds)} seeds = "
        f"{len(config.strategies) * len(config.seeds)} cells",
    ]
    if plan.cells:
        lines.append(f"estimate (timing probe {plan.probe_seconds:.0f} s), per seed:")
        lines += [f"  {name:<32} ~{seconds:7.0f} s" for name, seconds in plan.cells]
        if plan.generator_seconds:
            lines.append(f"  {'(generator + its check)':<32} ~{plan.generator_seconds:7.0f} s")
        if plan.colorizer_seconds:
            lines.append(f"  {'(colorizers, shared)':<32} ~{plan.colorizer_seconds:7.0f} s")
        if plan.once_seconds:
            lines.append(f"  {'(pretrained feature cache, once)':<32} ~{plan.once_seconds:7.0f} s")
        total = plan.estimate_seconds
        spread = f" over {plan.workers} worker processes" if plan.workers > 1 else ""
        lines.append(f"estimated wall time: ~{total / 60:.1f} min ({total:.0f} s){spread}")
        if plan.budget_minutes is not None and total > plan.budget_minutes * 60 * 1.05:
            lines.append(
                f"the --time-budget of {plan.budget_minutes:g} min cannot be met without training below "
                f"{MIN_EPOCHS} epochs; drop strategies (--set strategies=[...]) or give it more time"
            )
    return "\n".join(lines)
