"""Memory estimated before it is allocated: a request that cannot fit is one line that gives the
estimate and the limit, instead of an allocator error (or the kernel's OOM killer) much later."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch


def available_bytes() -> int | None:
    """The memory the system can still give (Linux's ``MemAvailable``); ``None`` where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def tensor_bytes(value: Any) -> int:
    """The bytes of every tensor in ``value``: a tensor, or dataclasses, dicts, lists and tuples of them."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(tensor_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def gigabytes(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def check_fits(what: str, needed: int, hint: str, share: float = 0.8) -> None:
    """``ValueError`` when ``needed`` bytes exceed ``share`` of the available memory (nothing where it is unknown)."""
    available = available_bytes()
    if available is not None and needed > share * available:
        raise ValueError(
            f"{what} needs about {gigabytes(needed)}, but {gigabytes(available)} is available "
            f"(at most {share:.0%} of it is taken); {hint}"
        )
