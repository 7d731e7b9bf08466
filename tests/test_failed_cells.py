"""A cell that fails for its own reasons is recorded as failed with its error, and the run goes on: the other
cells' rows, a report that lists the failure, exit code 3; the same command again retries only that cell."""

from __future__ import annotations

import importlib
import json
import os
import sys

import pandas as pd
import pytest

from genclf.strategies import STRATEGIES

FRAGILE = '''
import numpy as np
from genclf.roles import CLASSICAL
from genclf.strategies.base import Strategy, register_strategy

BROKEN_SEEDS = {1}


@register_strategy("fragile", CLASSICAL, cost=0.1)
class Fragile(Strategy):
    """The class prior, except on the seeds it cannot handle."""

    def fit(self, split, context):
        if context.seed in BROKEN_SEEDS:
            raise np.linalg.LinAlgError("Singular matrix")
        counts = np.bincount(split.train.labels.numpy(), minlength=split.train.num_classes)
        self.prior = counts / counts.sum()

    def predict_proba(self, images):
        return np.tile(self.prior, (len(images), 1))
'''

GRID = (
    "data: {spec: digits, k_per_class: 5}\n"
    "train: {epochs: 1, batch_size: 32, precision: fp32}\n"
    "strategies: [{name: baseline}, {name: fragile}]\nseeds: [0, 1]\n"
)


@pytest.fixture
def fragile(tmp_path, monkeypatch):
    from conftest import load_strategy_module

    return load_strategy_module(tmp_path, monkeypatch, "fragile_strategy", FRAGILE)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_failing_cell_is_recorded_and_the_run_goes_on_then_a_rerun_retries_it(cli, tmp_path, fragile, workers):
    config, out = tmp_path / "run.yaml", tmp_path / "run"
    config.write_text(GRID)
    result = cli("run", config, "--out", out, "--quiet", "--workers", workers)
    assert result.code == 3, result.err
    assert "1 cell(s) failed" in result.err and "failed.json" in result.err
    assert "Traceback" not in result.err
    results = pd.read_csv(out / "results.csv")
    assert sorted(zip(results["strategy"], results["seed"])) == [("baseline", 0), ("baseline", 1), ("fragile", 0)]
    failed = json.loads((out / "failed.json").read_text())
    assert [(f["strategy"], f["k_per_class"], f["seed"]) for f in failed] == [("fragile", 5, 1)]
    assert failed[0]["error"] == "LinAlgError: Singular matrix"
    assert "raise np.linalg.LinAlgError" in failed[0]["traceback"] and failed[0]["node"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_cells"] == [
        {"strategy": "fragile", "k_per_class": 5, "seed": 1, "error": "LinAlgError: Singular matrix"}
    ]
    html = (out / "report.html").read_text()
    assert "1 cell(s) failed" in html and "LinAlgError: Singular matrix" in html
    assert "failed: LinAlgError" in result.out  # the console table's warnings say it too
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}

    fragile.BROKEN_SEEDS.clear()  # whatever made it fail is fixed: the same command fits only that cell
    again = cli("run", config, "--out", out, "--quiet", "--workers", workers)
    assert again.code == 0, again.err
    assert not (out / "failed.json").exists()
    results = pd.read_csv(out / "results.csv")
    assert list(zip(results["strategy"], results["seed"])) == [
        ("baseline", 0),
        ("fragile", 0),
        ("baseline", 1),
        ("fragile", 1),
    ]
    after = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert {name for name in after if after[name] != before.get(name)} == {"fragile_k5_seed1.json"}
    assert json.loads((out / "summary.json").read_text())["failed_cells"] == []


def test_a_run_whose_every_cell_fails_is_one_line_and_exit_2(cli, tmp_path, fragile):
    fragile.BROKEN_SEEDS.add(0)
    config, out = tmp_path / "run.yaml", tmp_path / "run"
    config.write_text(GRID.replace("{name: baseline}, ", ""))
    result = cli("run", config, "--out", out, "--quiet")
    assert result.code == 2
    assert result.err.startswith("genclf: error:") and "every cell failed (2)" in result.err
    assert "LinAlgError: Singular matrix" in result.err and len(result.err.strip().splitlines()) == 1
    assert len(json.loads((out / "failed.json").read_text())) == 2


def test_bad_input_in_a_cell_still_stops_the_run(cli, tmp_path, fragile, monkeypatch):
    """A ConfigError raised inside a cell is the config's problem, the same in every cell: exit 2, not a
    partial run."""
    from genclf.errors import ConfigError

    def refuse(self, split, context):
        raise ConfigError("strategies[1].params", "expected something else")

    monkeypatch.setattr(STRATEGIES.get("fragile"), "fit", refuse)
    config, out = tmp_path / "run.yaml", tmp_path / "run"
    config.write_text(GRID)
    result = cli("run", config, "--out", out, "--quiet")
    assert result.code == 2 and "strategies[1].params: expected something else" in result.err
    assert not (out / "failed.json").exists()


def test_cells_start_one_seed_at_a_time_so_workers_train_different_shared_generators():
    from genclf.config import StrategyConfig
    from genclf.run.cells import CellJob
    from genclf.run.experiment import schedule

    entries = [
        StrategyConfig("baseline"),
        StrategyConfig("synthetic_augmentation"),
        StrategyConfig("generative_classifier"),
    ]
    jobs = [CellJob(i, 10, seed, e) for i, (seed, e) in enumerate(((s, e) for s in (0, 1, 2) for e in entries), 1)]
    order = [(job.seed, job.entry.name) for job in schedule(jobs)]
    assert order[:3] == [(0, "synthetic_augmentation"), (1, "synthetic_augmentation"), (2, "synthetic_augmentation")]
    assert order[3:6] == [(0, "generative_classifier"), (1, "generative_classifier"), (2, "generative_classifier")]
    assert order[6:] == [(0, "baseline"), (1, "baseline"), (2, "baseline")]


def test_on_ray_a_failing_cell_is_recorded_and_the_run_goes_on(cli, tmp_path, monkeypatch):
    """The same on Ray: the strategy's module reaches the workers through PYTHONPATH and Ray's worker
    set-up hook, its seed-1 cell raises there, and the driver records it and finishes the others."""
    ray = pytest.importorskip("ray")
    from conftest import start_local_ray

    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "fragile_strategy.py").write_text(FRAGILE + "\n\ndef register():\n    pass\n")
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(modules), os.environ.get("PYTHONPATH")])))
    monkeypatch.setattr(STRATEGIES, "_entries", dict(STRATEGIES._entries))
    importlib.import_module("fragile_strategy")
    if ray.is_initialized():
        ray.shutdown()
    start_local_ray(runtime_env={"worker_process_setup_hook": "fragile_strategy.register"})
    try:
        config, out = tmp_path / "run.yaml", tmp_path / "run"
        config.write_text(GRID.replace("seeds: [0, 1]", "seeds: [1]"))  # two cells: one fails, one does not
        result = cli("run", config, "--out", out, "--quiet", "--executor", "ray")
    finally:
        ray.shutdown()
        sys.modules.pop("fragile_strategy", None)
    assert result.code == 3, result.err
    results = pd.read_csv(out / "results.csv")
    assert list(zip(results["strategy"], results["seed"])) == [("baseline", 1)]
    (failed,) = json.loads((out / "failed.json").read_text())
    assert (failed["strategy"], failed["seed"], failed["error"]) == ("fragile", 1, "LinAlgError: Singular matrix")
