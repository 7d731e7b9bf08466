"""The layout of a run folder, owned here and nowhere else.

::

    RUN/config.yaml        the resolved config that produced the rows
    RUN/run.json           what the runner knew about the data: name, class names, first split's sizes
    RUN/results.csv        one row per (strategy view, budget, seed): the runner writes it
    RUN/cells/*.json       per-cell detail: per-class metrics, confusion, calibration, corruption tables
    RUN/generators/kK_seedS/NAME/   generators and colorizers trained for one (budget, seed)
    RUN/artifacts/*.png    sample grids and colorization strips the runner drew while it ran
    RUN/artifacts.json     their captions
    RUN/failed.json        the cells whose strategy raised, with the error (a rerun of the command retries them)
    RUN/generators.csv     the quality check of every generator trained: CAS, FID, PRDC, diversity, seconds
    RUN/history/*.csv      every epoch of every model each grid cell trained
    RUN/figures/*.png, RUN/summary.json, RUN/report.html   written by reporting, from the above

The runner writes the first half, reporting the second; ``RunRecord`` is what passes between them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from genclf.errors import ConfigError
from genclf.files import atomic_write, write_json
from genclf.reporting.record import RunRecord, budget_key, budget_of, slug  # noqa: F401  (the run's record)
from genclf.run import schema


class RunFolder:
    """Every path of a run folder, and reading/writing what the runner records there."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    manifest = property(lambda self: self.root / "run.json")
    results = property(lambda self: self.root / "results.csv")
    summary = property(lambda self: self.root / "summary.json")
    report = property(lambda self: self.root / "report.html")
    cells_dir = property(lambda self: self.root / "cells")
    figures_dir = property(lambda self: self.root / "figures")
    artifacts_dir = property(lambda self: self.root / "artifacts")
    artifacts_index = property(lambda self: self.root / "artifacts.json")
    failed = property(lambda self: self.root / "failed.json")
    generators_dir = property(lambda self: self.root / "generators")
    generators_table = property(lambda self: self.root / "generators.csv")
    history_dir = property(lambda self: self.root / "history")

    lock_file = property(lambda self: self.root / ".genclf.lock")

    @contextlib.contextmanager
    def locked(self, command: str) -> Iterator[None]:
        """Hold the folder for one writer (``run``, ``merge``, ``report``) for the block.

        The lock is an ``flock`` on ``.genclf.lock``, which also records the holder (command, pid, host,
        start); the kernel releases it when the holder exits in any way, a ``kill -9`` included, so a stale
        lock is taken over by the next command. Another holder: ConfigError naming it, nothing written.
        """
        try:
            import fcntl
        except ImportError:  # not POSIX: one process at a time is the user's to ensure
            yield
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.lock_file, "a+", encoding="utf-8")  # noqa: SIM115  (held for the block)
        except OSError as exc:
            raise ConfigError(self.root, f"cannot be written ({exc.strerror or type(exc).__name__})") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read(300).strip() or "another process"
                raise ConfigError(
                    self.root,
                    f"is in use by {holder}; wait for it to finish or write to another --out",
                ) from None
            try:
                handle.seek(0)
                handle.truncate()
                started = time.strftime("%Y-%m-%d %H:%M:%S")
                handle.write(f"genclf {command} (pid {os.getpid()} on {socket.gethostname()}, since {started})")
                handle.flush()
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def cell(self, strategy: str, budget: int | None, seed: int) -> Path:
        return self.cells_dir / f"{slug(strategy)}_k{budget_key(budget)}_seed{seed}.json"

    def history(self, strategy: str, budget: int | None, seed: int) -> Path:
        return self.history_dir / f"{slug(strategy)}_k{budget_key(budget)}_seed{seed}.csv"

    def write_history(self, strategy: str, budget: int | None, seed: int, table: pd.DataFrame) -> None:
        """Every epoch of every model one grid cell trained (model, epoch, train and validation metrics)."""
        atomic_write(self.history(strategy, budget, seed), lambda tmp: table.to_csv(tmp, index=False))

    def model_dir(self, strategy: str, budget: int | None, seed: int) -> Path:
        """Where a cell's final classifier is saved (a checkpoint folder ``genclf predict`` reads)."""
        return self.root / "models" / slug(strategy) / cell_tag(budget, seed)

    def saved_model(self, strategy: str | None = None, seed: int | None = None, budget: str | None = None) -> Path:
        """The checkpoint folder of a saved cell classifier: ``strategy`` (default: the one the run
        recommends), ``seed`` (default: the lowest saved), ``budget`` (default: the run's first).

        Raises:
            CheckpointError: not a finished run, or no such model saved (naming the ones there are).
        """
        from genclf.errors import CheckpointError

        summary_file = self.root / "summary.json"
        if not summary_file.is_file():
            raise CheckpointError(self.root, "not a finished genclf run folder (no summary.json)")
        try:
            details = read_json(summary_file)["budgets_detail"]
            budget = str(budget) if budget is not None else next(iter(details))
            detail = details[budget]
        except (KeyError, TypeError, StopIteration, AttributeError):
            raise CheckpointError(summary_file, f"has no results for budget {budget!r}") from None
        name = strategy or detail.get("recommended")
        models = self.root / "models"
        saved = sorted(p.name for p in models.iterdir() if p.is_dir()) if models.is_dir() else []
        if not isinstance(name, str) or slug(name) not in saved:
            raise CheckpointError(
                "--strategy",
                f"no saved models of {name!r} in {models}; saved: {', '.join(saved) or 'none'} "
                "(run with --save-models all to keep every strategy's)",
            )
        prefix = f"k{budget}_seed"
        seeds = sorted(
            int(p.name.removeprefix(prefix))
            for p in (models / slug(name)).iterdir()
            if p.name.startswith(prefix) and p.name.removeprefix(prefix).isdigit()
        )
        if not seeds or (seed is not None and seed not in seeds):
            raise CheckpointError("--seed", f"no saved model of {name} for seed {seed} (saved seeds: {seeds})")
        path = (models / slug(name) / f"{prefix}{seeds[0] if seed is None else seed}").resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise CheckpointError(path, "is outside the run folder")
        return path

    def generator_store(self, budget: int | None, seed: int) -> Path:
        return self.generators_dir / cell_tag(budget, seed)

    def figure(self, name: str) -> Path:
        return self.figures_dir / f"{name}.png"

    def artifact(self, name: str) -> Path:
        return self.artifacts_dir / f"{slug(name)}.png"

    def is_run(self) -> bool:
        return self.results.is_file() and self.config.is_file()

    def require_run(self) -> None:
        """Raise ConfigError unless this is a run folder (results.csv and config.yaml)."""
        if not self.is_run():
            raise ConfigError(self.root, "not a genclf run folder (expected results.csv and config.yaml)")

    def refuse_old_run(self) -> None:
        """Raise ConfigError: the results were written by an older genclf (no 'role' column)."""
        raise ConfigError(
            self.results,
            "has no 'role' column (a run of an older genclf, whose verdicts genclf can no longer reproduce); "
            "run the config again into a new --out",
        )

    def read_results(self) -> pd.DataFrame:
        if not self.results.is_file():
            return pd.DataFrame()
        return schema.read_table(self.results, schema.RESULTS_REQUIRED, schema.RESULTS_NUMERIC)

    def write_results(self, table: pd.DataFrame) -> None:
        atomic_write(self.results, lambda tmp: table.to_csv(tmp, index=False))

    def read_generators(self) -> pd.DataFrame:
        if not self.generators_table.is_file():
            return pd.DataFrame()
        return schema.read_table(self.generators_table, schema.GENERATORS_REQUIRED, schema.GENERATORS_NUMERIC)

    def write_generators(self, table: pd.DataFrame) -> None:
        atomic_write(self.generators_table, lambda tmp: table.to_csv(tmp, index=False))

    def read_cells(self, class_names: list[str] | None = None) -> list[dict]:
        """Every cell's detail; with ``class_names`` (run.json's), each must cover exactly those classes."""
        cells = []
        for path in sorted(self.cells_dir.glob("*.json")):
            cells.append(schema.check(schema.Cell, read_json(path), path))
            if class_names is not None:
                schema.check_cell_classes(cells[-1], class_names, path)
        return cells

    def write_cell(self, detail: dict) -> None:
        write_json(self.cell(detail["strategy"], detail["k_per_class"], detail["seed"]), detail)

    def read_failed(self) -> list[dict]:
        """failed.json's cells (those whose strategy raised in the last run that tried them)."""
        if not self.failed.is_file():
            return []
        entries = read_json(self.failed)
        if not isinstance(entries, list):
            raise ConfigError(self.failed, "expected a list of failed cells; not a genclf run file (or edited by hand)")
        return [schema.check(schema.FailedCell, entry, self.failed, i) for i, entry in enumerate(entries)]

    def write_failed(self, failed: list[dict]) -> None:
        """failed.json, or none when no cell failed."""
        if failed:
            write_json(self.failed, failed)
        else:
            self.failed.unlink(missing_ok=True)

    def read_manifest(self) -> dict:
        return schema.check(schema.Manifest, read_json(self.manifest), self.manifest) if self.manifest.is_file() else {}

    def write_manifest(self, data: dict) -> None:
        write_json(self.manifest, data)

    def read_artifacts(self) -> list[dict]:
        """artifacts.json's entries; each path must stay inside this folder (a received folder is untrusted)."""
        if not self.artifacts_index.is_file():
            return []
        entries = read_json(self.artifacts_index)
        if not isinstance(entries, list):
            raise ConfigError(self.artifacts_index, "expected a list of {path, caption} entries")
        for i, entry in enumerate(entries):
            schema.check(schema.Artifact, entry, self.artifacts_index, i)
            schema.inside(self.root, entry["path"], self.artifacts_index, f"{i}.path")
        return entries

    def write_artifacts(self, artifacts: list[dict]) -> None:
        write_json(self.artifacts_index, artifacts)

    def load(self, config: Any) -> RunRecord:
        """The record of a finished (or partly finished) run, for reporting."""
        manifest = self.read_manifest()
        return RunRecord(
            config,
            self.read_results(),
            self.read_cells(manifest.get("class_names")),
            manifest,
            self.read_artifacts(),
            self.read_generators(),
            self.read_failed(),
        )


def cell_tag(budget: int | None, seed: int) -> str:
    return f"k{budget_key(budget)}_seed{seed}"


def read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > schema.MAX_JSON_BYTES:
            raise ConfigError(path, f"is larger than a run file can be ({schema.MAX_JSON_BYTES // 2**20} MiB)")
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError, json.JSONDecodeError) as exc:
        raise ConfigError(path, f"unreadable run file ({type(exc).__name__}); delete it to recompute") from None
