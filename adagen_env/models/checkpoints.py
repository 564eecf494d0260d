"""Save and load a generator as its config plus weights, the format of every file in ``adagen_env/weights``."""
from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn


def save_model(model: nn.Module, path: str | Path) -> None:
    """``model`` must have a dataclass ``config`` that its constructor takes."""
    torch.save({"config": asdict(model.config), "state_dict": model.state_dict()}, path)


@lru_cache(maxsize=None)
def load_frozen(model_class: type[nn.Module], config_class: type, path: str, device: str = "cpu") -> nn.Module:
    """A saved generator, frozen and in eval mode; cached, so every env on a device shares one copy."""
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    # JSON-like storage turns tuples into lists; configs are frozen dataclasses that want tuples
    config = config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in checkpoint["config"].items()})
    model = model_class(config).to(device)
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval().requires_grad_(False)
