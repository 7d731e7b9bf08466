"""Paired statistics on known inputs, and the HTML report as a reader gets it."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from genclf.reporting.stats import paired_comparison, t_interval


def test_paired_comparison_matches_scipy_on_known_values():
    a = {0: 0.90, 1: 0.92, 2: 0.91, 3: 0.93}
    b = {0: 0.85, 1: 0.88, 2: 0.86, 3: 0.87}
    cmp = paired_comparison(a, b, "gen", "base", "macro_f1")
    diffs = np.array([0.05, 0.04, 0.05, 0.06])
    assert cmp.mean_diff == pytest.approx(diffs.mean())
    t = diffs.mean() / (diffs.std(ddof=1) / 2)
    from scipy import stats

    assert cmp.p_ttest == pytest.approx(2 * stats.t.sf(t, 3))
    assert cmp.ci_low <= cmp.mean_diff <= cmp.ci_high
    assert cmp.verdict().startswith("significant gain: +5.0")


def test_identical_results_are_no_difference_and_unpaired_seeds_are_ignored():
    same = paired_comparison({0: 0.5, 1: 0.6}, {0: 0.5, 1: 0.6, 7: 0.9}, "x", "y", "macro_f1")
    assert same.n == 2 and same.mean_diff == 0 and same.p_ttest == 1.0
    assert same.kind == "identical" and same.verdict().startswith("identical to y on every seed")
    assert paired_comparison({0: 0.5}, {1: 0.5}, "x", "y", "m") is None


def test_noisy_small_difference_is_not_significant():
    cmp = paired_comparison({0: 0.90, 1: 0.80, 2: 0.95}, {0: 0.85, 1: 0.88, 2: 0.86}, "x", "y", "macro_f1")
    assert cmp.p_ttest > 0.05 and "no significant difference" in cmp.verdict()


def test_the_interval_is_the_t_tests_own():
    """The 95% interval beside the paired t-test's p excludes 0 exactly when p < 0.05 (same test)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        base = rng.uniform(0.5, 0.9, 4)
        values = base + rng.normal(0.01, 0.02, 4)
        cmp = paired_comparison(dict(enumerate(values)), dict(enumerate(base)), "s", "b", "m")
        assert (cmp.ci_low > 0 or cmp.ci_high < 0) == (cmp.p_ttest < 0.05)
    single = paired_comparison({0: 0.7}, {0: 0.5}, "s", "b", "m")
    assert single.ci_low is None and single.ci_high is None  # one seed: no interval, not [d, d]
    assert t_interval(np.array([1.0])) == 0.0
    assert t_interval(np.array([1.0, 2.0, 3.0])) == pytest.approx(4.303 * 1.0 / np.sqrt(3), rel=1e-3)


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.ids, self.rows, self.title = [], set(), [], ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "tr" and "data-strategy" in attrs:
            self.rows.append(attrs["data-strategy"])
        self._in_title = tag == "title"

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def test_run_report_has_verdicts_every_strategy_and_every_figure(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: [5, 10]}\n"
        "train: {epochs: 2, batch_size: 32, precision: fp32}\n"
        "generator_train: {epochs: 2, batch_size: 32, precision: fp32}\n"
        "strategies:\n"
        "  - {name: baseline}\n"
        "  - {name: classic_augmentation}\n"
        "  - {name: synthetic_augmentation, params: {generator: cvae}}\n"
        "seeds: [0, 1]\n"
    )
    out = tmp_path / "run"
    result = cli("run", config, "--out", out, "--quiet")
    assert result.code == 0, result.err
    html = (out / "report.html").read_text()
    parsed = _Collector()
    parsed.feed(html)
    assert parsed.title == "genclf report: digits"
    assert {"verdicts", "results", "figures", "generators"} <= parsed.ids
    # a cvae trained for 2 epochs fails its quality check: its strategy gets no verdict either way
    assert re.search(r"class='headline'>(Yes|No|Inconclusive)", html)
    for name in ("baseline", "classic_augmentation", "synthetic_augmentation"):
        assert parsed.rows.count(name) >= 2, name  # one results row per budget (and verdict rows)
    summary_figures = pd.read_json(out / "summary.json", typ="series")["figures"]
    assert len(parsed.images) == len(summary_figures) >= 6
    assert any("budget_curves" in f for f in summary_figures) and any("samples_cvae" in f for f in summary_figures)
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 2 * 2 * 3 and set(results["k_per_class"]) == {5, 10}


