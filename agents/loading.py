"""Load a trained schedule policy, ours (``.pt``) or SB3's (``.zip`` with a ``.json`` beside it)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from adagen_env.evaluation import Act
from adagen_env.processes.base import Process
from agents.ppo import load_actor

WEIGHTS = Path(__file__).resolve().parent.parent / "adagen_env" / "weights"
# The policies shipped in the package, by process: each trained by
# `python -m benchmarks.learned_schedules train --env ENV --steps S --seed 0` and exported with export_policy.
SHIPPED_POLICIES = {
    "maskgit-digits": WEIGHTS / "maskgit_digits_policy_8steps.pt",
    "diffusion-digits": WEIGHTS / "diffusion_digits_policy_6steps.pt",  # --env AdaGen/Diffusion-Digits-v0 --steps 6 --minutes 8
    "flow-digits": WEIGHTS / "flow_digits_policy_6steps.pt",  # --env AdaGen/Flow-Digits-v0 --steps 6 --minutes 8
    "var-digits": WEIGHTS / "var_digits_policy_4steps.pt",  # --env AdaGen/VAR-Digits-v0 --steps 4 --minutes 8
}

def sb3_algorithm(name: str):
    from stable_baselines3 import A2C, SAC, TD3
    from stable_baselines3 import PPO as SB3PPO

    return {"sb3-ppo": SB3PPO, "sb3-sac": SAC, "sb3-td3": TD3, "sb3-a2c": A2C}[name]


def sb3_act(model) -> Act:
    """An SB3 model's deterministic action for our torch observations."""

    def act(observation: dict[str, torch.Tensor]) -> torch.Tensor:
        action, _ = model.predict({k: v.cpu().numpy() for k, v in observation.items()}, deterministic=True)
        return torch.as_tensor(action)

    return act


def sb3_metadata_path(path: Path) -> Path:
    return path.with_suffix(".json")


def load_policy(path: str | Path, process: Process, process_name: str) -> tuple[Act, dict]:
    """A deterministic policy and its metadata (env, num_steps, reward, algo); ``"shipped"`` is ours for the process."""
    if str(path) == "shipped":
        if process_name not in SHIPPED_POLICIES:
            raise FileNotFoundError(f"no policy ships for {process_name}; shipped: {sorted(SHIPPED_POLICIES)}")
        path = SHIPPED_POLICIES[process_name]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no policy file at {path}")
    if path.suffix == ".zip":
        meta_path = sb3_metadata_path(path)
        if not meta_path.is_file():
            raise FileNotFoundError(f"an SB3 policy needs its metadata file {meta_path} (written by adagen train)")
        metadata = json.loads(meta_path.read_text())
        if metadata.get("process", process_name) != process_name:
            raise ValueError(f"{path} was trained on {metadata['process']}, not {process_name}; pass its --env {metadata['env']}")
        model = sb3_algorithm(metadata["algo"]).load(path, device="cpu")
        return sb3_act(model), metadata
    actor, metadata = load_actor(path, process.feature_dim, process.num_classes, len(process.parameters), process_name)
    return actor.to(process.device), metadata
