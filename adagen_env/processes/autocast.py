"""bf16 autocast around a process's generator: faster model calls on a GPU, float32 everywhere else.

:class:`AutocastProcess` wraps any process (registered or a diffusers adapter) and runs the
calls that run networks, ``reset``, ``step``, ``refine`` and ``decode`` (a diffusers VAE decodes there),
under ``torch.autocast``. What autocast makes in its low-precision dtype (model outputs and
hidden states kept in the state) is cast back to float32 before it leaves the wrapper, so the
observations, the policy, the rewards and the metrics see exactly the types they see without
autocast. Everything else is the wrapped process's own.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from adagen_env.processes.base import Process

# the ``autocast`` settings the envs, ``make_process`` and ``adagen --autocast`` take; None means "off".
# bf16 only: it has float32's range, so guided logits and velocities cannot overflow as in fp16.
AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"off": None, "bf16": torch.bfloat16}


def check_autocast(autocast: str | None) -> torch.dtype | None:
    """The dtype of an ``autocast`` setting (``None`` for off); ``ValueError`` naming the allowed values."""
    if autocast is None:
        return None
    if not isinstance(autocast, str) or autocast not in AUTOCAST_DTYPES:
        allowed = ", ".join(repr(name) for name in AUTOCAST_DTYPES)
        raise ValueError(f"autocast must be one of None, {allowed}; got {autocast!r}")
    return AUTOCAST_DTYPES[autocast]


def with_autocast(process: Process, autocast: str | None) -> Process:
    """``process`` itself when ``autocast`` is off, else an :class:`AutocastProcess` around it."""
    dtype = check_autocast(autocast)
    return process if dtype is None else AutocastProcess(process, dtype)


class AutocastProcess:
    """A process whose generator runs under ``torch.autocast(process.device.type, dtype)``.

    It is a :class:`~adagen_env.processes.base.Process`: every attribute but ``reset``, ``step``,
    ``refine`` and ``decode`` is the wrapped process's (``wrapped``). Random draws are untouched, so the
    noise is the same as without autocast; only the model's arithmetic is coarser.
    """

    def __init__(self, process: Process, dtype: torch.dtype = torch.bfloat16):
        self.wrapped = process
        self.autocast_dtype = dtype

    def __getattr__(self, name: str) -> Any:
        if name == "wrapped":  # not set yet (copying, unpickling): no delegation, no recursion
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.wrapped.device.type, dtype=self.autocast_dtype)

    def reset(self, labels: torch.Tensor, generator: torch.Generator, **options: Any) -> Any:
        """The wrapped reset; ``options``: what its reset takes beyond these (a continuous process's ``noise``)."""
        with self._autocast():
            return to_float32(self.wrapped.reset(labels, generator, **options), self.autocast_dtype)

    def step(self, state: Any, values: dict[str, torch.Tensor], num_steps: int, generator: torch.Generator) -> Any:
        with self._autocast():
            return to_float32(self.wrapped.step(state, values, num_steps, generator), self.autocast_dtype)

    def refine(self, state: Any, refinement: Any, generator: torch.Generator) -> Any:
        with self._autocast():
            return to_float32(self.wrapped.refine(state, refinement, generator), self.autocast_dtype)

    def decode(self, state: Any) -> torch.Tensor:
        with self._autocast():
            return to_float32(self.wrapped.decode(state), self.autocast_dtype)


def to_float32(value: Any, dtype: torch.dtype) -> Any:
    """``value`` with every tensor of ``dtype`` cast to float32, inside dataclasses, dicts, lists and tuples
    (the shapes a process state takes); other tensors (tokens, float64 times) are kept as they are."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype == dtype else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: to_float32(getattr(value, f.name), dtype) for f in dataclasses.fields(value) if f.init}
        )
    if isinstance(value, dict):
        return {key: to_float32(item, dtype) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_float32(item, dtype) for item in value)
    return value
