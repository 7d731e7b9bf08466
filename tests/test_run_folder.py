"""A run folder is a database: one writer at a time (a lock that survives kill -9), and what it holds is
untrusted input read through one schema (every tampered file a one-line error naming it, every path inside)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

import genclf
from genclf.errors import ConfigError

CONFIG = (
    "data: {spec: digits, k_per_class: 5}\n"
    "train: {epochs: 1, batch_size: 32, precision: fp32}\n"
    "strategies: [{name: baseline}, {name: random_oversampling}]\nseeds: [0, 1]\n"
)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("finished")
    (root / "run.yaml").write_text(CONFIG)
    from genclf.cli import main

    assert main(["run", str(root / "run.yaml"), "--out", str(root / "run"), "--quiet"]) in (0, None)
    return root / "run"


def _holder(folder, ready):
    """A separate process that holds ``folder``'s lock until killed."""
    code = textwrap.dedent(
        f"""
        import pathlib, time
        from genclf.run.folder import RunFolder
        with RunFolder({str(folder)!r}).locked("run"):
            pathlib.Path({str(ready)!r}).write_text("held")
            time.sleep(600)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(600):
        if ready.exists():
            return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the lock holder did not start")


def test_a_second_writer_is_refused_naming_the_holder_and_a_killed_holder_is_taken_over(cli, tmp_path):
    out, config = tmp_path / "run", tmp_path / "run.yaml"
    config.write_text(CONFIG.replace("seeds: [0, 1]", "seeds: [0]"))
    holder = _holder(out, tmp_path / "ready")
    try:
        result = cli("run", config, "--out", out, "--quiet")
        assert result.code == 2
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
        assert "in use by genclf run" in result.err and f"pid {holder.pid}" in result.err
        assert not (out / "results.csv").exists() and not (out / "config.yaml").exists()  # nothing written
        assert cli("report", out).code == 2  # not a run yet either way: nothing rendered
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a stale lock: the kernel releases it with the process
        holder.wait()
    result = cli("run", config, "--out", out, "--quiet")
    assert result.code == 0, result.err
    assert len(pd.read_csv(out / "results.csv")) == 2  # two strategies, one seed
    assert (out / ".genclf.lock").read_text() == ""  # released, no holder recorded


def test_report_and_merge_wait_for_no_one_but_refuse_a_held_folder(cli, tmp_path, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    holder = _holder(run, tmp_path / "ready")
    try:
        before = (run / "report.html").read_bytes()
        for argv in (("report", run), ("merge", run, "--out", run)):
            result = cli(*argv)
            assert result.code == 2 and "in use by genclf run" in result.err, (argv, result.err)
        assert (run / "report.html").read_bytes() == before
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert cli("report", run).code == 0


def _write(path, text):
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)


def _results(run, change):
    table = pd.read_csv(run / "results.csv")
    change(table)
    table.to_csv(run / "results.csv", index=False)


def _cell(run, change):
    path = sorted((run / "cells").glob("*.json"))[0]
    cell = json.loads(path.read_text())
    change(cell)
    path.write_text(json.dumps(cell))


TAMPERED = {
    "results without seed": (
        "results.csv",
        lambda run: _results(run, lambda t: t.drop(columns=["seed"], inplace=True)),
    ),
    "non-numeric metric": (
        "results.csv",
        lambda run: _results(run, lambda t: t.__setitem__("macro_f1", ["high"] + list(t["macro_f1"][1:]))),
    ),
    "unknown role": ("results.csv", lambda run: _results(run, lambda t: t.__setitem__("role", "winner"))),
    "empty results": ("results.csv", lambda run: _write(run / "results.csv", "")),
    "binary results": ("results.csv", lambda run: _write(run / "results.csv", bytes(range(256)) * 8)),
    "cell without strategy": ("cells", lambda run: _cell(run, lambda c: c.pop("strategy"))),
    "cell seed of the wrong type": ("cells", lambda run: _cell(run, lambda c: c.__setitem__("seed", "zero"))),
    "cell confusion of strings": ("cells", lambda run: _cell(run, lambda c: c.__setitem__("confusion_matrix", "x"))),
    "run.json a list": ("run.json", lambda run: _write(run / "run.json", "[1, 2]")),
    "garbage generators.csv": ("generators.csv", lambda run: _write(run / "generators.csv", "a,b\n1,2\n")),
    "generators.csv non-numeric cas": (
        "generators.csv",
        lambda run: _write(run / "generators.csv", "generator,k_per_class,seed,status,cas\ncvae,5,0,passed,lots\n"),
    ),
    "artifact outside the folder": (
        "artifacts.json",
        lambda run: _write(run / "artifacts.json", json.dumps([{"path": "../../../../etc/passwd", "caption": "x"}])),
    ),
    "artifact absolute path": (
        "artifacts.json",
        lambda run: _write(run / "artifacts.json", json.dumps([{"path": "/etc/passwd", "caption": "x"}])),
    ),
    "artifacts not a list": ("artifacts.json", lambda run: _write(run / "artifacts.json", '{"path": "a"}')),
    "deeply nested cell": ("cells", lambda run: _write(sorted((run / "cells").glob("*.json"))[0], "[" * 100_000)),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_run_folder_is_a_one_line_error_naming_the_file(cli, tmp_path, finished_run, case):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    culprit, tamper = TAMPERED[case]
    tamper(run)
    before = (run / "report.html").read_bytes()
    resume = ("run", run / "config.yaml", "--out", run, "--quiet")
    for argv in (("report", run), resume) if culprit != "run.json" else (("report", run),):
        result = cli(*argv)
        assert result.code == 2, (argv, result.err)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.err and culprit in lines[0], (argv, result.err)
    assert (run / "report.html").read_bytes() == before  # nothing re-rendered from a bad folder
    with pytest.raises(ConfigError, match=culprit):
        genclf.load_run(run)
    if culprit == "run.json":  # a resume never reads run.json: it writes it afresh from the data
        assert cli(*resume).code == 0
        assert isinstance(json.loads((run / "run.json").read_text()), dict)


def test_no_report_embeds_a_file_from_outside_the_run_folder(cli, tmp_path, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not yours")
    (run / "artifacts").mkdir(exist_ok=True)
    os.symlink(secret, run / "artifacts" / "link.png")  # a relative path whose file lies elsewhere
    _write(run / "artifacts.json", json.dumps([{"path": "artifacts/link.png", "caption": "linked out"}]))
    result = cli("report", run)
    assert result.code == 2 and "artifacts.json" in result.err and "outside the run folder" in result.err


def test_an_untampered_folder_still_reads_and_renders(cli, tmp_path, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    assert cli("report", run).code == 0
    loaded = genclf.load_run(run)
    assert set(loaded.results["strategy"]) == {"baseline", "random_oversampling"}
