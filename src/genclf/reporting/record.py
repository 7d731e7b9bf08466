"""What reporting reads (a run's record) and where it writes (a run folder's report paths).

The run folder (``genclf.run.folder``) produces both; reporting is a pure function of the record, so it sits
under the run that renders it and never reads a file the record does not name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from genclf.files import slug  # noqa: F401  (the run folder's and the report's file names)


def budget_key(budget: int | None) -> str:
    return "all" if budget is None else str(budget)


def budget_of(k_per_class) -> str:
    """The budget key of a results.csv ``k_per_class`` cell (empty/NaN = all labeled images)."""
    return budget_key(None if pd.isna(k_per_class) else int(k_per_class))


@dataclass
class RunRecord:
    """Everything reporting needs, and nothing it must compute by loading models or data."""

    config: Any  # RunConfig
    results: pd.DataFrame
    cells: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # {"name", "class_names", "split"}
    artifacts: list[dict] = field(default_factory=list)  # [{"path": relative, "caption"}]
    generators: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per (budget, seed, generator)
    failed: list[dict] = field(default_factory=list)  # cells whose strategy raised: strategy, k_per_class, seed, error


class ReportPaths(Protocol):
    """Where a report goes: the run folder's root, its summary.json and report.html, a figure's PNG."""

    root: Path
    summary: Path
    report: Path

    def figure(self, name: str) -> Path: ...
