"""The grid on Ray (a local instance bound to the loopback address): the same rows as the local pool, each
shared generator trained once, a resume that fits nothing, and bad input refused before anything is written."""

from __future__ import annotations

import os
import sys

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

GRID = (
    "data: {spec: digits, k_per_class: 5}\n"
    "train: {epochs: 1, batch_size: 32, precision: fp32}\n"
    "generator_train: {epochs: 3, batch_size: 32, precision: fp32}\n"
    "strategies:\n"
    "  - {name: baseline}\n"
    "  - {name: synthetic_augmentation, params: {generator: cvae}}\n"
    "  - {name: generative_classifier}\n"  # draws from the same cvae as synthetic_augmentation
    "seeds: [0, 1]\n"
)


@pytest.fixture(scope="module")
def cluster():
    from conftest import start_local_ray

    start_local_ray()
    yield
    ray.shutdown()


def test_the_grid_on_ray_gives_the_local_pools_rows_and_trains_each_generator_once(cli, tmp_path, cluster):
    import genclf.run.executor as executor

    config = tmp_path / "grid.yaml"
    config.write_text(GRID)
    local = cli("run", config, "--out", tmp_path / "local", "--quiet", "--workers", "2")
    assert local.code == 0, local.err
    on_ray = cli("run", config, "--out", tmp_path / "ray", "--quiet", "--executor", "ray")
    assert on_ray.code == 0, on_ray.err
    assert executor.last_counts == {"k5_seed0/cvae": 1, "k5_seed1/cvae": 1}  # two cells each, trained once
    a, b = pd.read_csv(tmp_path / "local" / "results.csv"), pd.read_csv(tmp_path / "ray" / "results.csv")
    assert list(a["strategy"]) == list(b["strategy"]) and list(a["seed"]) == list(b["seed"])
    assert (a["accuracy"] == b["accuracy"]).all()
    for column in ("macro_f1", "macro_precision", "macro_recall", "log_loss", "ece"):
        assert (a[column] - b[column]).abs().max() <= 1e-5, column
    # the driver wrote what the cells sent back: details (with the node), histories, models, the generators
    run = tmp_path / "ray"
    assert len(list((run / "cells").glob("*.json"))) == 6 and len(list((run / "history").glob("*.csv"))) == 6
    assert (run / "generators" / "k5_seed0" / "cvae" / "model.safetensors").is_file()
    assert all("node" in pd.read_json(p, typ="series") for p in (run / "cells").glob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in (run / "cells").glob("*.json")}
    resumed = cli("run", config, "--out", run, "--quiet", "--executor", "ray")
    assert resumed.code == 0, resumed.err
    assert executor.last_counts == {} and before == {p: p.stat().st_mtime_ns for p in (run / "cells").glob("*.json")}
    pd.testing.assert_frame_equal(pd.read_csv(run / "results.csv"), b)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--address", "ray://127.0.0.1:9"], "no Ray cluster answers"),
        (["--gpus-per-cell", "0.25"], "offers no GPU"),
        (["--cpus-per-cell", "0"], "--cpus-per-cell"),
    ],
)
def test_bad_ray_input_is_one_line_and_writes_nothing(cli, tmp_path, cluster, argv, message):
    config = tmp_path / "grid.yaml"
    config.write_text(GRID)
    result = cli("run", config, "--out", tmp_path / "out", "--quiet", "--executor", "ray", *argv)
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1, result.err
    assert not (tmp_path / "out").exists()


def test_the_ray_executor_without_ray_names_the_install(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    result = cli("run", "--out", tmp_path / "out", "--executor", "ray", "--quiet")
    assert result.code == 2 and "pip install 'genclf[ray]'" in result.err
    assert not (tmp_path / "out").exists()


def test_a_worker_killed_mid_cell_is_retried_and_the_rows_equal_the_uninterrupted_run(tmp_path, cluster):
    """kill -9 of the first process that runs a cell task (mid-cell): Ray runs the cell again elsewhere."""
    import signal
    import subprocess
    import threading
    import time

    import genclf.run.executor as executor
    from genclf.config import RunConfig, load_config
    from genclf.run.experiment import run_experiment

    (tmp_path / "grid.yaml").write_text(GRID)
    config = load_config(RunConfig, tmp_path / "grid.yaml")
    killed = []

    def kill_one_cell_worker():
        for _ in range(600):
            found = subprocess.run(["pgrep", "-f", "ray::_ray_cell"], capture_output=True, text=True).stdout.split()
            if found:
                time.sleep(0.5)  # mid-cell
                os.kill(int(found[0]), signal.SIGKILL)
                killed.append(int(found[0]))
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_cell_worker)
    killer.start()
    interrupted = run_experiment(config, tmp_path / "killed", quiet=True, executor="ray")
    killer.join()
    assert killed, "no cell worker was seen to kill"
    plain = run_experiment(config, tmp_path / "plain", quiet=True, executor="ray")
    columns = ["strategy", "seed", "accuracy", "macro_f1", "log_loss"]
    pd.testing.assert_frame_equal(interrupted.results[columns], plain.results[columns])
    assert all(count == 1 for count in executor.last_counts.values())


def test_the_local_pool_never_imports_ray(tmp_path):
    import subprocess

    (tmp_path / "grid.yaml").write_text(
        "data: {spec: digits, k_per_class: 5}\ntrain: {epochs: 1, precision: fp32}\nstrategies: [{name: baseline}]\n"
        "seeds: [0]\n"
    )
    code = (
        "import sys\nfrom genclf.cli import main\n"
        f"code = main(['run', {str(tmp_path / 'grid.yaml')!r}, '--out', {str(tmp_path / 'out')!r}, '--quiet'])\n"
        "assert code == 0 and 'ray' not in sys.modules, code\n"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
