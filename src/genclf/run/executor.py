"""Where a run's cells are fitted: this machine's worker pool (``local``, the default) or a Ray cluster (``ray``).

Both hand the run the same ``CellOutput`` per cell, and the run (this process) stays the only writer of the
run folder: results.csv in grid order, resume by config hash, the same verdicts.

On Ray (``pip install 'genclf[ray]'``) every cell is a task. No shared file system is needed:

- a cell runs in a scratch folder on its node and sends back every file it wrote (cell detail, history,
  saved classifier, sample grids, the generators it trained) with its rows; the driver writes them;
- the shared generators flow through a store actor: the first cell that needs one (per budget, seed and
  generator config) trains it while any other cell that needs it waits, then receives its weights
  (safetensors bytes, through Ray's object store) instead of training it again, so a generator is
  trained once however many nodes run its cells. A resumed run seeds the store with the generators the
  folder already holds.

Ray retries a task whose worker or node is lost (``max_retries``); a cell that fails for its own reasons
stops the run as it does locally, with every finished cell saved for a resume (here or on Ray).
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from genclf.catalogue import EXECUTORS
from genclf.errors import ConfigError
from genclf.files import atomic_write

TASK_RETRIES = 3  # a lost worker or node: the cell is run again elsewhere


def check_executor(name: str, address: str | None, cpus_per_cell: float, gpus_per_cell: float) -> None:
    """Before anything is written: a known executor, Ray installed for ``ray``, sane per-cell resources."""
    if name not in EXECUTORS:
        raise ConfigError("--executor", f"expected one of {', '.join(EXECUTORS)}, got {name!r}")
    if name == "local":
        if address is not None:
            raise ConfigError("--address", "applies to --executor ray only")
        return
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError("--executor", "ray needs Ray: pip install 'genclf[ray]'") from None
    if not cpus_per_cell > 0:
        raise ConfigError("--cpus-per-cell", f"expected a number > 0, got {cpus_per_cell!r}")
    if not 0 <= gpus_per_cell <= 8:
        raise ConfigError("--gpus-per-cell", f"expected a number in [0, 8], got {gpus_per_cell!r}")
    if address not in (None, "auto", "local"):
        _reachable(address)


def _reachable(address: str, timeout: float = 3.0) -> None:
    """A ``ray://HOST:PORT`` or ``HOST:PORT`` address where something accepts a connection within ``timeout``."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("--address", f"expected auto, ray://HOST:PORT or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        raise ConfigError(
            "--address", f"no Ray cluster answers at {address} within {timeout:g} s (start one with 'ray start --head')"
        ) from None


class RayExecutor:
    """Fit cells as Ray tasks on a cluster (``address``: ``auto``, ``ray://HOST:PORT``, or None for a local
    instance of this machine's cores). ``start`` joins the cluster and checks its resources before the run
    writes anything; ``map`` runs the cells; ``close`` leaves the cluster (shutting down what ``start`` began)."""

    def __init__(self, address: str | None = None, cpus_per_cell: float = 1.0, gpus_per_cell: float = 0.0):
        self.address, self.cpus, self.gpus = address, cpus_per_cell, gpus_per_cell
        self.started = False

    def start(self) -> RayExecutor:
        import ray

        self.started = _connect(ray, self.address)
        offered = ray.cluster_resources()
        if self.gpus and offered.get("GPU", 0) < self.gpus:
            self.close()
            raise ConfigError(
                "--gpus-per-cell", f"the Ray cluster offers no GPU to give {self.gpus:g} of one to a cell"
            )
        if offered.get("CPU", 0) < self.cpus:
            self.close()
            raise ConfigError(
                "--cpus-per-cell", f"the Ray cluster has {offered.get('CPU', 0):g} CPUs, fewer than {self.cpus:g}"
            )
        return self

    def close(self) -> None:
        if self.started:
            import ray

            ray.shutdown()
            self.started = False

    def map(self, config, folder, jobs: list, save_models: str, checks: list, artifacts: list) -> Iterator:
        """Each cell's output as it finishes, after the driver has written the files it sent back."""
        import ray

        global last_counts
        store = _store_actor(ray).remote(_stored_generators(config, folder))
        cell = ray.remote(_ray_cell).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=TASK_RETRIES)
        text = _config_text(config)
        pending = [cell.remote(text, job, save_models, checks, artifacts, store) for job in jobs]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    output, files = ray.get(done[0])
                except ray.exceptions.RayTaskError as exc:  # the cell's own error, as it would be raised locally
                    raise (exc.cause if isinstance(exc.cause, BaseException) else exc) from None
                for relative, data in files.items():
                    target = folder.root / relative
                    if not (relative.startswith("generators/") and target.exists()):
                        atomic_write(target, lambda tmp, data=data: tmp.write_bytes(data))
                yield output
            last_counts = ray.get(store.counts.remote())
        finally:
            for ref in pending:
                ray.cancel(ref)
            ray.kill(store)


