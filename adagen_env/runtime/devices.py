"""Torch devices checked up front, so that a bad ``device`` gets one clear line before any work starts."""

from __future__ import annotations

import torch


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``; ``ValueError`` if it is malformed or not available here."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device {device!r} is not a torch device (try 'cpu' or 'cuda')") from e
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {str(device)!r} cannot run a generator here; use 'cpu', 'cuda' or 'mps'")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} asks for CUDA, but no CUDA GPU is available here; use 'cpu'")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(device)!r} asks for MPS, which is not available here; use 'cpu'")
    return parsed
