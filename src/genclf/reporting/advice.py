"""What a run advises and warns about, per budget: each strategy's training budget, the warnings that make a
comparison unfair or empty (a strategy at chance level, budgets that differ), and the recommendation (the
strategy to use, by the statistics the headline uses)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from genclf.roles import GENERATIVE

CHANCE_MARGIN = 0.1  # balanced accuracy within 10 % of the way from chance (1/K) to perfect: learned nothing
BUDGET_RATIO = 2.0  # classifier epochs that differ more than this between strategies are said


def budgets_of(block: pd.DataFrame) -> dict[str, dict[str, float]]:
    """{strategy: mean classifier epochs and optimizer steps} for the rows that record them."""
    if "epochs" not in block:
        return {}
    table = {}
    for name, group in block.groupby("strategy", sort=False):
        if group["epochs"].notna().any():
            table[str(name)] = {
                "epochs": float(group["epochs"].mean()),
                "steps": float(group["steps"].mean()) if "steps" in group else float("nan"),
            }
    return table


def run_warnings(block: pd.DataFrame, budgets: dict, baseline: str | None) -> list[str]:
    """What makes a comparison unfair or empty: a strategy whose balanced accuracy (ACSA) on some seed is at
    chance level (1/K, plus ``CHANCE_MARGIN`` of the way to 1), and classifier budgets (epochs) that differ
    by more than ``BUDGET_RATIO``."""
    out = []
    if {"acsa", "n_classes"} <= set(block.columns):
        trained = (
            block if "entry" not in block else block[block["entry"].isna() | (block["entry"] == block["strategy"])]
        )
        for name, group in trained.groupby("strategy", sort=False):  # a model's extra views (its classifier fed
            # grey frames, say) are findings about their input, not about its training budget
            chance = 1.0 / group["n_classes"].astype(float)
            at_chance = group.loc[group["acsa"] <= chance + CHANCE_MARGIN * (1 - chance), "seed"]
            if len(at_chance):
                who = "the baseline" if name == baseline else str(name)
                seeds = ", ".join(str(int(s)) for s in at_chance)
                out.append(
                    f"{who} is at chance level on seed(s) {seeds} (balanced accuracy near 1/K): it learned nothing "
                    "with its budget, so comparisons with it say little; give it more epochs"
                )
    trained = {n: b["epochs"] for n, b in budgets.items() if b["epochs"] > 0}
    if trained and max(trained.values()) > BUDGET_RATIO * min(trained.values()):
        listed = ", ".join(f"{n} {e:g}" for n, e in trained.items())
        out.append(f"classifier budgets differ by more than {BUDGET_RATIO:g}x (epochs: {listed})")
    return out


def models_of(block: pd.DataFrame) -> dict[str, str]:
    """{strategy: the folder of its saved models} for the strategies whose cells saved one."""
    if "model" not in block:
        return {}
    saved = {}
    for name, path in zip(block["strategy"], block["model"]):
        if isinstance(path, str) and path:
            saved.setdefault(str(name), str(Path(path).parent))
    return saved


def recommend(detail: dict, metric: str, models: dict[str, str]) -> dict:
    """The strategy to use, by the statistics the headline uses (Holm-adjusted paired tests): a generative
    strategy only when it significantly beats the best classical one (the largest such gain); else the
    best classical strategy when it significantly beats the baseline; else the baseline. A difference the
    tests cannot show is a tie, and a tie goes to the cheaper, simpler choice."""
    best = detail.get("best_classical")
    refs = detail.get("references", {})
    baseline = refs.get(best, {}).get("baseline", detail.get("baseline")) if best else detail.get("baseline")
    comparisons = detail.get("comparisons", [])

    def gain(c: dict, reference: str | None) -> bool:
        return c["reference"] == reference and c["verdict"] == "significant gain" and not c.get("inconclusive")

    def beats_its_best(c: dict) -> bool:
        return gain(c, c["reference"]) and c.get("against_best_classical", c["reference"] == best)

    generative = [c for c in comparisons if beats_its_best(c) and detail["roles"].get(c["strategy"]) == GENERATIVE]
    if generative:  # the best score among them (= the largest gain when they share one reference)
        chosen = max(generative, key=lambda c: detail["strategies"][c["strategy"]][metric]["mean"])["strategy"]
    elif best is not None and (
        best == baseline or any(gain(c, baseline) and c["strategy"] == best for c in comparisons)
    ):
        chosen = best
    else:
        chosen = baseline or best
    if chosen is None:
        return {"recommended": None, "recommendation": "No recommendation: the grid has no classical strategy."}
    score = detail["strategies"][chosen].get(metric, {})
    text = f"Use {chosen}: {metric} {score.get('mean', float('nan')):.3f} ± {score.get('std', 0.0):.3f}"
    text += f" over {score.get('n', 0)} seed(s)"
    text += f"; its models: {models[chosen]}/" if chosen in models else "; no model saved for it"
    return {"recommended": chosen, "recommendation": text + "."}
