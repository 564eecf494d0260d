"""Policy files: ours (``.pt``) and SB3's (``.zip`` with a ``.json`` card beside it), read and checked.

Ours are read with ``torch.load(weights_only=True)`` and cannot run code. An SB3 ``.zip`` is a
pickle by SB3's design: load only files you trust. Every policy file carries a
:class:`~adagen_agents.card.PolicyCard`; what is not a policy of ours is one ``ValueError`` line
naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from adagen_agents.card import PolicyCard, card_from_legacy
from adagen_agents.files import CHECKPOINT_KEYS, POLICY_KEYS, describe
from adagen_agents.policy import ScheduleNet, label_classes
from adagen_agents.sb3_algorithms import SB3_ALGORITHMS, get_sb3_algorithm
from adagen_env.envs.core import flatten
from adagen_env.evaluation.generators import Act
from adagen_env.paradigms import PARADIGMS, get_paradigm
from adagen_env.processes.base import Process
from adagen_env.runtime.files import atomic_save, one_line, read_torch_file

CardCheck = Callable[[PolicyCard], None]  # refuses a policy by its card before it is loaded
SB3_UNSAFE = "loading it unpickled it, so code in the file may have run"


# ---------------------------------------------------------------------- our .pt files


def read_checkpoint(path: str | Path) -> dict:
    """The contents of a training checkpoint written by ``PPO.save``, its card read into ``card``;
    one-line ``ValueError`` if it is not one."""
    return _read_kind(
        path,
        CHECKPOINT_KEYS,
        "a PPO training checkpoint",
        "resume from the .pt file that adagen train (or PPO.save) wrote",
    )


def read_policy(path: str | Path) -> dict:
    """The actor, config and card of a checkpoint or an exported policy; one-line ``ValueError`` if neither."""
    return _read_kind(
        path, POLICY_KEYS, "a schedule policy", "expected a .pt file written by adagen train, PPO.save or export_policy"
    )


def _read_kind(path: str | Path, keys: frozenset[str], kind: str, hint: str) -> dict:
    """A ``.pt`` file that must hold at least ``keys`` (a legacy ``metadata`` counts as the card) and a
    well-formed policy; its card is checked and returned as a :class:`PolicyCard` under ``card``."""
    state = read_torch_file(path)
    if isinstance(state, dict) and "card" not in state and "metadata" in state:  # written before cards existed
        state = {**state, "card": card_from_legacy(state.pop("metadata"), str(path))}
    if not (isinstance(state, dict) and keys <= set(state)):
        raise ValueError(f"{path} is not {kind}: {describe(state)}; {hint}")
    if not isinstance(state["config"], dict) or not isinstance(state["config"].get("hidden"), int):
        raise ValueError(f"{path}: damaged policy file (its config has no network width)")
    if not isinstance(state["actor"], dict) or not all(isinstance(v, torch.Tensor) for v in state["actor"].values()):
        raise ValueError(f"{path}: damaged policy file (its actor is not a set of weights)")
    if not isinstance(state["card"], PolicyCard):
        state["card"] = PolicyCard.from_dict(state["card"], str(path))
    return state


def load_actor(
    path: str | Path, process: Process, process_name: str | None = None, check: CardCheck | None = None
) -> tuple[ScheduleNet, PolicyCard]:
    """The trained actor of a checkpoint or exported policy (eval mode, on the process's device) and its card.

    ``check(card)`` may refuse the policy before its network is built. With ``process_name``, a
    policy trained on another paradigm raises ``ValueError``; so do a policy trained on another
    diffusers pipeline (or class map, or guidance scale), a network that does not fit the process,
    and any file that is not a policy of ours.
    """
    state = read_policy(path)
    card = state["card"]
    if check is not None:
        check(card)
    _check_trained_on(path, card, process, process_name)
    actor = ScheduleNet(
        process.feature_dim,
        label_classes(process),
        len(process.parameters),
        state["config"]["hidden"],
        tradeoff=card.spec.tradeoff is not None,
    )
    try:
        actor.load_state_dict(state["actor"])
    except RuntimeError as e:
        raise ValueError(f"{path}: its policy network does not fit this env ({one_line(str(e))})") from e
    return actor.eval().requires_grad_(False).to(process.device), card


def export_policy(checkpoint: str | Path, out: str | Path) -> Path:
    """Keep only what sampling needs (actor, config, card) from a training checkpoint or policy."""
    state = read_policy(checkpoint)
    return atomic_save({"config": state["config"], "actor": state["actor"], "card": state["card"].to_dict()}, out)


# ---------------------------------------------------------------------- SB3 .zip files


def sb3_card_path(path: Path) -> Path:
    """Where the card of an SB3 ``.zip`` lies: the ``.json`` beside it."""
    return path.with_suffix(".json")


def read_sb3_card(path: str | Path) -> PolicyCard:
    """The card ``adagen train`` writes beside an SB3 ``.zip``; its algorithm must be a registered one."""
    card_path = sb3_card_path(Path(path))
    if not card_path.is_file():
        raise FileNotFoundError(f"an SB3 policy needs its card {card_path} (written by adagen train)")
    try:
        data = json.loads(card_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{card_path}: not a readable policy card ({e})") from e
    legacy = isinstance(data, dict) and "schema" not in data
    card = card_from_legacy(data, str(card_path)) if legacy else PolicyCard.from_dict(data, str(card_path))
    if card.algo not in SB3_ALGORITHMS:
        raise ValueError(f"{card_path}: unknown algorithm {card.algo!r}; expected one of {', '.join(SB3_ALGORITHMS)}")
    return card


def load_sb3_model(path: str | Path, algo: str, trust_pickle: bool = False, **kwargs: Any):
    """``algo``'s ``load(path)``. An SB3 ``.zip`` is a pickle by SB3's design: loading it runs whatever
    code it holds, so it is refused unless ``trust_pickle``; a file SB3 then cannot read is one line
    that says code may have run."""
    if not trust_pickle:
        raise ValueError(
            f"{path} is an SB3 model, a pickle that runs any code it holds when loaded; load it only "
            "if you trust where it came from (--trust-pickle, or trust_pickle=True)"
        )
    cls = get_sb3_algorithm(algo).load_class()
    try:
        return cls.load(path, **kwargs)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - zip, unpickling and SB3's own errors all mean "cannot read this file"
        detail = one_line(str(e)) or "no details"
        raise ValueError(f"{path}: not a readable {algo} model ({type(e).__name__}: {detail}); {SB3_UNSAFE}") from e


def sb3_act(model, flat_from: gym.spaces.Dict | None = None) -> Act:
    """An SB3 model's deterministic action for our Dict torch observations.

    ``flat_from``: the env's Dict observation space, for a model trained on flat observations
    (``observation_mode="flat"``). A recurrent model (sb3-contrib's ``RecurrentPPO``) carries its
    LSTM state from step to step and starts afresh when a batch starts (progress 0).
    """
    recurrent = hasattr(model.policy, "lstm_actor")
    state = None

    def act(observation: dict[str, torch.Tensor]) -> torch.Tensor:
        nonlocal state
        if flat_from is not None:
            obs = flatten(flat_from, observation).cpu().numpy()
        else:
            obs = {k: v.cpu().numpy() for k, v in observation.items()}
        if not recurrent:
            action, _ = model.predict(obs, deterministic=True)
        else:
            start = (observation["progress"][:, 0] == 0).cpu().numpy()
            state = None if start.all() else state
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        return torch.as_tensor(action)

    return act


# ---------------------------------------------------------------------- any policy


def shipped_policy(process_name: str, num_steps: int | None = None) -> Path:
    """The policy that ships in the package for a paradigm and ``num_steps`` (else the paradigm's
    default one); ``FileNotFoundError`` if none does."""
    path = get_paradigm(process_name).shipped_policy_path(num_steps)
    if path is None:
        shipped = sorted(name for name, p in PARADIGMS.items() if p.shipped_policies)
        raise FileNotFoundError(f"no policy ships for {process_name}; shipped: {', '.join(shipped)}")
    return path


def read_card(path: str | Path) -> PolicyCard:
    """The card of any policy file, read without building its network (nor unpickling an SB3 ``.zip``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no policy file at {path}")
    return read_sb3_card(path) if path.suffix == ".zip" else read_policy(path)["card"]


def load_policy(
    path: str | Path,
    process: Process,
    process_name: str | None,
    num_steps: int | None = None,
    trust_pickle: bool = False,
    check: CardCheck | None = None,
) -> tuple[Act, PolicyCard]:
    """A deterministic policy and its card; ``"shipped"`` is ours for the process (the one for
    ``num_steps`` if one ships, else the default).

    A ``.pt`` file cannot run code (``weights_only``); anything that is not a policy of ours is a
    one-line ``ValueError`` naming the file. A ``.zip`` is loaded by SB3, which unpickles it: only with
    ``trust_pickle``. ``check(card)`` may refuse the policy first, before any network or pickle loads.
    """
    if str(path) == "shipped":
        path = shipped_policy(process_name, num_steps)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no policy file at {path}")
    if path.suffix == ".zip":
        card = read_sb3_card(path)
        if check is not None:
            check(card)  # before SB3 unpickles the model
        _check_trained_on(path, card, process, process_name)
        model = load_sb3_model(path, card.algo, trust_pickle, device="cpu")
        flat_from = None
        if card.spec.observation_mode == "flat":
            from adagen_env.envs.core import ScheduleCore

            flat_from = ScheduleCore(process, 1, card.sampling_spec()).observation_space()
        return sb3_act(model, flat_from), card
    return load_actor(path, process, process_name, check)


def _check_trained_on(path: str | Path, card: PolicyCard, process: Process, process_name: str | None) -> None:
    if process_name is not None and card.process_name is not None and card.process_name != process_name:
        raise ValueError(f"{path} was trained on {card.process_name}, not {process_name}; pass its --env {card.env}")
    card.check_process(process, str(path))
