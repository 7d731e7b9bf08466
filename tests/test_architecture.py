"""The shape of the code: one-way imports, strategies as one file plus a registration, roles that drive the
verdicts, one config validation with a bad-value row for every checked field of every shipped config."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genclf
from genclf.config import RunConfig, load_config
from genclf.reporting.summary import summarize
from genclf.strategies import STRATEGIES

SRC = Path(genclf.__file__).parent
ROOT = SRC.parent.parent
SHIPPED = sorted((ROOT / "configs").glob("*.yaml")) + [SRC / "configs" / "default.yaml"]


def _imports() -> dict[str, set[str]]:
    """{module: genclf modules it imports (at any level)} for every module of the package."""
    graph = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("genclf"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("genclf"))
        graph[module] = found
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def test_no_import_cycle_and_no_library_module_imports_the_cli():
    graph = _imports()
    library = [m for m in graph if not m.startswith("genclf.cli") and m not in ("genclf.__main__",)]
    assert not [m for m in library if any(d.startswith("genclf.cli") for d in graph[m])]
    state: dict[str, int] = {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for dep in graph[module]:
            # a package's __init__ importing its own submodules is how registries fill, not a cycle
            if module != "genclf" and dep.startswith(module + "."):
                continue
            if state.get(dep) == 1 and not module.startswith(dep + "."):
                raise AssertionError(f"import cycle: {' -> '.join([*stack, module, dep])}")
            if dep not in state:
                visit(dep, [*stack, module])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [])


# The layers, lowest first: a module imports only from its own layer or a lower one. Core: errors, the
# registry, roles, files, lazy exports. Configs sit above the models they name (their rules check a
# classifier's name against its registry). The pipelines (train one classifier, generator or colorizer)
# sit under the strategies and the generator checks that compose them. Reporting is a pure function of a
# run's record, under the run that renders it; the API and the CLI sit on top.
LAYERS = [
    (
        "genclf.version",
        "genclf.errors",
        "genclf.registry",
        "genclf.roles",
        "genclf.files",
        "genclf.lazy",
        "genclf.catalogue",
    ),
    ("genclf.data", "genclf.runtime"),
    ("genclf.models",),
    ("genclf.config", "genclf.config_rules"),
    ("genclf.training",),
    ("genclf.pipelines",),
    ("genclf.strategies", "genclf.evaluation"),
    ("genclf.reporting",),
    ("genclf.run",),
    ("genclf.api",),
    ("genclf.cli", "genclf.__main__"),
]


def _layer(module: str) -> int:
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    raise AssertionError(f"{module} is in no layer of LAYERS: add it to the table")


def test_every_import_goes_to_the_same_layer_or_a_lower_one():
    graph = _imports()
    upward = [
        f"{module} (layer {_layer(module)}) imports {dep} (layer {_layer(dep)})"
        for module, deps in sorted(graph.items())
        if module != "genclf"  # the package's lazy public names point everywhere on purpose
        for dep in sorted(deps)
        if dep != "genclf" and _layer(dep) > _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_the_package_root_holds_at_most_twelve_modules():
    modules = sorted(p.name for p in SRC.glob("*.py"))
    assert len(modules) <= 12, modules


STRATEGY_FILE = '''
import numpy as np
from genclf.roles import CLASSICAL
from genclf.strategies.base import Proposal, Strategy, register_strategy


# declared with it: a tenth of the baseline's cost, proposed last by a data-derived plan for imbalanced data
@register_strategy("class_prior", CLASSICAL, cost=0.1, plan=[Proposal(99, lambda survey: survey.imbalanced)])
class ClassPrior(Strategy):
    """Predicts the training class frequencies for every image."""

    def fit(self, split, context):
        counts = np.bincount(split.train.labels.numpy(), minlength=split.train.num_classes)
        self.prior = counts / counts.sum()

    def predict_proba(self, images):
        return np.tile(self.prior, (len(images), 1))
'''


@pytest.fixture
def one_file_strategy(tmp_path, monkeypatch):
    """A strategy defined in one file of a temporary module, registered by importing it."""
    from conftest import load_strategy_module

    load_strategy_module(tmp_path, monkeypatch, "class_prior_strategy", STRATEGY_FILE)
    return "class_prior"


def test_a_one_file_strategy_runs_in_a_grid_and_appears_in_the_report_with_its_role(cli, tmp_path, one_file_strategy):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 5}\n"
        "train: {epochs: 1, batch_size: 32, precision: fp32}\n"
        f"strategies: [{{name: baseline}}, {{name: {one_file_strategy}}}]\nseeds: [0]\n"
    )
    result = cli("run", config, "--out", tmp_path / "run", "--quiet")
    assert result.code == 0, result.err
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert dict(zip(results["strategy"], results["role"])) == {"baseline": "baseline", "class_prior": "classical"}
    html = (tmp_path / "run" / "report.html").read_text()
    assert "data-strategy='class_prior'" in html
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["budgets_detail"]["5"]["roles"]["class_prior"] == "classical"


def test_a_one_file_strategy_is_proposed_and_costed_by_a_data_derived_plan(cli, tmp_path, one_file_strategy):
    """Nothing but its own file: ``genclf run --data`` proposes it when its predicate holds (imbalanced
    classes) and its estimate costs it as declared (a tenth of the baseline)."""
    from conftest import toy_images
    from PIL import Image

    from genclf.run import plan

    images, labels = toy_images(30, classes=2)
    for i, (image, label) in enumerate(zip(images, labels)):
        if label == 1 and i % 3:
            continue  # 30 : 10
        (tmp_path / "f" / f"c{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "f" / f"c{label}" / f"{i}.png")
    result = cli("run", "--data", f"folder:{tmp_path / 'f'}", "--dry-run")
    assert result.code == 0, result.err
    lines = [line for line in result.out.splitlines() if line.strip().startswith(one_file_strategy)]
    assert len(lines) == 1
    planned = plan.estimate(plan.plan_run(f"folder:{tmp_path / 'f'}"))
    names = [e.name for e in planned.config.strategies]
    assert names[-1] == one_file_strategy  # rank 99: after every shipped proposal
    seconds = dict(planned.cells)
    assert seconds[one_file_strategy] == pytest.approx(0.1 * seconds["baseline"])
    balanced = plan.plan_run("digits")
    assert one_file_strategy not in [e.name for e in balanced.config.strategies]


def _rows(gains: dict[str, float], roles: dict[str, str], seeds=(0, 1, 2, 3, 4)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for seed in seeds:
        base = 0.6 + 0.01 * seed
        for name, gain in gains.items():
            rows.append(
                {
                    "strategy": name,
                    "method": name,
                    "role": roles[name],
                    "k_per_class": 10,
                    "seed": seed,
                    "macro_f1": base + gain + 0.002 * rng.standard_normal(),
                }
            )
    return pd.DataFrame(rows)


def test_a_classical_strategy_never_appears_as_the_generative_winner(one_file_strategy):
    roles = {"baseline": "baseline", one_file_strategy: STRATEGIES.get(one_file_strategy).role, "gen": "generative"}
    config = RunConfig(seeds=[0, 1, 2, 3, 4])
    block = summarize(_rows({"baseline": 0.0, one_file_strategy: 0.2, "gen": 0.05}, roles), config)
    detail = block["budgets_detail"]["10"]
    assert detail["best_classical"] == one_file_strategy
    assert one_file_strategy not in detail["headline"].split("best classical")[0]
    assert detail["headline"].startswith("No:") and "closest is gen" in detail["headline"]
    # The same numbers with the throw-away strategy declared generative make it the winner.
    roles[one_file_strategy] = "generative"
    flipped = summarize(_rows({"baseline": 0.0, one_file_strategy: 0.2, "gen": 0.05}, roles), config)
    assert flipped["budgets_detail"]["10"]["headline"].startswith(f"Yes: {one_file_strategy}")


# ---- one validation step: a bad-value row for every checked field of every shipped config -------------


def _bad_value(rule, current):
    """A value of the field's kind that its rule rejects."""
    candidates = ["bogus", " ", [], [-1], [0], [99], -1, 0, 10**12]
    if current is None or isinstance(current, (int, float)):
        candidates = [-1, 0, 10**12, "bogus"]  # out of range rather than of the wrong type
    if isinstance(current, list) and current and dataclasses.is_dataclass(current[0]):
        candidates = [[]]
    for value in candidates:
        if rule(value) is not None:
            return value
    raise AssertionError(f"no bad value found for a field currently {current!r}")


