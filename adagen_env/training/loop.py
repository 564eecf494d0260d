"""The optimisation loop every generator's training script shares: AdamW, warmup then cosine decay, clipping.

A run can checkpoint and resume exactly: ``on_step(step, state)`` sees, after every whole step,
the optimiser's and the schedule's states (``state()``), and ``resume`` takes them back. Inside a
:class:`~adagen_env.runtime.signals.StopRequest`, Ctrl-C and SIGTERM stop it between steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from adagen_env.runtime.signals import StopRequest


def fit(
    model: nn.Module,
    batch_loss: Callable[[], torch.Tensor],
    steps: int,
    learning_rate: float,
    weight_decay: float,
    warmup_steps: int,
    desc: str,
    ema: nn.Module | None = None,
    ema_decay: float = 0.999,
    resume: dict[str, Any] | None = None,
    on_step: Callable[[int, Callable[[], dict[str, Any]]], None] | None = None,
    stop: StopRequest | None = None,
) -> None:
    """Take optimiser steps on ``batch_loss()`` (which draws its own batch) until ``steps`` in all; update ``ema``.

    ``resume`` (a ``state()`` seen by ``on_step``) continues a run from its step; ``on_step(step,
    state)`` is called after every step; ``stop.check()`` runs between steps.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup_steps) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    start = 0
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        schedule.load_state_dict(resume["schedule"])
        start = resume["step"]

    def state(step: int) -> dict[str, Any]:
        return {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "step": step}

    progress = tqdm(range(start, steps), desc=desc, initial=start, total=steps)
    for step in progress:
        loss = batch_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if ema is not None:
            with torch.no_grad():
                for p_ema, p in zip(ema.parameters(), model.parameters()):
                    p_ema.lerp_(p, 1 - ema_decay)
        if step % 100 == 0:
            progress.set_postfix(loss=f"{loss.item():.4f}")
        if on_step is not None:
            on_step(step + 1, lambda done=step + 1: state(done))
        if stop is not None:
            stop.check()
