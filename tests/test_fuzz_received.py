"""Fuzz: a run folder or a checkpoint from someone else, with any field of any file mutated (values of any
type, keys removed, nesting, paths), is either read cleanly or refused on one line (exit 2): never a
traceback, never a file from outside the folder."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genclf.cli import main

RUN = (
    "data: {spec: digits, k_per_class: 5}\n"
    "train: {epochs: 1, batch_size: 32, precision: fp32}\n"
    "strategies: [{name: baseline}, {name: smote}]\nseeds: [0, 1]\n"
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20)
    | st.sampled_from(["../../../../etc/passwd", "/etc/passwd", "artifacts/../..", "models/../../x"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)  # fmt: skip


@pytest.fixture(scope="module")
def received(tmp_path_factory):
    """A finished run (with an artifacts.json) and a checkpoint, as someone would send them."""
    root = tmp_path_factory.mktemp("received")
    (root / "run.yaml").write_text(RUN)
    assert main(["run", str(root / "run.yaml"), "--out", str(root / "run"), "--quiet"]) == 0
    (root / "run" / "artifacts").mkdir(exist_ok=True)
    shutil.copy(root / "run" / "figures" / sorted(p.name for p in (root / "run" / "figures").iterdir())[0],
                root / "run" / "artifacts" / "grid.png")  # fmt: skip
    (root / "run" / "artifacts.json").write_text(json.dumps([{"path": "artifacts/grid.png", "caption": "a grid"}]))
    (root / "image.png").write_bytes((root / "run" / "artifacts" / "grid.png").read_bytes())
    return root


def _mutate(data, path: list, value, action: str):
    """``data`` with the item at ``path`` replaced by ``value``, removed, or wrapped in a list."""
    if not path:
        return value if action == "replace" else [data]
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if action == "remove" and isinstance(parent, dict):
        del parent[key]
    elif action == "wrap":
        parent[key] = [parent[key]]
    else:
        parent[key] = value
    return data


def _paths(data, prefix=()):
    yield list(prefix)
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data[:3]):
            yield from _paths(value, (*prefix, i))


def _run_cli(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


RUN_FILES = ["run.json", "artifacts.json", "cells/baseline_k5_seed0.json", "cells/smote_k5_seed1.json"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    file=st.sampled_from(RUN_FILES),
    pick=st.integers(0, 10_000),
    value=JSON_VALUES,
    action=st.sampled_from(["replace", "replace", "remove", "wrap"]),
)
def test_a_mutated_run_folder_is_reported_or_refused_on_one_line(received, capsys, file, pick, value, action):
    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / "run"
        shutil.copytree(received / "run", run)
        target = run / file
        data = json.loads(target.read_text())
        paths = list(_paths(data))
        target.write_text(json.dumps(_mutate(data, paths[pick % len(paths)], value, action)))
        code, err = _run_cli(capsys, "report", run)
        assert code in (0, 2), err
        assert "Traceback" not in err and (code == 0 or len(err.strip().splitlines()) == 1), err
        html = (run / "report.html").read_text(errors="replace")
        assert "root:" not in html  # no system file embedded


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.integers(0, 10_000), value=JSON_VALUES, action=st.sampled_from(["replace", "remove", "wrap"]))
def test_a_mutated_checkpoint_predicts_or_is_refused_on_one_line(received, capsys, pick, value, action):
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = Path(scratch) / "model"
        shutil.copytree(received / "run" / "models" / "baseline" / "k5_seed0", checkpoint)
        meta = json.loads((checkpoint / "model.json").read_text())
        paths = [p for p in _paths(meta) if not (p and p[0] == "environment")]
        (checkpoint / "model.json").write_text(json.dumps(_mutate(meta, paths[pick % len(paths)], value, action)))
        code, err = _run_cli(capsys, "predict", "--checkpoint", checkpoint, "--input", received / "image.png",
                             "--out", Path(scratch) / "out")  # fmt: skip
        assert code in (0, 2), err
        assert "Traceback" not in err and (code == 0 or len(err.strip().splitlines()) == 1), err


CELL_VALUES = st.one_of(
    st.text(max_size=12), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.just(""),
    st.sampled_from(["winner", "baseline", "../../etc/passwd", "=cmd()", "nan", "inf"]),
)  # fmt: skip


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.integers(0, 100), column=st.integers(0, 100), value=CELL_VALUES, drop=st.booleans())
def test_a_mutated_results_table_is_reported_or_refused_on_one_line(received, capsys, row, column, value, drop):
    import pandas as pd

    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / "run"
        shutil.copytree(received / "run", run)
        table = pd.read_csv(run / "results.csv", dtype=str, keep_default_na=False)
        name = table.columns[column % len(table.columns)]
        if drop:
            table = table.drop(columns=[name])
        else:
            table.loc[row % len(table), name] = str(value)
        table.to_csv(run / "results.csv", index=False)
        code, err = _run_cli(capsys, "report", run)
        assert code in (0, 2), err
        assert "Traceback" not in err and (code == 0 or len(err.strip().splitlines()) == 1), err
