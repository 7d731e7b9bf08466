"""The run's store of shared models: the generators and colorizers that several cells of one (budget, seed)
draw from, trained once and kept under ``RUN/generators/kK_seedS/KEY/``.

It implements the ``ModelStore`` protocol strategies see through their ``Context``: a strategy asks for a
model by key, the store loads it when an earlier cell (or an earlier, interrupted invocation) trained it,
else trains it once while other worker processes wait on a lock, then loads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genclf.files import exclusive_lock

WEIGHTS = "model.safetensors"


class GeneratorStore:
    """The shared models of one (budget, seed) of a run, in ``root`` (one sub-folder per key)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def keys(self) -> set[str]:
        """The keys of the models stored so far."""
        return {p.parent.name for p in self.root.glob(f"*/{WEIGHTS}")} if self.root.is_dir() else set()

    def get_or_train(
        self,
        key: str,
        train: Callable[[], tuple[Any, float]],
        load: Callable[[Path], Any],
        save: Callable[..., Any],
        **meta: Any,
    ) -> tuple[Any, float, bool]:
        """``(model, training seconds, trained here)``: the stored model ``key``, or ``train()`` (which returns
        the model and its training seconds) saved with ``meta`` and its seconds for the next reader."""
        folder = self.root / key
        with exclusive_lock(self.root / f".{key}.lock"):  # another worker may be training it: wait, then load
            if (folder / WEIGHTS).is_file():
                return load(folder), _recorded_seconds(folder), False
            trained, seconds = train()
            save(folder, trained, **meta, fit={"train_seconds": round(seconds, 3)})
            return trained, seconds, True


def _recorded_seconds(folder: Path) -> float:
    """The training seconds a stored model's metadata records (0 where it records none)."""
    try:
        return float(json.loads((folder / "model.json").read_text())["fit"]["train_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