def test_run_resumes_without_redoing_finished_cells(cli, tmp_path, monkeypatch):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 5}\ntrain: {epochs: 1, batch_size: 32, precision: fp32}\nstrategies: [{name: baseline}, {name: class_weights}]\nseeds: [0, 1]\n"
    )
    out = tmp_path / "run"
    import genclf.strategies.classifier as classical

    real_fit = classical.ClassifierStrategy.fit
    calls = []

    def fit_then_die_on_third(self, split, context):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_fit(self, split, context)

    monkeypatch.setattr(classical.ClassifierStrategy, "fit", fit_then_die_on_third)
    assert cli("run", config, "--out", out, "--quiet").code == 130
    assert len(pd.read_csv(out / "results.csv")) == 2
    monkeypatch.setattr(
        classical.ClassifierStrategy,
        "fit",
        lambda self, split, context: calls.append(1) or real_fit(self, split, context),
    )
    calls.clear()
    assert cli("run", config, "--out", out, "--quiet").code == 0
    assert len(calls) == 2  # only the two unfinished cells ran
    assert len(pd.read_csv(out / "results.csv")) == 4


@pytest.mark.parametrize(
    ("yaml_text", "fragment"),
    [
        ("strategies: [{name: magic}]\n", "unknown strategy 'magic'"),
        ("strategies: [{name: synthetic_augmentation, params: {ratio: -0.5}}]\n", "params.ratio"),
        ("data: {k_per_class: 5000}\n", "k_per_class"),
        ("data: {imbalance: {classes: [42], ratio: 0.1}}\n", "imbalance.classes"),
        ("evaluation: {robustness: true, corruptions: [fog]}\n", "evaluation.corruptions"),
        ("evaluation: {robustness: true, severities: [1, 6]}\n", "evaluation.severities"),
    ],
)
def test_bad_run_configs_are_one_line_errors(cli, tmp_path, yaml_text, fragment):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    result = cli("run", config, "--out", tmp_path / "o", "--quiet")
    assert result.code == 2 and fragment in result.err and len(result.err.strip().splitlines()) == 1


def test_headline_with_one_seed_says_it_cannot_tell():
    from genclf.reporting.summary import headline

    comparison = {
        "strategy": "semi_supervised_gan",
        "reference": "baseline",
        "mean_diff": 0.05,
        "p_ttest": None,
        "n": 1,
        "kind": "untested",
        "verdict": "untested (one seed)",
    }
    text = headline([comparison], {"semi_supervised_gan": "generative", "baseline": "baseline"}, "baseline", "macro_f1")
    assert text.startswith("Untested") and "+5.0 macro_f1 points" in text


def test_a_constant_gain_on_every_seed_is_significant_with_the_t_tests_limiting_p():
    from scipy import stats

    reference = {0: 0.80, 1: 0.70, 2: 0.90}
    exact = paired_comparison({s: v + 0.05 for s, v in reference.items()}, reference, "gen", "base", "macro_f1")
    assert exact.kind == "constant" and exact.p_ttest == 0.0 and exact.mean_diff == pytest.approx(0.05)
    assert exact.verdict().startswith("significant gain: +5.0") and "zero spread" in exact.verdict()
    # A spread in the last bits is the same result, not p ~ 1e-30 on one side and n/a on the other.
    jitter = {0: 0.85, 1: 0.75 + 1e-15, 2: 0.95 - 1e-15}
    assert paired_comparison(jitter, reference, "gen", "base", "macro_f1").kind == "constant"
    # As the spread shrinks, scipy's paired t-test p tends to the 0 reported for zero spread.
    shrinking = [
        stats.ttest_rel([v + 0.05 + e * s for s, v in reference.items()], list(reference.values())).pvalue
        for e in (1e-2, 1e-4, 1e-6)
    ]
    assert shrinking[0] > shrinking[1] > shrinking[2] and shrinking[2] < 1e-8
    # Equal within 1e-9 on every seed is "identical", p = 1.
    same = paired_comparison({s: v + 1e-12 for s, v in reference.items()}, reference, "x", "base", "macro_f1")
    assert same.kind == "identical" and same.p_ttest == 1.0 and "changed nothing" in same.verdict()