last_counts: dict[str, int] = {}  # how many times each shared generator was trained in the last Ray map


def _connect(ray, address: str | None) -> bool:
    """Connect to the cluster (or start a local instance); True when this call started Ray."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address in (None, "local"):
        options.update(num_cpus=os.cpu_count() or 1, _node_ip_address="127.0.0.1")
        ray.init(**options)
    else:
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError) as exc:
            raise ConfigError("--address", f"cannot join a Ray cluster at {address}: {str(exc)[:120]}") from None
    return True


def _config_text(config) -> str:
    import yaml

    from genclf.config import to_dict

    return yaml.safe_dump(to_dict(config), sort_keys=False)


def _stored_generators(config, folder) -> dict[str, dict[str, bytes]]:
    """The generators the run folder already holds (a resumed run), keyed as the store keys them."""
    from genclf.run.folder import cell_tag

    stored = {}
    for k in config.data.budgets():
        for seed in config.seeds:
            root = folder.generator_store(k, seed)
            for weights in sorted(root.glob("*/model.safetensors")) if root.is_dir() else []:
                files = {p.name: p.read_bytes() for p in weights.parent.iterdir() if p.is_file()}
                stored[f"{cell_tag(k, seed)}/{weights.parent.name}"] = files
    return stored


def _store_actor(ray):
    @ray.remote(num_cpus=0)
    class GeneratorStoreActor:
        """The shared generators of a run on Ray: claimed, trained once, then handed out as file bytes."""

        def __init__(self, stored: dict[str, dict[str, bytes]]):
            self.models, self.claimed, self.trained = dict(stored), {}, {}

        def claim(self, key: str, owner: str) -> str:
            """``ready``, ``wait`` (another cell trains it) or ``train``; a retried cell (whose worker was
            lost while training) is the same owner and trains it again."""
            if key in self.models:
                return "ready"
            if self.claimed.setdefault(key, owner) != owner:
                return "wait"
            return "train"

        def put(self, key: str, files: dict[str, bytes]) -> None:
            self.models[key] = files
            self.trained[key] = self.trained.get(key, 0) + 1

        def release(self, key: str) -> None:
            self.claimed.pop(key, None)

        def get(self, key: str) -> dict[str, bytes]:
            return self.models[key]

        def counts(self) -> dict[str, int]:
            return dict(self.trained)

    return GeneratorStoreActor


class RayStore:
    """The ``ModelStore`` a cell on Ray sees: the store actor for the weights, a scratch folder for the files."""

    def __init__(self, actor, tag: str, root: Path):
        self.actor, self.tag, self.root = actor, tag, root

    def get_or_train(self, key: str, train: Callable, load: Callable, save: Callable, **meta: Any):
        import ray

        from genclf.run.store import _recorded_seconds

        full, folder = f"{self.tag}/{key}", self.root / key
        owner = ray.get_runtime_context().get_task_id()  # the same across the retries of one cell
        while True:
            state = ray.get(self.actor.claim.remote(full, owner))
            if state == "ready":
                folder.mkdir(parents=True, exist_ok=True)
                for name, data in ray.get(self.actor.get.remote(full)).items():
                    (folder / name).write_bytes(data)
                return load(folder), _recorded_seconds(folder), False
            if state == "train":
                try:
                    trained, seconds = train()
                    save(folder, trained, **meta, fit={"train_seconds": round(seconds, 3)})
                    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
                    ray.get(self.actor.put.remote(full, files))
                except BaseException:
                    self.actor.release.remote(full)
                    raise
                return trained, seconds, True
            time.sleep(0.2)  # another cell is training it


_RUNNERS: dict[str, Any] = {}  # per worker process: the data and splits of a config, loaded once


def _ray_cell(config_text: str, job, save_models: str, checks: list, artifacts: list, store) -> tuple:
    """One cell in a scratch folder on its node: its output and every file it wrote (relative path -> bytes)."""
    import torch
    import yaml

    from genclf.config import RunConfig, from_dict
    from genclf.run.cells import CellRunner, load_splits
    from genclf.run.folder import RunFolder, cell_tag

    torch.set_num_threads(1)
    if config_text not in _RUNNERS:
        _RUNNERS.clear()
        config = from_dict(RunConfig, yaml.safe_load(config_text))
        _RUNNERS[config_text] = (config, load_splits(config))
    config, (data, splits) = _RUNNERS[config_text]
    with tempfile.TemporaryDirectory(prefix="genclf-cell-") as scratch:
        folder = RunFolder(scratch)
        runner = CellRunner(config, folder, splits, checks, artifacts)
        runner.save_models = save_models
        runner.stores = lambda k, seed: RayStore(store, cell_tag(k, seed), folder.generator_store(k, seed))
        output = runner.run(job)
        files = {
            str(p.relative_to(folder.root)): p.read_bytes()
            for p in sorted(folder.root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }
    return output, files
