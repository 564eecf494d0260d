"""Data-parallel training on torch.distributed: every rank generates its own batch, gradients are averaged.

Run under ``torchrun --nproc_per_node N``, which describes the group in environment variables
(``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ...). Outside a process group of more than one
rank every helper here is a no-op, so single-process code pays nothing.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable

import numpy as np
import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """Whether this process is one of several ranks of an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def launched_world_size() -> int:
    """How many processes ``torchrun`` started for this run (1 without torchrun), readable before joining."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_launcher(device: str | torch.device = "cpu") -> bool:
    """Join the process group that ``torchrun`` describes (gloo on CPU, nccl on CUDA); False when
    not launched with more than one process or already joined."""
    if launched_world_size() <= 1 or dist.is_initialized():
        return False
    cuda = torch.device(device).type == "cuda"
    if cuda:  # one GPU per rank on each node
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    return True


def leave() -> bool:
    """Leave the process group, if this process joined one; whether it did.

    Destroying the group drops only torch's own references to it: one left elsewhere (a pending
    work, a traceback) keeps gloo's threads alive until the interpreter tears down, where they can
    abort the process ("terminate called without an active exception"). Collect such references
    now; a process that leaves should then end with ``os._exit`` (as ``adagen`` does), skipping that
    teardown once every file is written."""
    if not (dist.is_available() and dist.is_initialized()):
        return False
    dist.destroy_process_group()
    gc.collect()
    return True


def rank_seed(seed: int) -> int:
    """The seed of this rank's noise: ``seed`` itself on rank 0 (a one-process run is unchanged),
    an independent stream derived from (seed, rank) elsewhere."""
    r = rank()
    return seed if r == 0 else int(np.random.SeedSequence([seed, r]).generate_state(1, np.uint64)[0] >> 1)


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace every gradient by its mean over the ranks (one all-reduce of all of them)."""
    if not is_distributed():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for g, averaged in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(averaged.view_as(g))


def _collective_device(values: torch.Tensor) -> torch.device:
    """Where a collective can reduce ``values``: NCCL (the backend on CUDA) takes CUDA tensors only,
    so CPU values (PPO's loss statistics, the stop flags) go to this rank's GPU; gloo takes them as they are."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return values.device


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """The elementwise sum of ``values`` over the ranks (a new tensor, on ``values``' device)."""
    if not is_distributed():
        return values.clone()
    total = values.to(_collective_device(values), copy=True)
    dist.all_reduce(total)
    return total.to(values.device)


def any_rank(flags: list[bool]) -> list[bool]:
    """Each flag, true on every rank when it is true on any: lets all ranks stop at the same point."""
    if not is_distributed():
        return list(flags)
    values = torch.tensor([float(f) for f in flags])
    values = values.to(_collective_device(values))
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return [bool(v) for v in values.tolist()]


def barrier() -> None:
    """Wait for every rank (a no-op without a group)."""
    if is_distributed():
        dist.barrier()


def all_gather(obj: object) -> list:
    """Every rank's ``obj``, in rank order, on every rank; ``[obj]`` without a group."""
    if not is_distributed():
        return [obj]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def gather_to_rank0(obj: object) -> list | None:
    """Every rank's ``obj``, in rank order, on rank 0 (``None`` elsewhere); ``[obj]`` without a group."""
    if not is_distributed():
        return [obj]
    gathered = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered
