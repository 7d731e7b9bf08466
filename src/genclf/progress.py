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
