"""A learned policy as a static schedule, for users who want one: per class, the mean of the policy's
actions over samples, and the parameters those actions give (for a diffusers pipeline: explicit
timesteps and guidance scales, per step).

Why the mean of the actions: the env maps an action to its parameter the same way at every sample
(through the episode's baseline and smoothing), and a diffusers sample's timesteps depend on its
actions only, not on its noise. So one sequence of actions per class is a static schedule that the
env replays exactly, and the timesteps recorded on that replay are the ones every sample of the
class takes. The row ``all`` is the mean over classes: one schedule for every class (and the one a
text-to-image pipeline's new prompts get, since a prompt has no class).

The file holds plain JSON (the policy's card included) and is read without running code.
``adagen eval|sample --schedule FILE.json`` sample with it, refused for another generator, like the
policy it came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from adagen_agents.card import PolicyCard
from adagen_env.envs.core import ScheduleCore
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.evaluation.generators import Act
from adagen_env.processes.base import Process
from adagen_env.runtime.files import atomic_write_json

SCHEMA = 1
ALL = "all"  # the row of the mean over classes


@dataclass(frozen=True)
class ExportedSchedule:
    """``actions`` (R, T, P): one row per class (by label), then the row ``all``; ``rows``: what each
    row holds, with the parameters it gives per step (``values`` by name; a pipeline's ``timesteps``
    and, when it guides, ``guidance_scale``)."""

    card: PolicyCard
    class_names: tuple[str, ...]
    actions: torch.Tensor
    rows: tuple[dict[str, Any], ...]
    samples_per_class: int
    seed: int
    overrides: dict[str, Any]  # the sampling knobs given at export (e.g. num_steps), over the card's

    @property
    def spec(self) -> EpisodeSpec:
        """The episode the schedule was exported in and replays in: the card's sampling spec, overridden."""
        return self.card.sampling_spec(**self.overrides)

    @property
    def num_steps(self) -> int:
        return self.actions.shape[1]

    def act(self) -> Act:
        """The schedule as an act function: each sample takes its class's row (the row ``all`` where
        the observation has no class, as a text-to-image sample's), at its step."""

        def act(observation: dict[str, torch.Tensor]) -> torch.Tensor:
            progress = observation["progress"].reshape(-1).cpu()
            step = (progress * self.num_steps).round().long().clamp(max=self.num_steps - 1)
            if "label" in observation:
                rows = observation["label"].reshape(-1).cpu().long()
            else:
                rows = torch.full_like(step, len(self.class_names))
            return self.actions[rows, step]

        return act

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "card": self.card.to_dict(),
            "class_names": list(self.class_names),
            "samples_per_class": self.samples_per_class,
            "seed": self.seed,
            "overrides": self.overrides,
            "rows": [dict(row, actions=self.actions[i].tolist()) for i, row in enumerate(self.rows)],
        }

    def save(self, path: str | Path) -> Path:
        atomic_write_json(Path(path), self.to_dict())
        return Path(path)


def export_schedule(
    process: Process,
    act: Act,
    card: PolicyCard,
    class_names: tuple[str, ...] | list[str],
    samples_per_class: int = 64,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
) -> ExportedSchedule:
    """Run ``act`` (deterministic) on ``samples_per_class`` samples of each of ``process``'s classes with
    the card's sampling spec (with the sampling knobs ``overrides``), average its actions per class, and
    replay each mean to record the parameters it gives."""
    if samples_per_class < 1:
        raise ValueError(f"samples per class must be at least 1, got {samples_per_class}")
    overrides = dict(overrides or {})
    spec = card.sampling_spec(**overrides).replace(reward=None)
    means = []
    for label in range(process.num_classes):
        actions = _rollout(process, act, spec, torch.full((samples_per_class,), label), seed)
        means.append(actions.mean(dim=1))  # (T, P): the mean over the class's samples
    table = torch.stack([*means, torch.stack(means).mean(dim=0)])
    rows = []
    for row, name in enumerate([*class_names, ALL]):
        label = row if row < process.num_classes else 0  # the row "all": any class shows its parameters
        rows.append({"name": name, "label": None if name == ALL else row, **_replay(process, spec, table[row], label)})
    return ExportedSchedule(card, tuple(class_names), table, tuple(rows), samples_per_class, seed, overrides)


def read_exported(path: str | Path) -> ExportedSchedule:
    """An exported schedule (JSON, plain types); one line if the file is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--schedule: no file at {path}")
    try:
        data = json.loads(path.read_text())
        if data.get("schema") != SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA}")
        rows = tuple({k: v for k, v in row.items() if k != "actions"} for row in data["rows"])
        actions = torch.tensor([row["actions"] for row in data["rows"]], dtype=torch.float32)
        names = tuple(data["class_names"])
        if actions.ndim != 3 or len(actions) != len(names) + 1:
            raise ValueError(f"actions of shape {tuple(actions.shape)} for {len(names)} classes")
        card = PolicyCard.from_dict(data["card"], str(path))
        overrides = dict(data.get("overrides") or {})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{path}: not a schedule written by adagen export ({e})") from None
    return ExportedSchedule(card, names, actions, rows, int(data["samples_per_class"]), int(data["seed"]), overrides)


@torch.no_grad()
def _rollout(process: Process, act: Act, spec: EpisodeSpec, labels: torch.Tensor, seed: int) -> torch.Tensor:
    """The policy's actions (T, B, P) on a batch of ``labels``."""
    core = ScheduleCore(process, len(labels), spec)
    observation, actions = core.reset(labels, seed), []
    for _ in range(core.num_steps):
        action = act(observation)
        actions.append(torch.as_tensor(action, dtype=torch.float32).cpu())
        observation, _, _, _ = core.step(action)
    return torch.stack(actions)


@torch.no_grad()
def _replay(process: Process, spec: EpisodeSpec, actions: torch.Tensor, label: int) -> dict[str, Any]:
    """The parameters one sample of ``label`` takes under ``actions`` (T, P), per step; a diffusers
    pipeline's model timesteps (where each step calls the model) and guidance scales."""
    core = ScheduleCore(process, 1, spec)
    core.reset(torch.tensor([label]), 0)
    values: dict[str, list[float]] = {}
    timesteps = []
    for step in range(core.num_steps):
        state = core.state
        if hasattr(state, "t"):
            timesteps.append(float(state.t[0]))
        _, _, _, parameters = core.step(actions[step][None])
        for name, value in parameters.items():
            values.setdefault(name, []).append(float(value.reshape(-1)[0]))
    row: dict[str, Any] = {"values": values}
    if getattr(process, "config_sha256", None) is not None:  # a diffusers pipeline: its own time line
        integer = getattr(process, "solver", None) != "euler"
        row["timesteps"] = [int(round(t)) if integer else t for t in timesteps]
        if "guidance" in values:
            row["guidance_scale"] = [1.0 + w for w in values["guidance"]]
    return row
