"""Experiment tracking: every model's per-epoch metrics, per-cell results, the config as parameters, and the
report and figures as artifacts, to TensorBoard and/or MLflow (optional extras: ``pip install
'genclf[tracking]'``).

- TensorBoard: event files under ``OUT/tensorboard/`` (``tensorboard --logdir OUT/tensorboard``); in a run,
  one run directory per grid cell (``OUT/tensorboard/baseline_k10_seed0/``: its models' epochs and its final
  ``results/*`` metrics under the same tags in every cell, so TensorBoard overlays the cells), the job's
  config, per-cell results over seeds and figures in ``OUT/tensorboard/`` itself.
- MLflow: a local file store ``OUT/mlruns/`` (no server; ``mlflow ui --backend-store-uri OUT/mlruns``), or
  wherever ``MLFLOW_TRACKING_URI`` points when it is set.

The Trainer reports each epoch through ``log_epoch``; the runner names the current grid cell with ``scope``,
and ``recording`` collects the epochs of one cell for its ``history/*.csv``. Without an active tracker and
recording, ``log_epoch`` does nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from genclf.config import flatten
from genclf.errors import ConfigError
from genclf.files import slug

BACKENDS = ("tensorboard", "mlflow")

_tracker: ContextVar[Tracker | None] = ContextVar("genclf_tracker", default=None)
_scope: ContextVar[str] = ContextVar("genclf_scope", default="")
_rows: ContextVar[list[dict[str, Any]] | None] = ContextVar("genclf_history_rows", default=None)
_cell: ContextVar[tuple[Any, str] | None] = ContextVar("genclf_cell_writer", default=None)  # (writer, its scope)


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise ConfigError("--log-to", f"needs the '{module}' package: pip install 'genclf[tracking]'") from None


def check_backends(backends: list[str] | tuple[str, ...] | None) -> list[str]:
    """Known backends whose packages are installed, in order, without duplicates."""
    chosen = []
    for name in backends or ():
        if name not in BACKENDS:
            raise ConfigError("--log-to", f"expected one of {', '.join(BACKENDS)}, got {name!r}")
        if name not in chosen:
            chosen.append(name)
    for name in chosen:
        if name == "tensorboard":
            _require("tensorboard")
        else:
            _require("mlflow")
            check_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI"))
    return chosen


MLFLOW_SCHEMES = ("", "file", "http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks")


def check_tracking_uri(uri: str | None, timeout: float = 3.0) -> None:
    """Before anything is written: ``MLFLOW_TRACKING_URI`` has a scheme MLflow serves, and a server at an
    http(s) address accepts a connection within ``timeout`` seconds (MLflow itself retries for minutes)."""
    if not uri:
        return
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme not in MLFLOW_SCHEMES and not (len(scheme) == 1 and uri[1:3] in (":\\", ":/")):  # C:\ paths
        raise ConfigError(
            "MLFLOW_TRACKING_URI",
            f"unknown scheme {parts.scheme!r} in {uri!r}; expected one of "
            "file, http(s), sqlite, postgresql, mysql, databricks (or unset it for OUT/mlruns)",
        )
    if scheme in ("http", "https"):
        port = parts.port or (443 if scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname or "localhost", port), timeout=timeout).close()
        except OSError:
            raise ConfigError(
                "MLFLOW_TRACKING_URI",
                f"no MLflow server answers at {uri} within {timeout:g} s; start it or unset "
                "the variable (runs then log to OUT/mlruns)",
            ) from None


class Tracker:
    """One tracked job (a run, a training command) logging to the chosen backends."""

    def __init__(self, backends: list[str], out: str | Path, name: str):
        self.backends = check_backends(backends)
        self.out = Path(out)
        self.tags = _version_tags()
        self._writer = None
        self._mlflow = None
        if "tensorboard" in self.backends:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.out / "tensorboard"))
        if "mlflow" in self.backends:
            mlflow = _require("mlflow")
            # mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI: the user's value is put back on close, so a
            # second tracked job in this process logs where the user asked, not where the first one did
            self._user_uri = os.environ.get("MLFLOW_TRACKING_URI")
            uri = self._user_uri or (self.out / "mlruns").resolve().as_uri()
            if uri.startswith("file:") or "://" not in uri:  # the local file store: no server, no database
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            mlflow.set_tracking_uri(uri)
            try:
                # the experiment looked up in this URI's store (mlflow.set_experiment caches the last one by
                # name, across tracking URIs, so a second tracked job in one process would log elsewhere)
                client = mlflow.tracking.MlflowClient(uri)
                found = client.get_experiment_by_name("genclf")
                experiment = found.experiment_id if found is not None else client.create_experiment("genclf")
                self._run = mlflow.start_run(experiment_id=experiment, run_name=name)
                self.experiment_id = experiment
                mlflow.set_tags(self.tags)
            except mlflow.exceptions.MlflowException as exc:
                if self._writer is not None:
                    self._writer.close()
                if self._user_uri is None:
                    os.environ.pop("MLFLOW_TRACKING_URI", None)
                first = str(exc).strip().splitlines()[0][:200]
                raise ConfigError("MLFLOW_TRACKING_URI", f"MLflow at {uri} refused the run: {first}") from None
            self._mlflow = mlflow

    def params(self, values: dict[str, Any]) -> None:
        flat = {k: ("" if v is None else str(v))[:500] for k, v in flatten(values).items()}
        if self._writer is not None:
            table = "\n".join(f"| {k} | {v} |" for k, v in flat.items())
            self._writer.add_text("config", "| key | value |\n|---|---|\n" + table, 0)
        if self._mlflow is not None:
            self._mlflow.log_params(flat)

    def metrics(self, values: dict[str, Any], step: int, prefix: str = "", board_prefix: str | None = None) -> None:
        """``values`` as ``prefix/name`` at ``step``; TensorBoard's tags drop the cell's own scope in a cell's
        run directory (``board_prefix``)."""
        numbers = _numbers(values)
        if self._writer is not None:
            cell = _cell.get()
            writer, board = (
                (cell[0], prefix if board_prefix is None else board_prefix) if cell else (self._writer, prefix)
            )
            for key, value in numbers.items():
                writer.add_scalar(f"{board}/{key}" if board else key, value, step)
        if self._mlflow is not None and numbers:
            self._mlflow.log_metrics(
                {_mlflow_key(f"{prefix}/{k}" if prefix else k): v for k, v in numbers.items()}, step=step
            )

    def artifacts(self, paths: list[Path]) -> None:
        for path in paths:
            path = Path(path)
            if not path.is_file():
                continue
            if self._writer is not None and path.suffix == ".png":
                import numpy as np
                from PIL import Image

                with Image.open(path) as image:
                    pixels = np.asarray(image.convert("RGB"))
                self._writer.add_image(f"figures/{path.stem}", pixels, 0, dataformats="HWC")
            if self._mlflow is not None:
                self._mlflow.log_artifact(str(path))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._mlflow is not None:
            self._mlflow.end_run()
            if self._user_uri is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = self._user_uri


def _version_tags() -> dict[str, str]:
    """genclf's and torch's versions and the git revision, as tags on every tracked run."""
    from genclf.runtime.environment import git_revision, installed_version
    from genclf.version import __version__

    return {
        "genclf.version": __version__,
        "torch.version": installed_version("torch") or "",
        "git.revision": git_revision() or "",
    }


def _mlflow_key(key: str) -> str:
    """MLflow keys allow letters, digits, '_', '-', '.', ' ', ':' and '/'."""
    return "".join(ch if ch.isalnum() or ch in "_-. :/" else "_" for ch in key)


def start(
    backends: list[str] | None, out: str | Path, name: str, params: dict[str, Any] | None = None
) -> Tracker | None:
    """Make a new tracker logging into ``out`` the active one (none without backends), with ``params``."""
    if not backends:
        return None
    tracker = Tracker(list(backends), out, name)
    if params is not None:
        tracker.params(params)
    _tracker.set(tracker)
    return tracker


@contextlib.contextmanager
def tracking(
    backends: list[str] | None, out: str | Path, name: str, params: dict[str, Any] | None = None
) -> Iterator[Tracker | None]:
    """``start`` a tracker for the duration of a job (a run); it is closed when the job ends."""
    tracker = start(backends, out, name, params)
    try:
        yield tracker
    finally:
        if tracker is not None:
            _tracker.set(None)
            tracker.close()


def finish() -> None:
    """End the tracker ``start`` began for a training command: the output folder's figures, tables and JSON files become artifacts."""
    tracker = _tracker.get()
    if tracker is None:
        return
    _tracker.set(None)
    try:
        outputs = [p for p in sorted(tracker.out.glob("*")) if p.suffix in (".png", ".html", ".json", ".csv")]
        tracker.artifacts(outputs)
    finally:
        tracker.close()