def _checked_fields(obj, where=""):
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{where}.{f.name}" if where else f.name
        if f.metadata.get("rule") is not None:
            yield path, f.metadata["rule"], value
        if dataclasses.is_dataclass(value):
            yield from _checked_fields(value, path)


BAD_ROWS = [
    pytest.param(path, key, rule, current, id=f"{path.stem}:{key}")
    for path in SHIPPED
    for key, rule, current in _checked_fields(load_config(RunConfig, path))
]


@pytest.mark.parametrize(("config_path", "key", "rule", "current"), BAD_ROWS)
def test_every_checked_field_of_every_shipped_config_rejects_a_bad_value(
    cli, tmp_path, config_path, key, rule, current
):
    bad = _bad_value(rule, current)
    out = tmp_path / "out"
    result = cli("run", config_path, "--set", f"{key}={json.dumps(bad)}", "--out", out, "--quiet")
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert key in result.err, result.err
    assert not out.exists()  # nothing written: validation comes before any data is loaded


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch-size", "0"], "train.batch_size (--batch-size): must be >= 1, got 0"),
        (["--epochs", "-3"], "train.epochs (--epochs): must be >= 1, got -3"),
        (["--lr", "nan"], "train.lr (--lr)"),
        (["--seeds", "-1"], "seeds (--seeds): item 0"),
        (["--image-size", "2"], "data.image_size (--image-size)"),
    ],
)
def test_errors_name_the_field_and_the_flag_that_set_it(cli, tmp_path, argv, message):
    result = cli("run", *argv, "--out", tmp_path / "out", "--quiet")
    assert result.code == 2 and message in result.err, result.err
    assert not (tmp_path / "out").exists()


