"""Generation processes by name. A new paradigm = a process module, its model, and a line here."""
from __future__ import annotations

import torch

from adagen_env.processes.base import Process
from adagen_env.processes.maskgit import MaskGITProcess

PROCESSES = {"maskgit-digits": MaskGITProcess}


def make_process(name: str, device: str | torch.device = "cpu") -> Process:
    if name not in PROCESSES:
        raise ValueError(f"unknown process {name!r}; choose one of {sorted(PROCESSES)}")
    return PROCESSES[name](device=device)


__all__ = ["PROCESSES", "MaskGITProcess", "Process", "make_process"]
