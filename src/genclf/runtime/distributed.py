"""Distributed data parallel training through ``torchrun`` (PyTorch's own engine: torch.distributed,
DistributedDataParallel, DistributedSampler).

``torchrun --nproc_per_node N -m genclf train ...`` starts N processes with RANK/WORLD_SIZE/LOCAL_RANK set;
``setup()`` joins them into one process group (gloo on CPU, NCCL on CUDA). Every rank trains on its slice of
each epoch, gradients are averaged by DDP, and only rank 0 writes files (``genclf.files.atomic_write`` is a
no-op elsewhere) or prints.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_distributed() -> bool:
    return world_size() > 1


def is_main() -> bool:
    return rank() == 0


def setup(device: torch.device) -> None:
    """Join the process group once (no-op for a single process)."""
    if not is_distributed() or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend)


def shard_order(count: int, seed: int, epoch: int) -> torch.Tensor:
    """This rank's sample order for ``epoch`` (DistributedSampler: one seeded shuffle, every rank its slice)."""
    sampler = torch.utils.data.DistributedSampler(
        range(count), num_replicas=world_size(), rank=rank(), shuffle=True, seed=seed, drop_last=True
    )
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler), dtype=torch.long)


def mean_across_ranks(values: dict[str, float]) -> dict[str, float]:
    """Average logged numbers over the ranks (the same keys on every rank)."""
    if not is_distributed() or not dist.is_initialized() or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(tensor)
    return {k: float(v) / world_size() for k, v in zip(keys, tensor)}


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank, as DDP does before each forward;
    called at the end of an epoch so validation and the saved weights are the same everywhere."""
    if not is_distributed() or not dist.is_initialized():
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def wrap_modules(model: torch.nn.Module, wrap) -> None:
    """For a model that steps its own optimizers: wrap each network named in ``model.distributed_modules``
    in DDP, kept outside the module tree (so state_dict keys do not change); ``net(model, name)`` finds it."""
    wrapped = {name: wrap(getattr(model, name)) for name in model.distributed_modules}
    object.__setattr__(model, "_distributed_wrappers", wrapped)


def unwrap_modules(model: torch.nn.Module) -> None:
    if "_distributed_wrappers" in vars(model):
        object.__delattr__(model, "_distributed_wrappers")


def net(model: torch.nn.Module, name: str):
    """The DDP wrapper of ``model.<name>`` under torchrun, else the network itself."""
    return vars(model).get("_distributed_wrappers", {}).get(name) or getattr(model, name)


class StepModule(torch.nn.Module):
    """Routes ``training_step`` through ``forward`` so DistributedDataParallel sees (and syncs) it."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        out = self.model.training_step((x, y))
        return out.loss, out.logs
