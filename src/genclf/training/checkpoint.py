"""Checkpoints are data, not code: safetensors weights with their JSON metadata embedded, written atomically.

A model folder holds ``model.safetensors`` (weights + metadata: model name and arguments, class names,
normalisation, resolved config, metrics) and a human-readable copy of the metadata in ``model.json``.
Training state for ``--resume`` lives in ``train_state.safetensors``. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from genclf.errors import CheckpointError
from genclf.files import atomic_write, write_json

MODEL_FILE = "model.safetensors"
META_FILE = "model.json"
STATE_FILE = "train_state.safetensors"


def _save(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(
        path,
        lambda tmp: save_file(tensors, str(tmp), metadata={"genclf": json.dumps(meta, default=str)}),
    )


def _load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.is_file():
        raise CheckpointError(path, "file not found (expected a genclf checkpoint)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get("genclf")
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(path, f"not a readable safetensors file ({exc})") from None
    if raw is None:
        raise CheckpointError(path, "safetensors file has no genclf metadata")
    try:
        meta = json.loads(raw)
    except ValueError:
        raise CheckpointError(path, "its genclf metadata is not valid JSON (corrupt checkpoint)") from None
    if not isinstance(meta, dict):
        raise CheckpointError(path, "its genclf metadata is not a JSON object (corrupt checkpoint)")
    return tensors, meta


def save_model(folder: str | Path, model: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """Write the weights and metadata of a trained model into ``folder``."""
    from genclf.runtime.environment import describe_environment

    folder = Path(folder)
    fit = meta.get("fit")
    # timings and the environment vary run to run: they stay out of the weights file, which resume reproduces
    # byte for byte, and go to model.json only
    stored = dict(meta)
    if isinstance(fit, dict) and "train_seconds" in fit:
        stored["fit"] = {k: v for k, v in fit.items() if k != "train_seconds"}
    device = next((p.device.type for p in model.parameters()), None)
    meta = {**meta, "environment": meta.get("environment") or describe_environment(device)}
    _save(folder / MODEL_FILE, model.state_dict(), stored)
    write_json(folder / META_FILE, meta)
    return folder


def read_meta_json(folder: str | Path) -> dict[str, Any]:
    """The human-readable ``model.json`` of a checkpoint folder ({} when absent)."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise CheckpointError(path, "not valid JSON (corrupt checkpoint metadata)") from None
    if not isinstance(meta, dict):
        raise CheckpointError(path, "expected a JSON object")
    return meta


def read_model(folder: str | Path, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read weights and metadata, checking the checkpoint holds a model of ``kind``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(folder, "checkpoint folder not found")
    tensors, meta = _load(folder / MODEL_FILE)
    if meta.get("kind") != kind:
        raise CheckpointError(
            folder,
            f"holds a {meta.get('kind', 'unknown')!r} model ({meta.get('model')}), expected a {kind!r} checkpoint",
        )
    check_meta(folder, meta)
    return tensors, meta


def check_meta(folder: Path, meta: dict[str, Any]) -> None:
    """The metadata a network is built from, checked before anything is built from it."""
    problems = []
    if not isinstance(meta.get("model"), str):
        problems.append("'model' must be a name")
    if not isinstance(meta.get("model_options", {}), dict):
        problems.append("'model_options' must be a mapping")
    channels, size = meta.get("in_channels"), meta.get("image_size")
    if not (isinstance(channels, int) and channels in (1, 3)):
        problems.append(f"'in_channels' must be 1 or 3, got {channels!r}")
    if not (isinstance(size, int) and 4 <= size <= 512):
        problems.append(f"'image_size' must be an integer in 4..512, got {size!r}")
    names = meta.get("class_names")
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names) and len(names) <= 100_000):
        problems.append("'class_names' must be a list of names")
    norm = meta.get("normalization")
    if norm is not None:
        std, mean = (norm.get("std"), norm.get("mean")) if isinstance(norm, dict) else (None, None)
        ok = all(
            isinstance(values, list) and len(values) == channels and all(isinstance(v, (int, float)) for v in values)
            for values in (std, mean)
        )
        if not ok or not all(math.isfinite(v) for v in [*std, *mean]) or min(std) <= 0:
            problems.append("'normalization' must hold finite per-channel mean and positive std")
    if problems:
        raise CheckpointError(folder, f"invalid metadata: {'; '.join(problems)}")


def load_model(folder: str | Path, kind: str, build) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a model of ``kind`` from its folder alone: ``build(name, in_channels, num_classes, image_size,
    **options)`` makes the network described by the metadata, then the weights are loaded into it.

    Raises:
        CheckpointError: the folder is missing, holds another kind of model, or the weights do not fit.
    """
    tensors, meta = read_model(folder, kind)
    try:
        model = build(
            meta["model"], meta["in_channels"], len(meta["class_names"]), meta["image_size"], **meta["model_options"]
        )
        model.load_state_dict(tensors)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(
            folder,
            f"weights do not match the {meta.get('model')!r} model described by its metadata ({str(exc).splitlines()[0]})",
        ) from None
    return model.eval(), meta


def save_state(folder: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    _save(Path(folder) / STATE_FILE, tensors, meta)


def load_state(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    path = Path(folder) / STATE_FILE
    return _load(path) if path.is_file() else None


def optimizer_to_flat(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state into tensors (safetensors) and plain JSON (everything else)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{param_id}.{key}"] = value
            else:
                scalars[f"{param_id}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_flat(
    optimizer: torch.optim.Optimizer,
    prefix: str,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> None:
    per_param: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            param_id, key = name[len(prefix) + 1 :].split(".", 1)
            per_param.setdefault(int(param_id), {})[key] = value
    for name, value in meta["scalars"].items():
        param_id, key = name.split(".", 1)
        per_param.setdefault(int(param_id), {})[key] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": meta["param_groups"]})
    # safetensors stores contiguous tensors; a fused optimizer walks a state tensor's memory in its parameter's
    # order, so moments of a channels_last parameter must be channels_last again or the update mixes elements
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
