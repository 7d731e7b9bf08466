"""Adam/AdamW with the fused kernel where the parameters' device has one (about 4x faster steps on CPU)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def adam(
    params: Iterable[torch.nn.Parameter], lr: float, betas=(0.9, 0.999), weight_decay: float = 0.0, decoupled=False
) -> torch.optim.Optimizer:
    """``torch.optim.AdamW`` (``decoupled``) or ``Adam``, fused on CPU and CUDA parameters."""
    params = list(params)
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]  # parameter groups too
    fused = bool(tensors) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in tensors)
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    return kind(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)
