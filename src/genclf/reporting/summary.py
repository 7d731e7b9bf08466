"""From results.csv's rows to summary.json: mean/std/CI per strategy and budget, paired comparisons
against baseline and the best classical strategy, and the one-sentence headlines.

Every choice here (which row is the baseline, which are classical competitors, which are candidates,
which are upper bounds) reads the ``role`` column that each strategy declares where it is registered."""

from __future__ import annotations

import pandas as pd

from genclf.config import RunConfig, to_dict
from genclf.reporting.advice import budgets_of, models_of, recommend, run_warnings
from genclf.reporting.record import budget_key, budget_of
from genclf.reporting.stats import Comparison, apply_holm, paired_comparison, t_interval
from genclf.roles import BASELINE, CLASSICAL_ROLES, GENERATIVE, REFERENCE

METRICS = (
    "accuracy",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "weighted_f1",
    "acsa",
    "gmean",
    "roc_auc_ovr",
    "log_loss",
    "ece",
    "ece_scaled",
    "corruption_accuracy",
    "mce",
    "recovered_share",
    "psnr",
    "ssim",
    "psnr_grey_baseline",
    "ssim_grey_baseline",
    "train_seconds",
)
ATTACK_PREFIXES = ("fgsm_acc@", "pgd_acc@")


def metric_columns(results: pd.DataFrame) -> list[str]:
    """The summarised columns present in ``results``: METRICS, then the adversarial ones."""
    attacks = [c for c in results.columns if c.startswith(ATTACK_PREFIXES)]
    return [m for m in METRICS if m in results.columns] + attacks


def roles_of(block: pd.DataFrame) -> dict[str, str]:
    """{strategy row name: role}."""
    return dict(zip(block["strategy"], block["role"]))


def baseline_of(names, roles: dict[str, str]) -> str | None:
    """The first strategy whose role is 'baseline' (the do-nothing option), if any."""
    return next((n for n in names if roles.get(n) == BASELINE), None)


def _per_seed(group: pd.DataFrame, metric: str) -> dict[int, float]:
    return {int(s): float(v) for s, v in zip(group["seed"], group[metric]) if not pd.isna(v)}


GENERATOR_COLUMNS = (
    "cas",
    "real_macro_f1",
    "chance_macro_f1",
    "cas_ratio",
    "fid",
    "fid_floor",
    "kid",
    "fid_imagenet",
    "fid_imagenet_floor",
    "fid_inception",
    "fid_inception_floor",
    "precision",
    "recall",
    "coverage",
    "min_diversity",
    "train_seconds",
    "generator_images",
    "pseudo_labeled",
    "pseudo_label_accuracy",
)


def generator_summary(generators: pd.DataFrame | None) -> list[dict]:
    """Per (budget, generator): the mean of each quality column over seeds, how many seeds failed, and each
    seed's CAS and pass/fail (a mean hides which seed passed)."""
    if generators is None or generators.empty:
        return []
    table = generators.assign(budget=[budget_of(k) for k in generators["k_per_class"]])
    # budgets in increasing labels per class (all labeled images last), generators in the order they ran
    size = pd.to_numeric(table["k_per_class"], errors="coerce").fillna(float("inf"))
    table = table.iloc[size.argsort(kind="stable")]
    rows = []
    for (budget, name), group in table.groupby(["budget", "generator"], sort=False):
        failed = [s for s in group["status"].astype(str) if s.startswith("failed")]
        rows.append(
            {
                "budget": budget,
                "generator": name,
                "seeds": len(group),
                **{c: float(group[c].mean()) for c in GENERATOR_COLUMNS if c in group and group[c].notna().any()},
                "failed_seeds": len(failed),
                "status": failed[0] if failed else "ok",
                "per_seed": [
                    {
                        "seed": int(r["seed"]),
                        "cas": float(r["cas"]),
                        "passed": not str(r["status"]).startswith("failed"),
                    }
                    for r in group.to_dict("records")
                    if "cas" in r and pd.notna(r["cas"])
                ],
            }
        )
    return rows


def failed_generators(generators: pd.DataFrame | None, budget: str) -> dict[str, str]:
    """{generator key: why it failed its quality check} for one budget (the first failing seed)."""
    if generators is None or generators.empty:
        return {}
    failed = {}
    for row in generators.to_dict("records"):
        if budget_of(row["k_per_class"]) == budget and str(row["status"]).startswith("failed"):
            failed.setdefault(row["generator"], f"{row['status'].removeprefix('failed: ')} (seed {int(row['seed'])})")
    return failed


