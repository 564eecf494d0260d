"""Every paradigm the package ships, declared once: env id, process, static grid, best static
schedules and shipped policy.

The Gymnasium ids, ``make_process``, the benchmarks' grids, ``adagen eval --policy`` and
``--policy shipped`` all read this table; adding a paradigm is one entry here (plus its process
module, model and training script). The best static schedules are results, not code: the grid
search writes them to ``data/best_static.json`` (:func:`write_best_static`) and the table reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from adagen_env.processes import DiffusionProcess, FlowProcess, MaskGITProcess, Process, VARProcess
from adagen_env.processes.autocast import check_autocast, with_autocast
from adagen_env.runtime.devices import check_device
from adagen_env.runtime.files import atomic_write_json

WEIGHTS = Path(__file__).resolve().parent / "weights"
BEST_STATIC_FILE = Path(__file__).resolve().parent / "data" / "best_static.json"
# the space the registry's picks are made in: the selection network, which no evaluation space and no
# reward uses (v0 picked by the evaluation's classifier; those picks stay in the file as classifier_picks)
BEST_STATIC_SPACE = "selection"


def read_best_static(path: Path = BEST_STATIC_FILE) -> dict[str, dict[int, dict[str, Any]]]:
    """The grid search's picks: {paradigm name: {steps: keyword arguments of ``static_schedule``}}."""
    picks = json.loads(path.read_text())["picks"]
    return {name: {int(steps): config for steps, config in by_steps.items()} for name, by_steps in picks.items()}


def write_best_static(
    name: str, picks: dict[int, dict[str, Any]], path: Path = BEST_STATIC_FILE, key: str = "picks"
) -> None:
    """Record the grid search's picks for paradigm ``name`` under ``key`` (merged with the step counts
    it already has): ``picks``, the registry's, made in the selection space; ``classifier_picks``, v0's,
    made by the evaluation's classifier and kept for comparison only."""
    data = json.loads(path.read_text()) if path.exists() else {"picks": {}}
    section = data.setdefault(key, {})
    merged = {**{int(k): v for k, v in section.get(name, {}).items()}, **picks}
    section[name] = {str(steps): merged[steps] for steps in sorted(merged)}
    atomic_write_json(path, data)
    if path == BEST_STATIC_FILE and key == "picks":
        _BEST_STATIC[name] = {steps: merged[steps] for steps in sorted(merged)}


_BEST_STATIC = read_best_static()


@dataclass(frozen=True)
class Paradigm:
    """One registered environment and what the tools know about it.

    ``grid`` is the family of static schedules the grid search tries (keyword arguments of the
    process's ``static_schedule`` and their values); ``best_static`` the member it found best,
    by step count (read from ``data/best_static.json``, which the grid search writes);
    ``shipped_policies`` files under ``adagen_env/weights`` by the step count they were trained
    for, the first the paradigm's default (none: no policy ships); ``smoothing`` the
    method's action-smoothing factor for the paradigm (``smoothing="method"`` in the envs).
    """

    name: str
    env_id: str
    process: Callable[..., Process]
    grid: dict[str, list[Any]]
    shipped_policies: dict[int, str] = field(default_factory=dict)
    smoothing: float = 0.0

    @property
    def best_static(self) -> dict[int, dict[str, Any]]:
        """The grid search's picks by step count (``data/best_static.json``); empty if never searched."""
        return _BEST_STATIC.get(self.name, {})

    def make_process(self, device: str | torch.device = "cpu", autocast: str | None = None) -> Process:
        """The process on ``device``; ``autocast="bf16"`` runs its generator under bf16 autocast
        (:mod:`adagen_env.processes.autocast`). Both are checked before the weights load."""
        device = check_device(device)
        check_autocast(autocast)
        return with_autocast(self.process(device=device), autocast)

    @property
    def process_class(self) -> type:
        """The class of ``process``: itself, or the class a ``partial`` fixes a solver of."""
        return getattr(self.process, "func", self.process)

    def shipped_policy_path(self, num_steps: int | None = None) -> Path | None:
        """The policy shipped for ``num_steps`` steps, else the default one (the first); ``None`` if none ships."""
        if not self.shipped_policies:
            return None
        return WEIGHTS / self.shipped_policies.get(num_steps, next(iter(self.shipped_policies.values())))


