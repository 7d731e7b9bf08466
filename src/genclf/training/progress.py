"""Progress for batch jobs: a tqdm bar draws nothing when stderr is a log file, so long work also writes
one line per unit of work (an epoch, a grid cell) there."""

from __future__ import annotations

import sys

from genclf.runtime import distributed


def log_line(text: str, quiet: bool = False) -> None:
    """``text`` on stderr, only when stderr is not a terminal (where the bar shows progress), not ``quiet``,
    and this is the main process."""
    if quiet or not distributed.is_main() or sys.stderr.isatty():
        return
    print(text, file=sys.stderr, flush=True)


def header(text: str, quiet: bool = False) -> None:
    """``text`` on stderr at the start of long work, on terminals too (unless ``quiet``; main process only)."""
    if quiet or not distributed.is_main():
        return
    print(text, file=sys.stderr, flush=True)


class WorkClock:
    """ETA of a grid whose cells differ in cost: the seconds the finished cells took per unit of their expected
    cost, times the expected cost still to run, spread over the workers still busy. A plain mean over cells
    would extrapolate the longest cells (generators, run first) to the whole grid.

    ``prior``: when the weights are estimated seconds (a run plan), the estimate counts as that many units of
    finished work at one second per unit, so the first cells (a generator and the cells that waited for it)
    move the ETA without overruling the plan."""

    def __init__(self, weights: dict, workers: int = 1, prior: float = 0.0):
        self.remaining, self.workers = dict(weights), max(1, workers)
        self.spent = self.done = prior

    def finish(self, key, seconds: float) -> str:
        """Record a finished unit and return its ``  ETA ~N min`` text ('' when nothing is left)."""
        self.done += self.remaining.pop(key, 0.0)
        self.spent += seconds
        if not self.remaining or self.done <= 0:
            return ""
        seconds = self.spent / self.done * sum(self.remaining.values()) / min(self.workers, len(self.remaining))
        return f"  ETA ~{seconds / 60:.1f} min" if seconds >= 60 else f"  ETA ~{seconds:.0f} s"