def summarize(results: pd.DataFrame, config: RunConfig, generators: pd.DataFrame | None = None) -> dict:
    """Mean/std/CI per strategy and budget, and paired comparisons against baseline and the best classical
    strategy; strategies relying on a generator that failed its quality check get no verdict."""
    metric = config.primary_metric
    detail: dict[str, dict] = {}
    results = results.assign(budget=[budget_of(k) for k in results["k_per_class"]])
    for budget, block in results.groupby("budget", sort=False):
        strategies: dict[str, dict] = {}
        for name, group in block.groupby("strategy", sort=False):
            entry = {}
            for m in metric_columns(results):
                if m in group and group[m].notna().any():
                    values = group[m].dropna().to_numpy(float)
                    entry[m] = {
                        "mean": float(values.mean()),
                        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                        "ci95": t_interval(values),
                        "n": len(values),
                    }
            strategies[str(name)] = entry
        roles = roles_of(block)
        failed = failed_generators(generators, budget)
        gated = _gated(block, failed)
        detail[budget] = {
            "strategies": strategies,
            "roles": {n: roles[n] for n in strategies},
            "baseline": baseline_of(strategies, roles),
            "failed_generators": failed,
            **_compare(block, strategies, roles, metric, gated),
        }
        detail[budget].update(recommend(detail[budget], metric, models_of(block)))
        detail[budget]["budgets"] = budgets_of(block)
        detail[budget]["warnings"] = run_warnings(block, detail[budget]["budgets"], detail[budget]["baseline"])
        if any("corruption_accuracy" in e for e in strategies.values()):
            robust = _compare(block, strategies, roles, "corruption_accuracy", gated)
            robust["headline"] = "Robustness: " + robust["headline"]
            detail[budget]["robustness"] = robust
    return {
        "generators": generator_summary(generators),
        "primary_metric": metric,
        "seeds": list(config.seeds),
        "budgets": [budget_key(k) for k in config.data.budgets()],
        "budgets_detail": detail,
        "config": to_dict(config),
        "generator_note": "Generators are trained once per (budget, seed) and shared by the strategies of that cell. "
        "A strategy's train_seconds includes the full training time of every generator it used (generator_seconds), "
        "counted again for each strategy that shares it: the cost of choosing that strategy alone.",
    }


def _gated(block: pd.DataFrame, failed: dict[str, str]) -> dict[str, str]:
    """{strategy: why it is inconclusive} for the strategies that used a generator that failed its check."""
    if not failed or "generators" not in block:
        return {}
    gated = {}
    for name, used in zip(block["strategy"], block["generators"]):
        bad = [g for g in (used.split() if isinstance(used, str) else []) if g in failed]
        if bad:
            gated[str(name)] = f"generator {bad[0]} failed its quality check ({failed[bad[0]]})"
    return gated


def _compare(
    block: pd.DataFrame, strategies: dict, roles: dict[str, str], metric: str, gated: dict[str, str] | None = None
) -> dict:
    """Paired comparisons of every strategy with the baseline and with the best classical strategy on ``metric``;
    in a grid that mixes classifiers, with those of its own classifier (a crnn row is never paired with a cnn
    baseline: the difference would be the classifier's, not the strategy's)."""
    groups = _groups(block, strategies, roles, metric)
    refs = references(block, strategies, groups)
    classical = [n for n in strategies if roles[n] in CLASSICAL_ROLES and metric in strategies[n]]
    best_classical = max(classical, key=lambda n: strategies[n][metric]["mean"]) if classical else None
    comparisons: list[Comparison] = []
    candidates = []
    for name, group in block.groupby("strategy", sort=False):
        if roles.get(name) == REFERENCE:  # an upper bound shown for context, not a candidate
            continue
        candidates.append(str(name))
        for reference in dict.fromkeys(refs.get(str(name), (None, None))):
            if reference is None or reference == name:
                continue
            ref_group = block[block["strategy"] == reference]
            cmp = paired_comparison(
                _per_seed(group, metric), _per_seed(ref_group, metric), str(name), str(reference), metric
            )
            if cmp is not None:
                comparisons.append(cmp)
    apply_holm(comparisons)
    for comparison in comparisons:
        comparison.inconclusive = (gated or {}).get(comparison.strategy)
    verdicts = {
        name: [c.verdict() for c in comparisons if c.strategy == name] or ["reference strategy"]
        for name in map(str, block["strategy"].drop_duplicates())
    }
    for name in verdicts:
        if roles.get(name) == REFERENCE:
            verdicts[name] = ["reference (upper bound), not compared"]
    rows = [{**c.to_dict(), "against_best_classical": c.reference == refs[c.strategy][1]} for c in comparisons]
    by_classifier = {clf: best for clf, (_, best) in groups.items()}
    return {
        "best_classical": best_classical,
        "references": {name: {"baseline": b, "best_classical": c} for name, (b, c) in refs.items()},
        "best_classical_by_classifier": by_classifier if len(by_classifier) > 1 else {},
        "comparisons": rows,
        "verdicts": verdicts,
        "headline": headline(rows, roles, best_classical, metric),
    }


