"""The weights of a run's progress ETA: each grid job's expected cost, from the run plan's seconds when
there is one, else from the strategies' declared costs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from genclf.config import RunConfig
from genclf.run.plan import relative_cost

if TYPE_CHECKING:
    from genclf.run.plan import Plan


def job_weights(config: RunConfig, jobs: list, splits: dict, plan: Plan | None = None) -> dict[int, float]:
    """The expected cost of each grid job (by index), for a progress ETA: the plan's seconds when there is a
    plan, else ``relative_cost`` units. Each (budget, seed)'s generator cost (the plan's, else a rough two
    baseline epochs per generator epoch plus its check's two classifiers) is shared by that pair's jobs that
    draw generated images, which run first."""
    from genclf.strategies import STRATEGIES
    from genclf.strategies.base import strategy_class

    planned = dict(plan.cells) if _has_cells(plan) else None
    weights, drawing, colorizing = {}, {}, {}
    for job in jobs:
        split = splits[(job.budget, job.seed)]
        weights[job.index] = planned.get(job.entry.display_name, 0.0) if planned else relative_cost(job.entry, split)
        if strategy_class(job.entry).draws_generators:
            drawing.setdefault((job.budget, job.seed), []).append(job.index)
        if STRATEGIES.get(job.entry.name).colorizer_of(job.entry) is not None:
            colorizing.setdefault((job.budget, job.seed), []).append(job.index)
    if planned:
        generator, colorizer = plan.generator_seconds, plan.colorizer_seconds
    else:  # no colorizer timing without a plan: its cells weigh their classifiers only
        generator, colorizer = 2.0 + 2.0 * config.generator_train.epochs / max(1, config.train.epochs), 0.0
    for shared, groups in ((generator, drawing), (colorizer, colorizing)):
        for indices in groups.values():
            for index in indices:
                weights[index] += shared / len(indices)
    return weights


def _has_cells(plan: Plan | None) -> bool:
    return plan is not None and bool(plan.cells)


def eta_clock(config: RunConfig, jobs: list, splits: dict, workers: int, plan: Plan | None = None):
    """The run's progress clock over ``job_weights``; with a plan, whose weights are estimated seconds, the
    plan itself is a prior worth a quarter of the work."""
    from genclf.training.progress import WorkClock

    weights = job_weights(config, jobs, splits, plan)
    return WorkClock(weights, workers, prior=sum(weights.values()) / 4 if _has_cells(plan) else 0.0)
