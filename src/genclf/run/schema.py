"""A run folder is untrusted input: what ``RunFolder`` reads back is checked here first.

A run folder may come from another machine or person, be cut short, or be edited by hand. Every file is
read through one schema: pydantic models (strict types) for the JSON files, column and dtype rules for the
CSV tables, and every path a file names must stay inside the folder. A violation is one ``ConfigError``
naming the file and the field; nothing is read from a file that fails.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from genclf.errors import ConfigError
from genclf.reporting.summary import GENERATOR_COLUMNS, METRICS
from genclf.roles import ROLES

MAX_TABLE_BYTES = 256 * 1024 * 1024  # a results or generators table larger than this is not genclf's
MAX_JSON_BYTES = 64 * 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class Reliability(_Strict):
    edges: list[float] = Field(min_length=2)
    confidence: list[float]
    accuracy: list[float]
    count: list[int]

    @model_validator(mode="after")
    def _bins(self):
        bins = len(self.edges) - 1
        if not len(self.confidence) == len(self.accuracy) == len(self.count) == bins:
            raise ValueError(f"expected {bins} bins in confidence, accuracy and count (one per pair of edges)")
        return self


class Calibration(_Strict):
    ece: float
    nll: float
    reliability: Reliability


class Corruptions(_Strict):
    clean_accuracy: float
    accuracy: dict[str, dict[str, float]] = Field(min_length=1)
    mean_corruption_accuracy: float
    severities: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _table(self):
        wanted = {str(s) for s in self.severities}
        for name, row in self.accuracy.items():
            if set(row) != wanted:
                raise ValueError(f"accuracy[{name!r}] must hold one value per severity {sorted(wanted)}")
        return self


class Adversarial(_Strict):
    eps: list[float] = Field(min_length=1)
    pgd_steps: int
    fgsm_accuracy: list[float]
    pgd_accuracy: list[float]

    @model_validator(mode="after")
    def _curves(self):
        if not len(self.fgsm_accuracy) == len(self.pgd_accuracy) == len(self.eps):
            raise ValueError("expected one fgsm and one pgd accuracy per eps")
        return self


class Cell(_Strict):
    """cells/*.json: one (strategy, budget, seed) cell's detail."""

    strategy: str
    k_per_class: int | None
    seed: int = Field(ge=0)
    per_class: dict[str, dict[str, float]] = Field(default_factory=dict)
    confusion_matrix: list[list[int]] = Field(default_factory=list)
    calibration: Calibration | None = None
    corruptions: Corruptions | None = None
    adversarial: Adversarial | None = None


class Manifest(_Strict):
    """run.json: what the runner knew about the data."""

    name: str
    class_names: list[str] = Field(min_length=2)
    split: dict[str, int | list[int] | None]
    environment: dict[str, Any] = Field(default_factory=dict)


class FailedCell(_Strict):
    """One entry of failed.json: a cell whose strategy raised, with its error (the run went on without it)."""

    strategy: str
    k_per_class: int | None
    seed: int = Field(ge=0)
    error: str
    node: str = ""
    traceback: str = ""


class Artifact(_Strict):
    """One entry of artifacts.json: a picture the runner drew, relative to the run folder."""

    path: str
    caption: str


# columns a table must have, and those that must hold numbers (or be empty) where present
RESULTS_REQUIRED = ("strategy", "role", "seed", "k_per_class")
RESULTS_NUMERIC = [  # reporting's metrics, and the counts and timings every row carries
    *METRICS,
    *[
        "seed",
        "k_per_class",
        "n_train",
        "n_test",
        "n_classes",
        "nll",
        "temperature",
        "generator_seconds",
        "n_train_effective",
    ],
    *["best_epoch", "epochs", "steps", "n_pseudo", "pseudo_label_accuracy", "n_unlabeled", "n_synthetic", "n_pretrain"],
]
GENERATORS_REQUIRED = ("generator", "k_per_class", "seed", "status")
GENERATORS_NUMERIC = [*GENERATOR_COLUMNS, "k_per_class", "seed", "density", "n_generated", "check_seconds"]


def _field(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the top level"
    return f"field {where!r}: {first['msg'].lower()}"


def _sized(path: Path, limit: int) -> None:
    size = path.stat().st_size
    if size > limit:
        raise ConfigError(path, f"is {size / 2**20:.0f} MiB, more than a run file can be ({limit / 2**20:.0f} MiB)")


def check(model: type[BaseModel], data: Any, path: Path, index: int | None = None) -> Any:
    """``data`` (returned unchanged) when it satisfies ``model``; else a ConfigError naming the field."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        where = "" if index is None else f"entry {index}, "
        raise ConfigError(path, f"{where}{_field(exc)}; not a genclf run file (or edited by hand)") from None
    return data


def inside(root: Path, relative: Any, path: Path, field: str) -> Path:
    """``root / relative`` when ``relative`` is a relative path that stays inside ``root``."""
    if not isinstance(relative, str) or not relative or PurePosixPath(relative).is_absolute() or "\\" in relative:
        raise ConfigError(path, f"field {field!r}: expected a relative path inside the run folder, got {relative!r}")
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ConfigError(path, f"field {field!r}: {relative!r} points outside the run folder")
    return root / relative


def read_table(path: Path, required: tuple[str, ...], numeric: list[str]) -> pd.DataFrame:
    """A CSV table of a run folder, with its required columns and numbers where numbers belong."""
    _sized(path, MAX_TABLE_BYTES)
    try:
        table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise ConfigError(path, "is empty; delete it to recompute") from None
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise ConfigError(path, f"is not a readable CSV table ({type(exc).__name__}); delete it to recompute") from None
    missing = [c for c in required if c not in table.columns]
    if missing and "role" in missing and len(missing) == 1:
        return table  # a run of an older genclf: the caller says so
    if missing:
        raise ConfigError(path, f"has no {', '.join(repr(c) for c in missing)} column; not a genclf run table")
    for column in [c for c in numeric if c in table.columns]:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() & table[column].notna()
        if bad.any():
            row = int(bad.idxmax())
            raise ConfigError(
                path, f"column {column!r}, row {row + 1}: expected a number, got {table[column].iloc[row]!r}"
            )
        table[column] = values
    if "role" in table.columns:
        odd = sorted(set(table["role"].dropna().astype(str)) - set(ROLES))
        if odd:
            raise ConfigError(path, f"column 'role': expected one of {', '.join(ROLES)}, got {odd[0]!r}")
    for column in [c for c in required if c != "k_per_class"]:  # empty k_per_class: every labeled image
        if table[column].isna().any():
            raise ConfigError(path, f"column {column!r}, row {int(table[column].isna().idxmax()) + 1}: empty")
    if "seed" in table.columns and not ((table["seed"] >= 0) & (table["seed"] % 1 == 0)).all():
        raise ConfigError(path, "column 'seed': expected whole numbers >= 0")
    for column in [c for c in ("strategy", "role", "entry", "method", "classifier") if c in table.columns]:
        table[column] = table[column].astype(str).where(table[column].notna(), None)
    return table


def check_cell_classes(cell: dict, class_names: list[str], path: Path) -> None:
    """A cell's per-class table and confusion matrix cover exactly the run's classes."""
    k = len(class_names)
    if cell.get("per_class") and set(cell["per_class"]) != set(class_names):
        raise ConfigError(path, f"field 'per_class': its classes differ from run.json's {k} class names")
    matrix = cell.get("confusion_matrix")
    if matrix and (len(matrix) != k or any(len(row) != k for row in matrix)):
        raise ConfigError(path, f"field 'confusion_matrix': expected {k} x {k} (run.json's classes)")
