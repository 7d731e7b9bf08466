"""Paired statistics on known inputs, and the HTML report as a reader gets it."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from genclf.reporting.stats import bootstrap_ci, paired_comparison, t_interval


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
    assert same.verdict().startswith("no significant difference")
    assert paired_comparison({0: 0.5}, {1: 0.5}, "x", "y", "m") is None


def test_noisy_small_difference_is_not_significant():
    cmp = paired_comparison({0: 0.90, 1: 0.80, 2: 0.95}, {0: 0.85, 1: 0.88, 2: 0.86}, "x", "y", "macro_f1")
    assert cmp.p_ttest > 0.05 and "no significant difference" in cmp.verdict()


def test_bootstrap_ci_and_t_interval():
    low, high = bootstrap_ci(np.array([1.0, 1.0, 1.0]))
    assert low == high == 1.0
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
    assert {"verdicts", "results", "figures"} <= parsed.ids
    assert re.search(r"class='headline'>(Yes|No)", html)
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
    import genclf.strategies.classical as classical

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
    }
    text = headline([comparison], {"semi_supervised_gan": "generative", "baseline": "baseline"}, "baseline", "macro_f1")
    assert text.startswith("Untested") and "+5.0 macro_f1 points" in text
