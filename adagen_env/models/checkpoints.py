"""Save and load a generator as its config plus weights, the format of every file in ``adagen_env/weights``."""

from __future__ import annotations

import copy
import os
from dataclasses import asdict
from functools import cache
from pathlib import Path

import torch
from torch import nn

from adagen_env.runtime.files import atomic_save, read_torch_file


def save_model(model: nn.Module, path: str | Path, metadata: dict | None = None, training: dict | None = None) -> None:
    """``model`` must have a dataclass ``config`` that its constructor takes; ``metadata`` (plain
    types) says what the file is, for example ``{"paradigm": "flow"}`` for a generator. ``training``:
    the state a run resumes from, kept in the file while the run is unfinished."""
    contents = {"config": asdict(model.config), "state_dict": model.state_dict(), "metadata": metadata or {}}
    atomic_save({**contents, **({"training": training} if training is not None else {})}, path)


def read_metadata(path: str | Path) -> dict:
    """The ``metadata`` a weights file was saved with (``{}`` for files saved without)."""
    return dict(_read(str(path)).get("metadata", {}))


def read_config(path: str | Path) -> dict:
    """The ``config`` a weights file was saved with."""
    return dict(_read(str(path))["config"])


def read_training(path: str | Path) -> dict | None:
    """The state an unfinished training run resumes from (``None`` for a finished file)."""
    return _read(str(path)).get("training")


def _read(path: str) -> dict:
    """A weights file's contents, read once per version of the file (``weights_only``: it never runs code)."""
    try:
        stat = os.stat(path)
    except OSError:
        stat = None
    return _read_version(path, None if stat is None else (stat.st_mtime_ns, stat.st_size))


@cache
def _read_version(path: str, version: tuple[int, int] | None) -> dict:
    checkpoint = read_torch_file(path)
    if not isinstance(checkpoint, dict) or not {"config", "state_dict"} <= set(checkpoint):
        raise ValueError(f"{path}: not a generator weights file (expected 'config' and 'state_dict')")
    return checkpoint


def load_frozen(model_class: type[nn.Module], config_class: type, path: str, device: str = "cpu") -> nn.Module:
    """A saved generator, frozen and in eval mode: a fresh module per call (the file is read once),
    so that one env switching its model's mode cannot change another's."""
    checkpoint = _read(str(path))
    # JSON-like storage turns tuples into lists; configs are frozen dataclasses that want tuples
    config = config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in checkpoint["config"].items()})
    with torch.random.fork_rng(
        devices=[]
    ):  # the random initialisation is overwritten: keep torch's global RNG as it was
        model = model_class(config)
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval().requires_grad_(False)


def frozen_copy(model: nn.Module, device: str | torch.device) -> nn.Module:
    """A frozen copy of a user's model on ``device``: the caller's module is neither moved nor switched to eval."""
    return copy.deepcopy(model).to(device).eval().requires_grad_(False)
