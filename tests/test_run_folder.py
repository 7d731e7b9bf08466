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


def test_a_full_disk_mid_run_is_one_line_leaves_whole_files_and_the_run_resumes_to_the_same_rows(
    cli, tmp_path, monkeypatch, finished_run
):
    """Fault injection: the 6th file replacement of a run fails with ENOSPC (as on a full disk)."""
    import errno

    import genclf.files as files

    config, out = tmp_path / "run.yaml", tmp_path / "run"
    config.write_text(CONFIG)
    real_replace, calls = files.os.replace, []

    def full_disk(src, dst):
        calls.append(dst)
        if len(calls) == 6:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", full_disk)
    result = cli("run", config, "--out", out, "--quiet")
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1 and "no space left on the device" in result.err
    assert str(calls[5]) in result.err  # names the file it could not write
    assert not [p for p in out.rglob("*.tmp")]  # no half-written temporary file left behind
    monkeypatch.setattr(files.os, "replace", real_replace)
    result = cli("run", config, "--out", out, "--quiet")
    assert result.code == 0, result.err
    resumed, clean = pd.read_csv(out / "results.csv"), pd.read_csv(finished_run / "results.csv")
    columns = ["strategy", "seed", "accuracy", "macro_f1"]
    pd.testing.assert_frame_equal(resumed[columns], clean[columns])


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory):
    """A tiny classifier and a tiny generator, and a folder of images to predict."""
    from conftest import TINY_TRAIN, toy_images
    from PIL import Image

    from genclf.cli import main

    root = tmp_path_factory.mktemp("models")
    assert main(["train", "--k-per-class", "5", "--out", str(root / "clf"), *TINY_TRAIN]) == 0
    gen = ["train-generator", "--model", "cvae", "--k-per-class", "5", "--out", str(root / "gen"), *TINY_TRAIN]
    assert main(gen) == 0
    images, _ = toy_images(3, classes=2, size=8)
    (root / "images").mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(root / "images" / f"{i}.png")
    return root


WRITE_PATHS = {
    "train": lambda m, out: ["train", "--k-per-class", "5", "--epochs", "1", "--quiet", "--out", out],
    "train-generator": lambda m, out: [
        "train-generator",
        "--k-per-class",
        "5",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        out,
    ],
    "predict": lambda m, out: ["predict", "--checkpoint", m / "clf", "--input", m / "images", "--out", out],
    "sample (folder)": lambda m, out: ["sample", "--checkpoint", m / "gen", "--per-class", "2", "--out", out],
    "sample (npz)": lambda m, out: ["sample", "--checkpoint", m / "gen", "--per-class", "2", "--out", out / "s.npz"],
    "evaluate": lambda m, out: ["evaluate", "--checkpoint", m / "clf", "--out", out],
}


@pytest.mark.parametrize("command", sorted(WRITE_PATHS))
def test_a_full_disk_on_any_write_path_is_one_line_and_leaves_no_debris(
    cli, tmp_path, monkeypatch, trained_models, command
):
    import errno

    import genclf.files as files

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(files.os, "replace", full_disk)
    out = tmp_path / "out"
    result = cli(*WRITE_PATHS[command](trained_models, out))
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1 and "no space left on the device" in result.err, result.err
    debris = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".out.")]
    assert not debris
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file() and p.name != ".genclf.lock"]


def test_an_orphaned_temporary_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    from genclf.files import write_json

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".results.json.{int(dead.stdout)}.abc123.tmp"
    orphan.write_text("half")
    live = tmp_path / f".results.json.{os.getpid()}.def456.tmp"  # a writer still running: left alone
    live.write_text("busy")
    write_json(tmp_path / "results.json", {"ok": 1})
    assert not orphan.exists() and live.exists()
    assert json.loads((tmp_path / "results.json").read_text()) == {"ok": 1}


