"""Load a trained schedule policy, ours (``.pt``) or SB3's (``.zip`` with a ``.json`` beside it).

Ours are read with ``torch.load(weights_only=True)`` and cannot run code. An SB3 ``.zip`` is
a pickle by SB3's design: load only files you trust.
"""
from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import torch

from adagen_agents.files import one_line
from adagen_agents.ppo import load_actor, read_policy
from adagen_env.envs.core import flatten
from adagen_env.evaluation import Act
from adagen_env.paradigms import PARADIGMS, get_paradigm
from adagen_env.processes.base import Process

SB3_ALGOS = ("sb3-ppo", "sb3-sac", "sb3-td3", "sb3-a2c")


def sb3_algorithm(name: str):
    from stable_baselines3 import A2C, SAC, TD3
    from stable_baselines3 import PPO as SB3PPO

    return {"sb3-ppo": SB3PPO, "sb3-sac": SAC, "sb3-td3": TD3, "sb3-a2c": A2C}[name]


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


def sb3_metadata_path(path: Path) -> Path:
    return path.with_suffix(".json")


def read_sb3_metadata(path: str | Path) -> dict:
    """The ``.json`` that ``adagen train`` writes beside an SB3 ``.zip``: env, process, num_steps, reward, algo."""
    meta_path = sb3_metadata_path(Path(path))
    if not meta_path.is_file():
        raise FileNotFoundError(f"an SB3 policy needs its metadata file {meta_path} (written by adagen train)")
    try:
        metadata = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{meta_path}: not a readable metadata file ({e})") from e
    missing = {"env", "process", "num_steps", "reward", "algo"} - set(metadata if isinstance(metadata, dict) else ())
    if missing:
        raise ValueError(f"{meta_path}: not an adagen SB3 metadata file (missing {', '.join(sorted(missing))})")
    if metadata["algo"] not in SB3_ALGOS:
        raise ValueError(f"{meta_path}: unknown algorithm {metadata['algo']!r}; expected one of {', '.join(SB3_ALGOS)}")
    return metadata


def load_sb3_model(path: str | Path, algo: str, **kwargs):
    """``algo.load(path)``, with a one-line ``ValueError`` for a file SB3 cannot read. SB3 files are pickles."""
    try:
        return sb3_algorithm(algo).load(path, **kwargs)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001: zip, unpickling and SB3's own errors all mean "cannot read this file"
        raise ValueError(f"{path}: not a readable {algo} model ({type(e).__name__}: {one_line(str(e)) or 'no details'})") from e


def shipped_policy(process_name: str, num_steps: int | None = None) -> Path:
    """The policy that ships in the package for a paradigm and ``num_steps`` (else the paradigm's
    default one); ``FileNotFoundError`` if none does."""
    path = get_paradigm(process_name).shipped_policy_path(num_steps)
    if path is None:
        shipped = sorted(name for name, p in PARADIGMS.items() if p.shipped_policies)
        raise FileNotFoundError(f"no policy ships for {process_name}; shipped: {', '.join(shipped)}")
    return path


def policy_metadata(path: str | Path) -> dict:
    """What a policy file says about its training (env, generator, ...), read without building its network."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no policy file at {path}")
    return read_sb3_metadata(path) if path.suffix == ".zip" else read_policy(path)["metadata"]


def load_policy(path: str | Path, process: Process, process_name: str, num_steps: int | None = None) -> tuple[Act, dict]:
    """A deterministic policy and its metadata (env, num_steps, reward, algo); ``"shipped"`` is ours
    for the process (the one for ``num_steps`` if one ships, else the default).

    A ``.pt`` file cannot run code (``weights_only``); anything that is not a policy of ours is a
    one-line ``ValueError`` naming the file. A ``.zip`` is loaded by SB3, which unpickles it.
    """
    if str(path) == "shipped":
        path = shipped_policy(process_name, num_steps)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no policy file at {path}")
    if path.suffix == ".zip":
        metadata = read_sb3_metadata(path)
        if metadata["process"] != process_name:
            raise ValueError(f"{path} was trained on {metadata['process']}, not {process_name}; pass its --env {metadata['env']}")
        model = load_sb3_model(path, metadata["algo"], device="cpu")
        return sb3_act(model), metadata
    actor, metadata = load_actor(path, process.feature_dim, process.num_classes, len(process.parameters), process_name)
    if not isinstance(metadata.get("num_steps"), int) or "algo" not in metadata:
        raise ValueError(f"{path}: damaged policy file (its metadata lacks num_steps or algo)")
    return actor.to(process.device), metadata
