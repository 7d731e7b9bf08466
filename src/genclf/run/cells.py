"""One grid cell of a run, fitted and scored (run in this process or a worker: ``genclf.run.pool``).

A cell (budget, seed, strategy entry) writes its own files (cell detail, training history, the sample
grids of the generators it trained) and hands back its results rows, cell details and generator checks;
the run's tables (results.csv, generators.csv, artifacts.json) are written by the parent alone.

Workers share the trained generators through the run's generator store: the first cell that needs one
trains it under a file lock while any other cell that needs it waits and then loads it, so each generator
is trained once per run whatever the number of workers.
"""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

import genclf.training.tracking as tracking
from genclf.config import RunConfig, StrategyConfig, config_hash, to_dict
from genclf.data import Split, load_dataset, make_split
from genclf.errors import GenclfError, TrainingError
from genclf.evaluation.extended import extended_evaluation
from genclf.evaluation.metrics import compute_metrics
from genclf.files import atomic_write
from genclf.roles import GENERATIVE
from genclf.run.artifacts import artifact_path, draw_generators
from genclf.run.folder import RunFolder, budget_key, budget_of
from genclf.run.store import GeneratorStore
from genclf.strategies import STRATEGIES, Context, build_strategy

NODE = socket.gethostname()  # recorded in every cell: where it ran


@dataclass(frozen=True)
class CellJob:
    index: int  # the cell's position in the canonical grid (1-based)
    budget: int | None
    seed: int
    entry: StrategyConfig


@dataclass
class CellOutput:
    job: CellJob
    rows: list[dict[str, Any]] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)  # per row: the metrics a tracker receives
    seconds: float = 0.0  # the strategy's fit, every generator it used counted in full
    wall_seconds: float = 0.0  # the worker's whole time on the cell (generators it trained or waited for too)
    failed: dict[str, Any] | None = None  # the strategy raised: failed.json's entry (no rows then)


