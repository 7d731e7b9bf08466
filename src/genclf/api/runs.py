"""Reading what genclf wrote: a run folder (``load_run``) and a checkpoint folder of any kind (``load_model``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from genclf.config import RunConfig, load_config
from genclf.errors import CheckpointError, ConfigError
from genclf.run.folder import RunFolder, read_json
from genclf.training.checkpoint import read_meta_json

__all__ = ["LoadedRun", "load_model", "load_run"]


@dataclass
class LoadedRun:
    """A finished (or partly finished) ``genclf run`` folder.

    Attributes:
        folder: the run folder.
        config: the resolved ``RunConfig`` the run used.
        results: one row per (strategy, budget, seed): metrics, role, cost (results.csv).
        summary: verdicts, headline, per-strategy means with CIs, comparisons (summary.json).
        generators: one row per trained generator: CAS, FID/KID, PRDC, diversity, status (generators.csv).
        figures: figure name -> PNG path (figures/ and the sample grids/strips in artifacts/).
        report: path of report.html.
    """

    folder: Path
    config: RunConfig
    results: pd.DataFrame
    summary: dict[str, Any]
    generators: pd.DataFrame
    figures: dict[str, Path] = field(default_factory=dict)
    report: Path | None = None

    @property
    def headline(self) -> str:
        """The run's answer in one sentence per data budget."""
        detail = self.summary.get("budgets_detail", {})
        return "\n".join(str(d.get("headline", "")) for d in detail.values())

    def strategies(self) -> pd.DataFrame:
        """Mean metrics per strategy and budget over seeds."""
        numeric = self.results.select_dtypes("number").columns.drop(["seed"], errors="ignore")
        return self.results.groupby(["strategy", "k_per_class"], dropna=False, sort=False)[list(numeric)].mean()


def load_run(folder: str | Path) -> LoadedRun:
    """Read a run folder written by ``genclf run`` / ``run_experiment``.

    Raises:
        ConfigError: ``folder`` is not a run folder.
    """
    run = RunFolder(folder)
    run.require_run()
    record = run.load(load_config(RunConfig, run.config))  # every file through the run folder's schema
    figures = {p.stem: p for p in sorted(run.figures_dir.glob("*.png"))}
    figures.update({f"artifacts/{Path(a['path']).stem}": run.root / a["path"] for a in record.artifacts})
    summary = read_json(run.summary) if run.summary.is_file() else {}
    if not isinstance(summary, dict):
        raise ConfigError(run.summary, "expected a JSON object; run 'genclf report' on the folder to rewrite it")
    return LoadedRun(
        folder=run.root,
        config=record.config,
        results=record.results,
        summary=summary,
        generators=record.generators,
        figures=figures,
        report=run.report if run.report.is_file() else None,
    )


def load_model(
    folder: str | Path,
    device: str = "cpu",
    strategy: str | None = None,
    seed: int | None = None,
    budget: str | None = None,
):
    """Load any genclf checkpoint folder (``model.safetensors`` + ``model.json``) as the object that uses it:
    a ``TrainedClassifier`` (``predict``/``predict_proba``), a ``TrainedGenerator`` (``sample``,
    ``sample_per_class``) or a ``TrainedColorizer`` (``colorize``). Given a ``genclf run`` folder, the
    classifier it saved for ``strategy`` (default: the one it recommends), ``seed`` and ``budget``.

    Raises:
        CheckpointError: not a checkpoint folder, or one of a kind genclf cannot load.
    """
    if (Path(folder) / "summary.json").is_file() and not (Path(folder) / "model.json").is_file():
        from genclf.run.folder import RunFolder

        folder = RunFolder(folder).saved_model(strategy, seed, budget)
    kind = read_meta_json(folder).get("kind")
    if kind == "classifier":
        from genclf.pipelines.classify import load_classifier

        return load_classifier(folder, device)
    if kind == "generator":
        from genclf.pipelines.generate import load_generator

        return load_generator(folder)
    if kind == "colorizer":
        from genclf.pipelines.colorize import load_colorizer

        return load_colorizer(folder)
    if not (Path(folder) / "model.json").is_file():
        raise CheckpointError(folder, "not a genclf checkpoint folder (expected model.json and model.safetensors)")
    raise CheckpointError(folder, f"unknown model kind {kind!r}; expected classifier, generator or colorizer")
