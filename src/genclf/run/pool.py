"""The local executor: a run's cells in this process or in a pool of worker processes on this machine.

Each worker uses one intra-op thread: small models keep two cores far busier as two single-threaded
processes than as one two-threaded one. Workers are forked where the platform allows (they inherit the
loaded data and splits), else spawned (each builds its own runner).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import torch

from genclf.errors import ConfigError, TrainingError
from genclf.run.cells import CellJob, CellOutput, CellRunner
from genclf.runtime.precision import resolve_device

MAX_AUTO_WORKERS = 8


def resolve_workers(workers: int | str | None, todo: int, device: str, tracked: bool) -> int:
    """``auto``: one worker per CPU core (at most 8, at most one per cell to run) on CPU; one on a GPU (the
    ``auto`` device included where one is present: forked workers cannot use CUDA) or when a tracking
    backend records every epoch (it lives in this process)."""
    if workers is None or workers == "auto":
        on_accelerator = str(device).startswith(("cuda", "mps")) or (
            str(device) == "auto" and resolve_device("auto").type != "cpu"
        )
        if tracked or on_accelerator or todo <= 1:
            return 1
        return max(1, min(cpu_cores(), MAX_AUTO_WORKERS, todo))
    try:
        count = int(workers)
    except (TypeError, ValueError):
        count = 0
    if count < 1 or str(count) != str(workers).strip():
        raise ConfigError("--workers", f"expected a whole number >= 1 or 'auto', got {workers!r}")
    if count > 1 and tracked:
        raise ConfigError("--workers", "a tracking backend (--log-to) needs --workers 1: it records from this process")
    if count > cpu_cores():
        import warnings

        warnings.warn(
            f"--workers {count} on {cpu_cores()} CPU core(s): using {cpu_cores()} (more processes than cores only "
            "compete for them)",
            stacklevel=2,
        )
        count = cpu_cores()
    return count


def cpu_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_RUNNER: CellRunner | None = None


def start_method() -> str:
    """``fork`` on Linux (workers inherit the loaded data and splits; each sets one thread before any
    work, so the parent's thread pool is never used after the fork), ``spawn`` elsewhere and once this
    process has initialised CUDA (a forked child cannot use it)."""
    forkable = sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()
    return "fork" if forkable and not torch.cuda.is_initialized() else "spawn"


def _start_worker(runner: CellRunner | None, make: Callable[[], CellRunner] | None) -> None:
    global _RUNNER
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy's and scipy's BLAS too: two workers on two cores, not four threads
    _RUNNER = runner if runner is not None else make()


def _work(job: CellJob) -> CellOutput:
    assert _RUNNER is not None
    return _RUNNER.run(job)


def run_cells(
    runner: CellRunner, jobs: Iterable[CellJob], workers: int, make: Callable[[], CellRunner]
) -> Iterable[CellOutput]:
    """Each job's output as it finishes: in order in this process (``workers == 1``), or from a pool of
    ``workers`` processes, forked where the platform allows (they inherit the loaded data), else spawned
    (each builds its own runner with ``make``, a picklable callable)."""
    jobs = list(jobs)
    if workers <= 1:
        for job in jobs:
            yield runner.run(job)
        return
    method = start_method()
    context = multiprocessing.get_context(method)
    initargs = (runner, None) if method == "fork" else (None, make)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=initargs) as pool:
        futures = [pool.submit(_work, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool as exc:  # a worker was killed (e.g. out of memory): not a bug in the data
            raise TrainingError(
                "--workers",
                f"a worker process died ({exc}); the finished cells are saved: resume the same command with "
                "fewer workers (--workers 1 uses the least memory)",
            ) from None
        finally:
            for future in futures:
                future.cancel()