class CellRunner:
    """Everything the cells of one run share: the config, the folder, the splits, and per (budget, seed) the
    Context that caches the generators and the labeled-only classifier."""

    def __init__(
        self,
        config: RunConfig,
        folder: RunFolder,
        splits: dict[tuple, Split],
        checks: list[dict],
        artifacts: list[dict],
    ):
        self.config, self.folder, self.splits = config, folder, splits
        self.checks, self.artifacts = checks, artifacts  # what the folder held when the run started
        self.contexts: dict[tuple, Context] = {}
        self.save_models = "best"  # "none": no classifier is saved
        # (budget, seed) -> the ModelStore its cells share: the run folder's (or, on Ray, the store actor's)
        self.stores: Callable[[int | None, int], Any] = lambda k, seed: GeneratorStore(folder.generator_store(k, seed))
        self.checked = {check_key(c) for c in checks}
        drawn = {a["path"] for a in artifacts}
        # generators stored by an earlier, interrupted invocation without their check or sample grid: the
        # first cell that loads one does the missing work; everything trained now is checked by its trainer
        self.unfinished: dict[tuple, set[str]] = {}
        for k in config.data.budgets():
            for seed in config.seeds:
                stored = GeneratorStore(folder.generator_store(k, seed)).keys()
                self.unfinished[(budget_key(k), seed)] = {
                    key
                    for key in stored
                    if (key, budget_key(k), seed) not in self.checked
                    or (seed == config.seeds[0] and artifact_path(folder, key, k, seed) not in drawn)
                }

    def context(self, k: int | None, seed: int) -> Context:
        return self.contexts.setdefault(
            (k, seed),
            Context(
                seed,
                self.config.train,
                self.config.generator_train,
                True,
                self.stores(k, seed),
                generator_pool=self.config.generator_pool,
            ),
        )

    def run(self, job: CellJob) -> CellOutput:
        """Fit the job's strategy on its split, check and draw the generators it trained, score every view
        (tracked as one child run of the job's, where a tracker records to MLflow)."""
        entry = job.entry
        params = {
            "strategy": entry.display_name,
            "role": STRATEGIES.get(entry.name).role,
            "classifier": entry.classifier,
            "budget": budget_key(job.budget),
            "seed": job.seed,
        }
        began = time.perf_counter()
        try:
            with tracking.cell(f"{entry.display_name}/k{budget_key(job.budget)}/seed{job.seed}", params) as log:
                out = self._run(job)
                for row, scores in zip(out.rows, out.scores):
                    log(scores, prefix="" if row["strategy"] == entry.display_name else f"{row['strategy']}/")
        except GenclfError as exc:
            if not isinstance(exc, TrainingError):  # bad input is every cell's problem: the run stops
                raise
            return self._failed(job, exc, began)
        except (OSError, MemoryError):  # the machine's failure (a full disk, no memory): every cell would hit it
            raise
        except Exception as exc:  # the cell's own failure: recorded, and the run goes on without it
            return self._failed(job, exc, began)
        return out

    def _failed(self, job: CellJob, exc: Exception, began: float) -> CellOutput:
        error = " ".join(f"{type(exc).__name__}: {exc}".split())
        failed = {
            "strategy": job.entry.display_name,
            "k_per_class": job.budget,
            "seed": job.seed,
            "error": error[:500],
            "node": NODE,
            "traceback": "".join(traceback.format_exception(exc))[-4000:],
        }
        return CellOutput(job, wall_seconds=time.perf_counter() - began, failed=failed)

    def _run(self, job: CellJob) -> CellOutput:
        k, seed, entry = job.budget, job.seed, job.entry
        name, split, context = entry.display_name, self.splits[(job.budget, job.seed)], self.context(k, seed)
        strategy = build_strategy(entry)
        torch.manual_seed(seed)
        context.start_strategy()
        began = time.perf_counter()
        with tracking.scope(f"{name}/k{budget_key(k)}/seed{seed}"), tracking.recording() as history:
            strategy.fit(split, context)
        own_seconds = time.perf_counter() - began - context.trained_now
        shared_seconds, used = context.shared_seconds(), " ".join(context.used)
        seconds = own_seconds + shared_seconds  # every generator it used counted in full, shared or not
        out = CellOutput(job, seconds=seconds)
        owned = context.trained_keys | self.unfinished.get((budget_key(k), seed), set())
        if seed == self.config.seeds[0]:
            out.artifacts = draw_generators(context, split, self.folder, k, seed, owned)
        if history:
            self.folder.write_history(name, k, seed, pd.DataFrame(history))
        with tracking.scope(f"generator_checks/k{budget_key(k)}/seed{seed}"):
            out.checks = self.check_generators(context, split, k, seed, owned)
        for check in getattr(strategy, "generator_checks", []):  # generators a strategy checked itself
            if (check["generator"], budget_key(k), seed) not in self.checked:
                self.checked.add((check["generator"], budget_key(k), seed))
                out.checks.append({"generator": check["generator"], "k_per_class": k, "seed": seed, **check})
        views = strategy.views(split)
        saved = self.save_model(strategy, split, entry, k, seed, views[0].proba)
        for view in views:
            metrics = compute_metrics(split.test.labels.numpy(), view.proba, split.class_names)
            extended, detail = extended_evaluation(
                view.predict_proba or strategy.predict_proba,
                view.pixel_model,
                (split.test.images, split.test.labels),
                self.config.evaluation,
                seed=seed,
                val=(split.val.images, split.val.labels),
                test_proba=view.proba,
            )
            out.rows.append(
                {
                    "strategy": view.name,
                    "entry": name,
                    "method": view.method,
                    "role": view.role,
                    "classifier": entry.classifier,
                    "k_per_class": k,
                    "seed": seed,
                    "config_hash": cell_hash(self.config, k, seed, entry),
                    "n_train": len(split.train),
                    "n_test": len(split.test),
                    "n_classes": split.train.num_classes,
                    **metrics.scalars(),
                    **extended,
                    **view.columns,
                    "train_seconds": round(seconds, 3),
                    "generator_seconds": round(shared_seconds, 3),
                    "generators": used,
                    **strategy.extra,
                    "model": saved if view.name == name else "",
                }
            )
            out.scores.append({**metrics.scalars(), **extended})
            cell = {"strategy": view.name, "k_per_class": k, "seed": seed, **metrics.to_dict(), **detail, "node": NODE}
            self.folder.write_cell(cell)
            out.cells.append(cell)
        out.wall_seconds = time.perf_counter() - began
        return out

    def save_model(self, strategy, split: Split, entry: StrategyConfig, budget, seed: int, proba) -> str:
        """Save the cell's final classifier (where the strategy ends in one network and the policy keeps
        models), with the cell's own test-set probabilities beside it (``test_proba.npy``, in the order of
        the test split); its folder relative to the run's, or "" when none was saved."""
        if self.save_models == "none":
            return ""
        trained = strategy.deployable(split)
        if trained is None:
            return ""
        from genclf.pipelines.classify import save_classifier

        path = self.folder.model_dir(entry.display_name, budget, seed)
        save_classifier(
            path,
            trained,
            strategy=entry.display_name,
            role=STRATEGIES.get(entry.name).role,
            k_per_class=budget,
            seed=seed,
            config_hash=cell_hash(self.config, budget, seed, entry),
        )
        atomic_write(path / "test_proba.npy", lambda tmp: _save_array(tmp, np.asarray(proba, dtype=np.float32)))
        return str(path.relative_to(self.folder.root))

    def check_generators(self, context: Context, split: Split, budget, seed: int, owned: set[str]) -> list[dict]:
        """The quality check of every generator in ``owned`` that ``context`` holds and none has checked."""
        from genclf.evaluation.generator_quality import generator_check

        checks = []
        for key, generator in context.generators().items():
            if key not in owned or (key, budget_key(budget), seed) in self.checked:
                continue
            began = time.perf_counter()
            quality = generator_check(
                generator,
                split,
                context.labeled_classifier(split),
                self.config.train,
                seed=seed,
                min_cas_ratio=self.config.evaluation.generator_min_cas_ratio,
                min_diversity=self.config.evaluation.generator_min_diversity,
                inception=self.config.evaluation.inception_fid,
            )
            self.checked.add((key, budget_key(budget), seed))
            checks.append(
                {
                    "generator": key,
                    "k_per_class": budget,
                    "seed": seed,
                    **context.generator_data,
                    "train_seconds": round(context.seconds.get(key, 0.0), 3),
                    **{k: round(v, 4) if isinstance(v, float) else v for k, v in quality.items()},
                    "check_seconds": round(time.perf_counter() - began, 3),
                }
            )
        return checks


