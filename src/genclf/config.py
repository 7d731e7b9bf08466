"""Typed configuration: dataclasses, YAML round trip, dotted overrides and validation.

Unknown keys and wrong value types are errors naming the field (``train.epochs: expected int, got 'ten'``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from genclf.data.splits import Imbalance
from genclf.errors import ConfigError
from genclf.files import write_text
from genclf.training.trainer import TrainConfig

T = TypeVar("T")


@dataclass
class DataConfig:
    """Which data, at what size, split how."""

    spec: str = "digits"
    image_size: int | None = None
    channels: int | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    k_per_class: int | list[int] | None = None
    imbalance: Imbalance | None = None

    def budgets(self) -> list[int | None]:
        """The data-budget sweep: each ``k_per_class`` value, or [None] for all labeled images."""
        k = self.k_per_class
        return list(k) if isinstance(k, list) else [k]


@dataclass
class StrategyConfig:
    """One strategy of the experiment grid, with the classifier it trains and its own parameters."""

    name: str = "baseline"
    classifier: str = "cnn"
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
    severities: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])
    adversarial: bool = False  # FGSM and PGD accuracy at each eps
    eps: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2])  # 0 = clean, on the same images
    pgd_steps: int = 10
    max_images: int = 2000  # test images used for robustness (the first N of a fixed shuffle)


@dataclass
class RunConfig:
    """The main job: strategies x seeds on one dataset."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generator_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=100, batch_size=32, lr=2e-3))
    strategies: list[StrategyConfig] = field(default_factory=lambda: [StrategyConfig()])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    primary_metric: str = "macro_f1"
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)


@dataclass
class TrainJobConfig:
    """``genclf train``: one classifier on one dataset."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model: str = "cnn"
    seed: int = 0


@dataclass
class GeneratorJobConfig:
    """``genclf train-generator``: one class-conditional generator on one dataset."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, batch_size=64, lr=2e-3))
    model: str = "cvae"
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0


@dataclass
class ColorizerJobConfig:
    """``genclf train-colorizer``: one grey -> colour model on the colour images of one dataset."""

    data: DataConfig = field(default_factory=lambda: DataConfig(spec="shapes"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, batch_size=32, lr=2e-3))
    model: str = "pix2pix"
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0


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


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "config file not found")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(path, f"invalid YAML{where}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(path, "expected a YAML mapping at the top level")
    return values


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: list[str | tuple[str, Any]] | None = None,
) -> T:
    values = read_yaml(path) if path is not None else {}
    values = apply_overrides(values, overrides or [])
    try:
        return from_dict(cls, values)
    except ConfigError as exc:
        if path is not None and not str(exc.culprit).startswith(str(path)):
            raise ConfigError(f"{path}: {exc.culprit}", exc.expected) from None
        raise


def save_config(obj: Any, path: str | Path) -> Path:
    return write_text(path, yaml.safe_dump(to_dict(obj), sort_keys=False))
