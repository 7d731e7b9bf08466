"""Pretrained backbone weights, offline: torchvision's ImageNet files from the local torch hub cache, or a
state dict file the user gives. genclf never downloads weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from genclf.errors import CheckpointError

# architecture -> torchvision's weights file (the name torchvision's hub cache stores it under) and its URL
TORCHVISION_WEIGHTS = {
    "resnet18": ("resnet18-f37072fd.pth", "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
}


def hub_cache_file(architecture: str) -> Path:
    """Where torchvision keeps ``architecture``'s ImageNet weights: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    name, _ = TORCHVISION_WEIGHTS[architecture]
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def read_state_dict(path: Path, flag: str) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a ``.pth``/``.pt`` file (``weights_only``: no code runs)."""
    if not path.is_file():
        raise CheckpointError(flag, f"{path}: file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any unreadable file is the same user error)
        raise CheckpointError(path, f"not a readable state dict ({exc.__class__.__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(path, "expected a state dict (a mapping of names to tensors)")
    return state


def load_backbone_weights(body: nn.Module, weights: str | None, architecture: str, in_channels: int) -> dict[str, int]:
    """Load ``weights`` (a file) or torchvision's cached ImageNet weights of ``architecture`` into ``body``.
    A ``body.`` prefix (a genclf checkpoint) is accepted; the classification layer (``fc``) is left out;
    for grey inputs the RGB filters of the first convolution are summed. Returns loaded / skipped counts.

    Raises:
        CheckpointError: no such file (saying where the cache was looked for and how to provide the file),
            or a state dict that does not fit the architecture.
    """
    if weights is not None:
        path, flag = Path(weights).expanduser(), "--weights"
    else:
        path, flag = hub_cache_file(architecture), "--pretrained"
        if not path.is_file():
            _, url = TORCHVISION_WEIGHTS[architecture]
            raise CheckpointError(
                flag,
                f"no ImageNet weights for {architecture} at {path} (genclf never downloads); copy {url} there "
                f"(or set TORCH_HOME), or pass --weights FILE",
            )
    state = read_state_dict(path, flag)
    state = {k.removeprefix("body."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "head."))}
    own = body.state_dict()
    first = "conv1.weight"
    if first in state and first in own and in_channels == 1 and state[first].shape[1] == 3:
        state[first] = state[first].sum(1, keepdim=True)
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if mismatched:
        k = mismatched[0]
        raise CheckpointError(
            path, f"weights do not fit {architecture}: {k} is {tuple(state[k].shape)}, expected {tuple(own[k].shape)}"
        )
    matched = [k for k in state if k in own]
    if len(matched) < len([k for k in own if not k.endswith("num_batches_tracked")]) // 2:
        raise CheckpointError(
            path, f"not {architecture} weights: only {len(matched)} of {len(own)} tensors match by name"
        )
    body.load_state_dict({k: state[k] for k in matched}, strict=False)
    return {"loaded": len(matched), "skipped": len(state) - len(matched)}