def classifier_of(block: pd.DataFrame) -> dict[str, str]:
    """{strategy row name: the classifier its entry trains} (one classifier for all when not recorded)."""
    if "classifier" not in block:
        return {str(n): "" for n in block["strategy"]}
    return {str(n): str(c) for n, c in zip(block["strategy"], block["classifier"].fillna(""))}


def _groups(block: pd.DataFrame, strategies: dict, roles: dict[str, str], metric: str) -> dict[str, tuple]:
    """{classifier: (its baseline, its best classical strategy)} over the rows of each classifier."""
    of = classifier_of(block)
    groups: dict[str, tuple] = {}
    for clf in dict.fromkeys(of.values()):
        names = [n for n in strategies if of.get(n) == clf]
        classical = [n for n in names if roles[n] in CLASSICAL_ROLES and metric in strategies[n]]
        best = max(classical, key=lambda n: strategies[n][metric]["mean"]) if classical else None
        groups[clf] = (baseline_of(names, roles), best)
    return groups


def references(block: pd.DataFrame, strategies: dict, groups: dict[str, tuple]) -> dict[str, tuple]:
    """{strategy: (the baseline, the best classical strategy) it is compared with}: the grid's own when it
    trains one classifier, else those of the strategy's classifier (``groups``: ``_groups``'s)."""
    of = classifier_of(block)
    return {name: groups[of[name]] for name in strategies if name in of}


def headline(comparisons: list[dict], roles: dict[str, str], best_classical: str | None, metric: str) -> str:
    """The answer to "does generation help here?" for one budget, in one sentence: only rows whose role is
    'generative' are candidates."""
    if best_classical is None:
        return "No classical strategy in the grid: add 'baseline' to compare against."
    candidates = [
        c
        for c in comparisons
        if c.get("against_best_classical", c["reference"] == best_classical) and roles.get(c["strategy"]) == GENERATIVE
    ]
    if not candidates:
        return f"No generative strategy in the grid; the best classical strategy is {best_classical}."
    against = [c for c in candidates if not c.get("inconclusive")]
    gated = [c for c in candidates if c.get("inconclusive")]
    note = ""
    if gated:
        reasons = "; ".join(dict.fromkeys(c["inconclusive"] for c in gated))
        note = f" Inconclusive for {', '.join(c['strategy'] for c in gated)}: {reasons}."
    if not against:
        return (
            f"Inconclusive: every generative strategy relies on a generator that failed its quality check ({reasons}); "
            "generation cannot be judged here until the generators work."
        )
    best = max(against, key=lambda c: c["mean_diff"])
    p = _p_text(best)
    gains = [c for c in against if c["verdict"] == "significant gain"]
    if best["n"] < 2:
        return (
            f"Untested: one seed cannot show significance; the best generative strategy, {best['strategy']}, is at "
            f"{100 * best['mean_diff']:+.1f} {metric} points against the best classical strategy ({best['reference']}). "
            "Run more seeds for a verdict."
        )
    mixed = len({c["reference"] for c in candidates}) > 1  # a grid of several classifiers: each has its own
    of_its = " of its classifier" if mixed else ""

    def family(c: dict) -> str:
        size = sum(1 for o in comparisons if o["reference"] == c["reference"] and o["kind"] in ("tested", "constant"))
        return f"Holm-adjusted over the {size} strategies compared with {c['reference']}"

    if gains:
        names = ", ".join(c["strategy"] for c in gains)
        top = max(gains, key=lambda c: c["mean_diff"])
        return (
            f"Yes: {names} significantly beat{'s' if len(gains) == 1 else ''} the best classical strategy{of_its} "
            f"({', '.join(dict.fromkeys(c['reference'] for c in gains))}); the largest gain is {top['strategy']} at "
            f"{100 * top['mean_diff']:+.1f} {metric} points ({_p_text(top)}, {family(top)}).{note}"
        )
    judged = " among the generative strategies whose generators passed their check" if gated else ""
    return (
        f"No: no generative strategy{judged} is significantly better than the best classical strategy{of_its} "
        f"({', '.join(dict.fromkeys(c['reference'] for c in against))}) over {best['n']} seeds; the closest is "
        f"{best['strategy']} at {100 * best['mean_diff']:+.1f} {metric} points ({p}, {family(best)}).{note}"
    )


def _p_text(comparison: dict) -> str:
    if comparison["kind"] == "constant":
        return "the same gain on every seed, p -> 0" if comparison["mean_diff"] > 0 else "the same loss on every seed"
    p = comparison.get("p_holm") if comparison.get("p_holm") is not None else comparison.get("p_ttest")
    return "p = n/a" if p is None else f"p = {p:.3g}"