def test_a_run_killed_mid_grid_resumes_to_the_same_rows_with_no_debris(tmp_path, finished_run):
    config, out = tmp_path / "run.yaml", tmp_path / "run"
    config.write_text(CONFIG)
    command = [sys.executable, "-m", "genclf", "run", str(config), "--out", str(out), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):  # kill -9 once the first cell is on disk, mid-grid
            if (out / "cells").is_dir() and any((out / "cells").glob("*.json")):
                break
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (out / "summary.json").exists()  # it really stopped before the end
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    columns = ["strategy", "seed", "accuracy", "macro_f1"]
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "results.csv")[columns], pd.read_csv(finished_run / "results.csv")[columns]
    )
    assert not [p for p in out.rglob("*.tmp")]


def _kill_when(command: list[str], ready, at: float) -> None:
    """Start ``command``, and ``kill -9`` it ``at`` seconds after ``ready()`` first holds."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(2400):
            if ready() or process.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(at)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


def test_train_killed_mid_training_resumes_to_the_uninterrupted_weights_with_no_debris(tmp_path):
    from safetensors.torch import load_file

    args = ["train", "--k-per-class", "10", "--epochs", "3", "--batch-size", "16", "--precision", "fp32", "--quiet"]
    base = [sys.executable, "-m", "genclf", *args]
    subprocess.run([*base, "--out", str(tmp_path / "whole")], check=True, capture_output=True)
    cut = tmp_path / "cut"
    _kill_when([*base, "--out", str(cut)], lambda: any(cut.glob("*state*")), 0.2)  # after an epoch's state
    resumed = subprocess.run([*base, "--out", str(cut), "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    whole, again = load_file(tmp_path / "whole" / "model.safetensors"), load_file(cut / "model.safetensors")
    assert whole.keys() == again.keys() and all((whole[k] == again[k]).all() for k in whole)
    assert not list(cut.rglob("*.tmp"))


def test_report_killed_mid_render_is_rerun_to_the_same_report_with_no_debris(tmp_path, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "report.html").unlink()
    shutil.rmtree(run / "figures")
    command = [sys.executable, "-m", "genclf", "report", str(run)]
    _kill_when(command, lambda: (run / "figures").is_dir() and any((run / "figures").iterdir()), 0.0)
    assert subprocess.run(command, capture_output=True).returncode == 0  # the lock of the killed one is free
    assert (run / "report.html").read_bytes() == (finished_run / "report.html").read_bytes()
    assert not list(run.rglob("*.tmp"))


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["train", "--set", "options.dropout=2"], "options.dropout"),
        (["train", "--set", "options.width=1000000000"], "options.width"),
        (["train-generator", "--model", "cvae", "--set", "options.latent_dim=0"], "options.latent_dim"),
    ],
)
def test_model_options_out_of_bounds_are_refused_before_anything_is_allocated_or_written(cli, tmp_path, argv, field):
    out = tmp_path / "out"
    result = cli(*argv, "--epochs", "1", "--out", out, "--quiet")
    assert result.code == 2 and field in result.err and len(result.err.strip().splitlines()) == 1, result.err
    assert not out.exists()


def test_a_run_config_with_out_of_bounds_generator_options_is_refused_before_writing(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        CONFIG.replace(
            "{name: random_oversampling}",
            "{name: synthetic_augmentation, params: {generator_options: {width: 99999999}}}",
        )
    )
    result = cli("run", config, "--out", tmp_path / "out", "--quiet")
    assert result.code == 2 and "strategies[1].params.generator_options.width" in result.err
    assert not (tmp_path / "out").exists()


def test_a_pixel_limit_past_this_machines_memory_is_refused(cli, tmp_path, monkeypatch):
    from conftest import write_folder

    write_folder(tmp_path / "f", n_per_class=4)
    monkeypatch.setenv("GENCLF_MAX_PIXELS", str(10**12))
    result = cli("train", "--data", f"folder:{tmp_path / 'f'}", "--epochs", "1", "--out", tmp_path / "out")
    assert result.code == 2 and "GENCLF_MAX_PIXELS" in result.err and "GiB" in result.err
