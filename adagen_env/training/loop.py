"""The optimisation loop every generator's training script shares: AdamW, warmup then cosine decay, clipping."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from tqdm import tqdm


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
) -> None:
    """Take ``steps`` optimiser steps on ``batch_loss()`` (which draws its own batch); update ``ema`` if given."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup_steps) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    progress = tqdm(range(steps), desc=desc)
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