def _save_array(path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a handle: np.save given a name would append ".npy" to it
        np.save(handle, array)


# config fields added after run folders existed, with the default that leaves every result as it was: left out
# of a cell's digest while at that default, so cells finished before the field existed still resume
LATER_DEFAULTS = {"evaluation": {"inception_fid": False}}


def without_later_defaults(values: dict, section: str) -> dict:
    later = LATER_DEFAULTS.get(section, {})
    return {k: v for k, v in values.items() if not (k in later and v == later[k])}


def cell_hash(config: RunConfig, budget: int | None, seed: int, strategy: StrategyConfig) -> str:
    """The digest of everything that determines one cell's results: data, budget, seed, the strategy entry,
    the classifier budget, the generator budget (for strategies that use generators) and the evaluation."""
    values = {
        "data": {**to_dict(config.data), "k_per_class": budget},
        "seed": seed,
        "strategy": to_dict(strategy),
        "train": to_dict(config.train),
        "evaluation": without_later_defaults(to_dict(config.evaluation), "evaluation"),
        "primary_metric": config.primary_metric,
    }
    if STRATEGIES.get(strategy.name).role == GENERATIVE:
        values["generator_train"] = to_dict(config.generator_train)
        values["generator_pool"] = config.generator_pool
    return "h" + config_hash(values)  # a letter first: a digest of digits is still read back as text


def check_key(check: dict) -> tuple:
    """A generators.csv row's identity: (generator, budget key, seed)."""
    return check["generator"], budget_of(check["k_per_class"]), int(check["seed"])


def load_splits(config: RunConfig) -> tuple:
    """The data and the split of every (budget, seed) of ``config``."""
    data = load_dataset(config.data.spec, config.data.image_size, config.data.channels)
    d = config.data
    splits = {
        (k, seed): make_split(data, seed, d.val_fraction, d.test_fraction, k, d.imbalance)
        for k in d.budgets()
        for seed in config.seeds
    }
    return data, splits