def test_split_fractions_must_leave_images_to_train_on(cli, tmp_path):
    result = cli("run", "--set", "data.val_fraction=0.5", "--set", "data.test_fraction=0.5", "--out", tmp_path / "o")
    assert result.code == 2 and "data.val_fraction (--set): val_fraction + test_fraction must be < 1" in result.err


def test_errors_from_yaml_name_the_file_and_the_field(cli, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("train: {batch_size: 0}\n")
    result = cli("run", config, "--out", tmp_path / "out")
    assert result.code == 2 and f"{config}: train.batch_size: must be >= 1" in result.err, result.err


def test_report_re_renders_the_report_the_run_wrote(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 5}\n"
        "train: {epochs: 1, batch_size: 32, precision: fp32}\n"
        "generator_train: {epochs: 1, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}, {name: synthetic_augmentation, params: {generator: cvae}}]\nseeds: [0, 1]\n"
    )
    out = tmp_path / "run"
    assert cli("run", config, "--out", out, "--quiet").code == 0
    written = {p: p.read_bytes() for p in [out / "report.html", out / "summary.json"]}
    for path in written:
        path.unlink()
    result = cli("report", out)
    assert result.code == 0, result.err
    assert {p: p.read_bytes() for p in written} == written
    assert "samples_cvae" in (out / "summary.json").read_text()


def test_report_on_a_folder_that_is_not_a_run_is_a_clear_error(cli, tmp_path):
    result = cli("report", tmp_path)
    assert result.code == 2 and "not a genclf run folder" in result.err


def test_a_run_folder_of_an_older_genclf_is_a_clear_error(cli, tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "config.yaml").write_text("seeds: [0]\n")
    pd.DataFrame([{"strategy": "baseline", "method": "baseline", "k_per_class": 10, "seed": 0}]).to_csv(
        out / "results.csv", index=False
    )
    result = cli("report", out)
    assert result.code == 2 and "no 'role' column" in result.err and len(result.err.splitlines()) == 1


def test_the_run_and_the_reporting_name_no_strategy():
    """What a strategy costs, when it is proposed and how its verdict reads is declared with the strategy:
    no module of the run or the reporting quotes a strategy's name (``baseline`` is also a role's name, and
    roles are the run's vocabulary)."""
    import re

    from genclf.roles import ROLES

    names = set(STRATEGIES.names()) - set(ROLES)
    quoting = {}
    for package in ("run", "reporting"):
        for path in (SRC / package).rglob("*.py"):
            quoted = set(re.findall(r"[\"']([a-z_0-9]+)[\"']", path.read_text())) & names
            if quoted:
                quoting[str(path.relative_to(SRC))] = sorted(quoted)
    assert not quoting