def test_holm_adjustment_matches_the_step_down_definition_on_known_values():
    from genclf.reporting.stats import holm

    # Holm (1979): sorted p (0.01, 0.02, 0.03, 0.04) x (4, 3, 2, 1) -> 0.04, 0.06, 0.06 (monotone), 0.06
    assert holm([0.03, 0.01, None, 0.04, 0.02]) == pytest.approx([0.06, 0.04, None, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and holm([]) == []


def test_holm_turns_a_lone_raw_win_among_many_into_no_significance():
    from genclf.config import RunConfig
    from genclf.reporting.summary import summarize

    rng = np.random.default_rng(1)
    rows = []
    for seed in range(4):
        base = 0.7 + 0.01 * rng.standard_normal()
        rows.append({"strategy": "baseline", "role": "baseline", "k_per_class": 10, "seed": seed, "macro_f1": base})
        for i in range(10):  # ten generative strategies; one of them with a small, noisy gain
            gain = 0.03 if i == 0 else 0.0
            value = base + gain + 0.012 * rng.standard_normal()
            rows.append({"strategy": f"g{i}", "role": "generative", "k_per_class": 10, "seed": seed, "macro_f1": value})
    block = summarize(pd.DataFrame(rows), RunConfig(seeds=[0, 1, 2, 3]))["budgets_detail"]["10"]
    raw = {c["strategy"]: c for c in block["comparisons"]}
    assert all(c["p_holm"] >= c["p_ttest"] for c in raw.values())
    assert "Holm-adjusted over the 10 strategies" in block["headline"]
    significant_raw = [c for c in raw.values() if c["p_ttest"] < 0.05]
    significant_holm = [c for c in raw.values() if c["verdict"].startswith("significant")]
    assert len(significant_holm) <= len(significant_raw)


def test_wilcoxon_is_reported_only_where_it_can_reach_significance():
    base = {s: 0.5 + 0.01 * s for s in range(6)}
    gen = {s: v + 0.02 + 0.001 * s for s, v in base.items()}
    assert paired_comparison(dict(list(gen.items())[:5]), base, "g", "b", "m").p_wilcoxon is None
    six = paired_comparison(gen, base, "g", "b", "m")
    assert six.p_wilcoxon == pytest.approx(0.03125)


def test_a_one_seed_grid_says_untested_in_every_row(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 5}\ntrain: {epochs: 1, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}, {name: classic_augmentation}, {name: baseline, classifier: crnn}]\nseeds: [0]\n"
    )
    assert cli("run", config, "--out", tmp_path / "run", "--quiet").code == 0
    summary = pd.read_json(tmp_path / "run" / "summary.json", typ="series")
    comparisons = summary["budgets_detail"]["5"]["comparisons"]
    assert comparisons and all(c["verdict"] == "untested (one seed)" for c in comparisons)
    assert "<td class='none'>no significant difference</td>" not in (tmp_path / "run" / "report.html").read_text()
    assert "<td class='none'>untested (one seed)</td>" in (tmp_path / "run" / "report.html").read_text()


def test_a_resumed_run_with_a_changed_epoch_count_does_not_reuse_cells(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {spec: digits, k_per_class: 5}\ntrain: {epochs: 1, batch_size: 32, precision: fp32}\n"
        "strategies: [{name: baseline}]\nseeds: [0]\n"
    )
    out = tmp_path / "run"
    assert cli("run", config, "--out", out, "--quiet").code == 0
    before = {p: p.read_bytes() for p in (out / "results.csv", out / "config.yaml")}
    changed = cli("run", config, "--out", out, "--epochs", "2", "--quiet")
    assert changed.code == 2 and "train.epochs: 1 -> 2" in changed.err and len(changed.err.splitlines()) == 1
    assert {p: p.read_bytes() for p in before} == before  # nothing rewritten: config.yaml still says 1 epoch
    # Adding a seed keeps the finished cell (same hash) and runs only the new one.
    more = cli("run", config, "--out", out, "--seeds", "0", "1", "--quiet")
    assert more.code == 0, more.err
    results = pd.read_csv(out / "results.csv")
    assert list(results["seed"]) == [0, 1] and results["config_hash"].str.startswith("h").all()


def test_train_resume_refuses_a_changed_config(cli, tmp_path):
    out = tmp_path / "train"
    assert cli("train", "--epochs", "1", "--batch-size", "64", "--out", out, "--quiet").code == 0
    result = cli("train", "--epochs", "3", "--batch-size", "64", "--out", out, "--resume", "--quiet")
    assert result.code == 2 and "train.epochs: 1 -> 3" in result.err


