"""Generation processes: one paradigm's frozen generator plus its solver, batched in torch.

The registered ones (env ids, names, shipped policies) are declared in :mod:`adagen_env.paradigms`.
"""

from adagen_env.processes.base import Process
from adagen_env.processes.diffusers_adapter import DiffusersProcess
from adagen_env.processes.diffusion import DiffusionProcess
from adagen_env.processes.flow import FlowProcess
from adagen_env.processes.maskgit import MaskGITProcess
from adagen_env.processes.var import VARProcess

__all__ = ["DiffusersProcess", "DiffusionProcess", "FlowProcess", "MaskGITProcess", "Process", "VARProcess"]