CONTINUOUS_GRID = {"spacing": ["uniform", "quadratic", "cubic", "sqrt"], "guidance": [0.0, 0.25, 0.5, 1.0, 2.0]}

PARADIGMS: dict[str, Paradigm] = {
    p.name: p
    for p in (
        Paradigm(
            name="maskgit-digits",
            env_id="AdaGen/MaskGIT-Digits-v0",
            process=MaskGITProcess,
            grid={
                "mask_curve": ["cosine", "linear", "square"],
                "remask_temperature": [0.0, 1.0, 3.0],
                "temperature": [0.7, 0.85, 1.0],
                "guidance": [0.0, 1.0, 2.0, 4.0],
            },
            shipped_policies={8: "maskgit_digits_policy_8steps.pt", 4: "maskgit_digits_policy_4steps.pt"},
            smoothing=0.8,
        ),
        Paradigm(
            name="diffusion-digits",
            env_id="AdaGen/Diffusion-Digits-v0",
            process=DiffusionProcess,
            grid=CONTINUOUS_GRID,
            shipped_policies={6: "diffusion_digits_policy_6steps.pt"},
            smoothing=0.4,
        ),
        Paradigm(
            name="flow-digits",
            env_id="AdaGen/Flow-Digits-v0",
            process=FlowProcess,
            grid=CONTINUOUS_GRID,
            shipped_policies={6: "flow_digits_policy_6steps.pt"},
            smoothing=0.8,
        ),
        # the same flow model with Heun: 2 model evaluations per decision. No policy ships: the
        # learned one was only level with the hand-designed schedule.
        Paradigm(
            name="flow-heun-digits",
            env_id="AdaGen/Flow-Heun-Digits-v0",
            process=partial(FlowProcess, solver="heun"),
            grid=CONTINUOUS_GRID,
            smoothing=0.8,
        ),
        Paradigm(
            name="var-digits",
            env_id="AdaGen/VAR-Digits-v0",
            process=VARProcess,
            grid={
                "guidance": [0.0, 1.5, 3.0],
                "top_k": [2, 4, None],
                "top_p": [0.8, 0.96, 1.0],
                "temperature": [0.7, 0.85, 1.0],
            },
            shipped_policies={4: "var_digits_policy_4steps.pt"},
        ),
    )
}
ENV_IDS: dict[str, Paradigm] = {p.env_id: p for p in PARADIGMS.values()}


def get_paradigm(name_or_env_id: str) -> Paradigm:
    """A paradigm by its process name (``maskgit-digits``) or its env id (``AdaGen/MaskGIT-Digits-v0``)."""
    found = PARADIGMS.get(name_or_env_id) or ENV_IDS.get(name_or_env_id)
    if found is None:
        raise ValueError(f"unknown environment {name_or_env_id!r}; choose one of {sorted(ENV_IDS)}")
    return found


def make_process(name_or_env_id: str, device: str | torch.device = "cpu", autocast: str | None = None) -> Process:
    """The process of a registered paradigm, with its shipped generator (``autocast``: None, "off" or "bf16")."""
    return get_paradigm(name_or_env_id).make_process(device, autocast)


def best_static_schedule(name_or_env_id: str, process: Process, num_steps: int) -> tuple[dict, torch.Tensor] | None:
    """The grid search's best static schedule at ``num_steps`` (its keyword arguments and values), if searched."""
    config = get_paradigm(name_or_env_id).best_static.get(num_steps)
    return None if config is None else (config, process.static_schedule(num_steps, **config))
