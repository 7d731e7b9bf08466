"""Progress for batch jobs: a tqdm bar draws nothing when stderr is a log file, so long work also writes
one line per unit of work (an epoch, a grid cell) there."""

from __future__ import annotations

import sys

from genclf.training import distributed


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


def eta_text(started: float, done: int, remaining: int) -> str:
    """``ETA ~N min`` from the mean wall time of the ``done`` units so far."""
    import time

    if done <= 0 or remaining <= 0:
        return ""
    seconds = (time.perf_counter() - started) / done * remaining
    return f"  ETA ~{seconds / 60:.1f} min" if seconds >= 60 else f"  ETA ~{seconds:.0f} s"