def test_a_chance_level_strategy_and_unequal_budgets_are_warned_about():
    from genclf.reporting.advice import run_warnings

    block = pd.DataFrame(
        {
            "strategy": ["baseline", "baseline", "finetune", "finetune"],
            "seed": [0, 1, 0, 1],
            "acsa": [0.12, 0.80, 0.90, 0.92],
            "n_classes": [10, 10, 10, 10],
        }
    )
    budgets = {"baseline": {"epochs": 30.0, "steps": 90.0}, "finetune": {"epochs": 6.0, "steps": 18.0}}
    warnings = run_warnings(block, budgets, "baseline")
    assert any(w.startswith("the baseline is at chance level on seed(s) 0") for w in warnings)
    assert not any("finetune is at chance" in w for w in warnings)
    assert any("differ by more than 2x (epochs: baseline 30, finetune 6)" in w for w in warnings)
    fair = {"baseline": {"epochs": 30.0, "steps": 90.0}, "finetune": {"epochs": 20.0, "steps": 60.0}}
    assert not any("differ" in w for w in run_warnings(block, fair, "baseline"))


def test_a_grid_of_two_classifiers_pairs_each_row_with_its_own_classifiers_references():
    """The grey-camera shape: a crnn entry and a cnn entry, each with its baseline (grey), classical
    (grey_trained) and generative (colorized) rows. A cnn row is never paired with the crnn baseline."""
    from genclf.config import RunConfig
    from genclf.reporting.summary import summarize

    rows = []
    level = {"crnn": 0.5, "cnn": 0.8}  # the classifiers differ far more than any strategy does
    gain = {"grey": 0.0, "grey_trained": 0.02, "colorized": 0.05}
    role = {"grey": "baseline", "grey_trained": "classical", "colorized": "generative"}
    for seed in range(4):
        for clf in ("crnn", "cnn"):
            for view in ("grey", "grey_trained", "colorized"):
                value = level[clf] + gain[view] + 0.002 * ((seed * 7 + len(view)) % 3)
                name = f"ctc[{clf}]/{view}"
                rows.append(
                    {
                        "strategy": name,
                        "role": role[view],
                        "classifier": clf,
                        "k_per_class": 10,
                        "seed": seed,
                        "macro_f1": value,
                    }  # fmt: skip
                )
    block = summarize(pd.DataFrame(rows), RunConfig(seeds=[0, 1, 2, 3]))["budgets_detail"]["10"]
    pairs = {(c["strategy"], c["reference"]) for c in block["comparisons"]}
    for clf in ("crnn", "cnn"):
        for view in ("grey_trained", "colorized"):
            assert (f"ctc[{clf}]/{view}", f"ctc[{clf}]/grey") in pairs
        assert (f"ctc[{clf}]/colorized", f"ctc[{clf}]/grey_trained") in pairs
    assert all(c["strategy"].split("/")[0] == c["reference"].split("/")[0] for c in block["comparisons"])
    assert block["best_classical_by_classifier"] == {"crnn": "ctc[crnn]/grey_trained", "cnn": "ctc[cnn]/grey_trained"}
    assert all(abs(c["mean_diff"]) < 0.1 for c in block["comparisons"])  # no classifier gap inside a difference
    assert block["headline"].startswith("Yes:") and "of its classifier" in block["headline"]
    assert block["recommended"] == "ctc[cnn]/colorized"


def test_the_generator_table_orders_budgets_by_labels_per_class_not_as_text():
    from genclf.reporting.summary import generator_summary

    rows = [
        {"k_per_class": k, "generator": g, "seed": 0, "cas": 0.5, "status": "ok"}
        for k, g in [(10, "cvae"), (100, "cvae"), (25, "cvae"), (None, "cvae"), (10, "cgan")]
    ]
    summary = generator_summary(pd.DataFrame(rows))
    assert [(r["budget"], r["generator"]) for r in summary] == [
        ("10", "cvae"),
        ("10", "cgan"),
        ("25", "cvae"),
        ("100", "cvae"),
        ("all", "cvae"),
    ]


def test_sample_grids_are_shown_in_numeric_budget_order():
    from pathlib import Path

    from genclf.reporting.report import _budget_order

    captions = [
        "generated samples: cvae, k100_seed0",
        "generated samples: cvae, k10_seed0",
        "generated samples: cvae, k25_seed0",
    ]
    ordered = sorted(((Path("x.png"), c) for c in captions), key=_budget_order)
    assert [c.rsplit(", ", 1)[1] for _, c in ordered] == ["k10_seed0", "k25_seed0", "k100_seed0"]
