"""Generation processes by name. A new paradigm = a process module, its model, and a line here."""
from __future__ import annotations

from functools import partial

import torch

from adagen_env.processes.base import Process
from adagen_env.processes.diffusion import DiffusionProcess
from adagen_env.processes.flow import FlowProcess
from adagen_env.processes.maskgit import MaskGITProcess
from adagen_env.processes.var import VARProcess

PROCESSES = {
    "maskgit-digits": MaskGITProcess,
    "diffusion-digits": DiffusionProcess,
    "flow-digits": FlowProcess,
    # the same flow model with Heun: 2 model evaluations per decision, fewer decisions per NFE budget
    "flow-heun-digits": partial(FlowProcess, solver="heun"),
    "var-digits": VARProcess,
}


def make_process(name: str, device: str | torch.device = "cpu") -> Process:
    if name not in PROCESSES:
        raise ValueError(f"unknown process {name!r}; choose one of {sorted(PROCESSES)}")
    return PROCESSES[name](device=device)


__all__ = ["PROCESSES", "DiffusionProcess", "FlowProcess", "MaskGITProcess", "Process", "VARProcess", "make_process"]
