"""Grid sharding and merging, device errors, and distributed training with torchrun (gloo, 2 CPU processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

CONFIG = (
    "data: {spec: digits, k_per_class: 5}\n"
    "train: {epochs: 2, batch_size: 16, precision: fp32}\n"
    "generator_train: {epochs: 2, batch_size: 16, precision: fp32}\n"
    "strategies: [{name: baseline}, {name: class_weights}, {name: synthetic_augmentation}]\n"
    "seeds: [0, 1]\n"
)


def _comparable(path) -> pd.DataFrame:
    return pd.read_csv(path).drop(columns=["train_seconds", "generator_seconds"])  # timings vary


def test_sharded_runs_merged_equal_the_unsharded_run(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG)
    assert cli("run", config, "--out", tmp_path / "full", "--quiet").code == 0
    for i in (1, 2):
        result = cli("run", config, "--shard", f"{i}/2", "--out", tmp_path / f"shard{i}", "--quiet")
        assert result.code == 0, result.err
        assert len(pd.read_csv(tmp_path / f"shard{i}" / "results.csv")) == 3  # 6 cells, half each
    merged = cli("merge", tmp_path / "shard1", tmp_path / "shard2", "--out", tmp_path / "merged", "--quiet")
    assert merged.code == 0, merged.err
    pd.testing.assert_frame_equal(
        _comparable(tmp_path / "merged" / "results.csv"), _comparable(tmp_path / "full" / "results.csv")
    )
    assert (tmp_path / "merged" / "report.html").stat().st_size > 0
    # the generator checks travel with the shards, so the quality gate judges the merged run as the full one
    timings = ["train_seconds", "check_seconds"]
    checks = {
        name: pd.read_csv(tmp_path / name / "generators.csv")
        .drop(columns=timings)
        .sort_values(["seed", "generator"])
        .reset_index(drop=True)
        for name in ("merged", "full")
    }
    pd.testing.assert_frame_equal(checks["merged"], checks["full"])
    verdicts = {
        name: json.loads((tmp_path / name / "summary.json").read_text())["budgets_detail"]["5"]["verdicts"]
        for name in ("merged", "full")
    }
    assert verdicts["merged"] == verdicts["full"]


def test_worker_processes_give_the_single_process_results_and_train_each_generator_once(cli, tmp_path):
    """Two worker processes of one thread each: the same rows in the same order as one process with one
    thread, one check and one stored copy per generator, and a resumed run fits nothing twice."""
    config = tmp_path / "run.yaml"
    config.write_text(
        CONFIG.replace(
            "{name: synthetic_augmentation}]", "{name: synthetic_augmentation}, {name: generative_classifier}]"
        )
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli("run", config, "--out", tmp_path / "one", "--quiet", "--workers", "1").code == 0
    finally:
        torch.set_num_threads(threads)
    two = cli("run", config, "--out", tmp_path / "two", "--workers", "2")
    assert two.code == 0, two.err
    assert "in 2 worker processes" in two.err
    one, par = (pd.read_csv(tmp_path / name / "results.csv") for name in ("one", "two"))
    assert list(par["strategy"]) == list(one["strategy"]) and list(par["seed"]) == list(one["seed"])
    assert (par["accuracy"] == one["accuracy"]).all()
    numeric = [c for c in one.select_dtypes("number").columns if "seconds" not in c]
    pd.testing.assert_frame_equal(par[numeric], one[numeric], rtol=1e-5)
    checks = pd.read_csv(tmp_path / "two" / "generators.csv")
    assert sorted(zip(checks["seed"], checks["generator"])) == [(0, "cvae"), (1, "cvae")]  # both strategies share it
    stored = sorted(p.parent.name for p in (tmp_path / "two" / "generators").glob("*/*/model.safetensors"))
    assert stored == ["cvae", "cvae"]
    artifacts = json.loads((tmp_path / "two" / "artifacts.json").read_text())
    assert [a["path"] for a in artifacts] == ["artifacts/samples_cvae_k5_seed0.png"]
    again = cli("run", config, "--out", tmp_path / "two", "--workers", "2")
    assert again.code == 0 and "(0 to run" in again.err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "two" / "results.csv"), par)


def test_spawned_workers_rebuild_the_data_and_give_the_forked_workers_results(cli, tmp_path, monkeypatch):
    """Where fork is not available (macOS, Windows) workers are spawned and load the data themselves."""
    import genclf.run.pool as run_cells

    config = tmp_path / "run.yaml"
    config.write_text(CONFIG.replace("seeds: [0, 1]", "seeds: [0]"))
    assert cli("run", config, "--out", tmp_path / "fork", "--quiet", "--workers", "2").code == 0
    monkeypatch.setattr(run_cells, "start_method", lambda: "spawn")
    spawned = cli("run", config, "--out", tmp_path / "spawn", "--quiet", "--workers", "2")
    assert spawned.code == 0, spawned.err
    pd.testing.assert_frame_equal(
        _comparable(tmp_path / "spawn" / "results.csv"), _comparable(tmp_path / "fork" / "results.csv")
    )


def test_a_gpu_machine_runs_cells_in_one_process_and_never_forks_after_cuda(monkeypatch):
    """``auto`` workers on a machine with CUDA (the ``auto`` device resolves to it): one process; and a pool
    asked for explicitly is spawned once CUDA is initialised here (a forked child cannot use it)."""
    import genclf.run.pool as run_cells

    assert run_cells.resolve_workers("auto", 10, "cpu", False) == min(run_cells.cpu_cores(), 8, 10)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert run_cells.resolve_workers("auto", 10, "auto", False) == 1
    assert run_cells.resolve_workers("auto", 10, "cuda", False) == 1
    assert run_cells.resolve_workers("auto", 10, "cpu", False) > 1 or run_cells.cpu_cores() == 1
    monkeypatch.setattr(run_cells, "cpu_cores", lambda: 4)
    assert run_cells.resolve_workers("3", 10, "auto", False) == 3  # asked for explicitly, within the cores
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    assert run_cells.start_method() == "spawn"


@pytest.mark.parametrize("workers", ["0", "two", "1.5"])
def test_bad_worker_count_is_a_one_line_error(cli, tmp_path, workers):
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG)
    result = cli("run", config, "--out", tmp_path / "r", "--workers", workers)
    assert result.code == 2 and "--workers" in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "results.csv").exists()


@pytest.mark.parametrize("shard", ["3/2", "0/2", "a/b", "2"])
def test_bad_shard_is_a_one_line_error(cli, tmp_path, shard):
    result = cli("run", "--shard", shard, "--out", tmp_path / "o", "--quiet")
    assert result.code == 2 and "--shard" in result.err and len(result.err.strip().splitlines()) == 1


def test_merge_refuses_shards_of_different_configs(cli, tmp_path):
    for name, seeds in (("a", "[0]"), ("b", "[1]")):
        config = tmp_path / f"{name}.yaml"
        config.write_text(
            CONFIG.replace("seeds: [0, 1]", f"seeds: {seeds}").replace(", {name: synthetic_augmentation}", "")
        )
        assert cli("run", config, "--out", tmp_path / name, "--quiet").code == 0
    result = cli("merge", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "m")
    assert result.code == 2 and "config.yaml differs" in result.err


def test_cuda_on_a_machine_without_cuda_is_a_one_line_error(cli, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = cli("train", "--data", "digits", "--device", "cuda", "--epochs", "1", "--out", tmp_path / "o")
    assert result.code == 2 and "--device" in result.err and len(result.err.strip().splitlines()) == 1


def _torchrun(*args: str, cwd=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.mark.parametrize("kind", ["classifier", "cgan"])
def test_torchrun_two_gloo_processes_end_with_identical_weights(tmp_path, kind):
    result = _torchrun(str(Path(__file__).parent / "ddp_worker.py"), str(tmp_path), kind)
    assert result.returncode == 0, result.stderr[-2000:]
    rank0 = torch.load(tmp_path / "weights_rank0.pt")
    rank1 = torch.load(tmp_path / "weights_rank1.pt")
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()
    assert not list((tmp_path / "ckpt").glob(".*.tmp"))
    # the logged training loss is the mean over ranks, so both ranks report the same numbers
    assert (tmp_path / "history_rank0.txt").read_text() == (tmp_path / "history_rank1.txt").read_text()


def test_genclf_train_under_torchrun_prints_and_writes_once(tmp_path):
    out = tmp_path / "ckpt"
    result = _torchrun("-m", "genclf", "train", "--data", "digits", "--epochs", "1", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("checkpoint:") == 1
    assert (out / "model.safetensors").is_file() and (out / "metrics.json").is_file()


def test_precision_names(cli, tmp_path):
    ok = cli("train", "--data", "digits", "--precision", "32", "--epochs", "1", "--out", tmp_path / "a", "--quiet")
    assert ok.code == 0, ok.err
    if not torch.cuda.is_available():
        bad = cli("train", "--data", "digits", "--precision", "16-mixed", "--epochs", "1", "--out", tmp_path / "b")
        assert bad.code == 2 and "16-mixed" in bad.err and "CUDA" in bad.err


def test_more_workers_than_cores_are_capped_with_a_warning():
    from genclf.run.pool import cpu_cores, resolve_workers

    with pytest.warns(UserWarning, match=r"--workers 64 on \d+ CPU core"):
        assert resolve_workers("64", 100, "cpu", False) == cpu_cores()


def test_a_time_budget_that_is_not_a_positive_number_is_refused():
    from genclf.errors import ConfigError
    from genclf.run import plan

    planned = plan.plan_run("digits")
    for minutes in (float("nan"), float("inf"), 0.0, -3.0):
        with pytest.raises(ConfigError, match="--time-budget"):
            plan.fit_time_budget(planned, minutes)