@contextlib.contextmanager
def scope(name: str) -> Iterator[None]:
    """Prefix the metrics logged inside (e.g. one grid cell: ``baseline/k10/seed0``)."""
    token = _scope.set(name)
    try:
        yield
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def recording() -> Iterator[list[dict[str, Any]]]:
    """Collect every epoch logged inside as rows (model, epoch, metrics): a grid cell's history."""
    rows: list[dict[str, Any]] = []
    token = _rows.set(rows)
    try:
        yield rows
    finally:
        _rows.reset(token)


@contextlib.contextmanager
def cell(name: str, params: dict[str, Any]) -> Iterator[Callable[..., None]]:
    """One grid cell of a tracked run. With MLflow: a child run of the job's run, named ``name``, with
    ``params`` (strategy, role, budget, seed, classifier), every epoch its models log, and the final metrics
    given to the function this yields (``log(values, prefix="")``). Without MLflow the function does nothing."""
    tracker = _tracker.get()
    if tracker is None:
        yield lambda values, prefix="": None
        return
    mlflow, writer = tracker._mlflow, None
    with contextlib.ExitStack() as stack:
        if tracker._writer is not None:  # the cell's own TensorBoard run directory
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=str(tracker.out / "tensorboard" / slug(name)))
            stack.callback(writer.close)
            token = _cell.set((writer, name))
            stack.callback(_cell.reset, token)
        if mlflow is not None:
            mlflow.start_run(experiment_id=tracker.experiment_id, run_name=name, nested=True)
            stack.callback(mlflow.end_run)
            mlflow.log_params({k: "" if v is None else str(v) for k, v in params.items()})
            mlflow.set_tags(tracker.tags)

        def log(values: dict[str, Any], prefix: str = "") -> None:
            numbers = {prefix + k: float(v) for k, v in _numbers(values).items()}
            if writer is not None:
                for key, value in numbers.items():
                    writer.add_scalar(f"results/{key}", value, 0)
            if mlflow is not None and numbers:
                mlflow.log_metrics({_mlflow_key(k): v for k, v in numbers.items()})

        yield log


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of ``values`` (no NaN, no booleans)."""
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")
    }


def log_epoch(model: str, epoch: int, record: dict[str, Any]) -> None:
    """Called by the Trainer after every epoch of every model."""
    rows = _rows.get()
    if rows is not None:
        rows.append({"model": model, **record})
    tracker = _tracker.get()
    if tracker is not None:
        scope, cell = _scope.get(), _cell.get()
        prefix = "/".join(part for part in (scope, model) if part)
        inner = scope[len(cell[1]) :].strip("/") if cell is not None and scope.startswith(cell[1]) else scope
        board = "/".join(part for part in (inner, model) if part)
        tracker.metrics(
            {k: v for k, v in record.items() if k != "epoch"}, step=epoch, prefix=prefix, board_prefix=board
        )
