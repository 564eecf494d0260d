"""Batched PPO for schedule policies, following AdaNAT's training code (METHOD.md), in torch throughout.

Rollouts talk to the native vector env's torch core (no numpy round trips): one episode batch
is ``num_envs`` samples generated together. The reward is terminal, gamma is 1, so every
step's return is the episode's final reward (Monte-Carlo); returns are normalised over the
update batch, and the advantage is the normalised return minus the value. Actions are
Gaussian with a *fixed, scheduled* standard deviation; evaluation uses the mean.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from adagen_env.envs import ScheduleVectorEnv
from agents.policy import ScheduleNet


@dataclass
class PPOConfig:
    episodes_per_update: int = 512  # trajectories per PPO update (a multiple of the env's num_envs)
    learning_rate: float = 3e-4
    epochs: int = 10  # passes over the update batch
    minibatches: int = 64  # many small gradient steps per update (640, as SB3's PPO defaults take); 4 learned far slower
    clip: float = 0.2
    value_coef: float = 0.5
    max_grad_norm: float = 1.0
    std_start: float = 0.6  # action std (in action units; the env maps an action of 1 to its action_scale)
    std_end: float = 0.3  # METHOD.md's 0.6 then 0.3; 0.3 from the start learned about 3x slower
    std_switch_update: int = 30  # std drops from std_start to std_end after this many updates
    hidden: int = 128
    seed: int = 0


Callback = Callable[["PPO", dict[str, float]], bool | None]


class PPO:
    """``PPO(env).learn(n)`` trains; ``save``/``load`` keep everything needed to resume."""

    def __init__(self, env: ScheduleVectorEnv, config: PPOConfig | None = None):
        self.env, self.config = env, config or PPOConfig()
        self.core = env.core
        c = self.config
        if c.episodes_per_update % env.num_envs:
            raise ValueError(f"episodes_per_update ({c.episodes_per_update}) must be a multiple of num_envs ({env.num_envs})")
        process = self.core.process
        action_dim = self.core.num_parameters
        torch.manual_seed(c.seed)
        self.actor = ScheduleNet(process.feature_dim, process.num_classes, action_dim, c.hidden).to(process.device)
        self.critic = ScheduleNet(process.feature_dim, process.num_classes, 1, c.hidden, zero_init=False).to(process.device)
        self.optimizer = torch.optim.Adam([*self.actor.parameters(), *self.critic.parameters()], lr=c.learning_rate)
        self.noise = torch.Generator(process.device).manual_seed(c.seed)
        self.np_random = np.random.default_rng(c.seed)
        self.updates = 0
        self.episodes = 0
        self.seconds = 0.0  # wall time spent in learn(), over all resumed runs
        self.first_reset = True

    def std(self) -> float:
        return self.config.std_start if self.updates < self.config.std_switch_update else self.config.std_end

    @torch.no_grad()
    def predict(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """The mean action for a batch of torch observations: what evaluation and sampling use."""
        return self.actor(observation)

    @torch.no_grad()
    def collect(self) -> dict[str, torch.Tensor]:
        """Run ``episodes_per_update / num_envs`` episode batches with Gaussian exploration."""
        observations, actions, log_probs, final_rewards = [], [], [], []
        std = self.std()
        for _ in range(self.config.episodes_per_update // self.env.num_envs):
            seed = self.config.seed if self.first_reset else None
            obs = self.core.reset(self.core.draw_labels(self.np_random), seed, self.np_random)
            self.first_reset = False
            for _ in range(self.core.num_steps):
                mean = self.actor(obs)
                action = mean + std * torch.randn(mean.shape, generator=self.noise, device=mean.device)
                observations.append({k: obs[k] for k in ("features", "progress", "label")})
                actions.append(action)
                log_probs.append(_log_prob(mean, std, action))
                obs, reward, _, _ = self.core.step(action)
            final_rewards.append(reward)
            self.episodes += self.env.num_envs
        # gamma = 1 and a terminal reward: every step's return is its episode's final reward
        returns = [r for r in final_rewards for _ in range(self.core.num_steps)]
        return {
            "observation": {k: torch.cat([o[k] for o in observations]) for k in observations[0]},
            "action": torch.cat(actions),
            "log_prob": torch.cat(log_probs),
            "return": torch.cat(returns),
            "final_reward": torch.cat(final_rewards),
        }

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        c, std = self.config, self.std()
        returns = batch["return"]
        normalised = (returns - returns.mean()) / (returns.std() + 1e-8)
        n = len(returns)
        policy_losses, value_losses, clip_fractions = [], [], []
        for _ in range(c.epochs):
            for idx in torch.randperm(n, generator=self.noise, device=returns.device).chunk(c.minibatches):
                obs = {k: v[idx] for k, v in batch["observation"].items()}
                value = self.critic(obs)[:, 0]
                advantage = normalised[idx] - value.detach()
                ratio = torch.exp(_log_prob(self.actor(obs), std, batch["action"][idx]) - batch["log_prob"][idx])
                surrogate = torch.min(ratio * advantage, ratio.clamp(1 - c.clip, 1 + c.clip) * advantage)
                policy_loss = -surrogate.mean()
                value_loss = nn.functional.mse_loss(value, normalised[idx])
                self.optimizer.zero_grad(set_to_none=True)
                (policy_loss + c.value_coef * value_loss).backward()
                nn.utils.clip_grad_norm_([*self.actor.parameters(), *self.critic.parameters()], c.max_grad_norm)
                self.optimizer.step()
                policy_losses.append(policy_loss.item())
                value_losses.append(value_loss.item())
                clip_fractions.append(((ratio - 1).abs() > c.clip).float().mean().item())
        self.updates += 1
        return {
            "policy_loss": float(np.mean(policy_losses)),
            "value_loss": float(np.mean(value_losses)),
            "clip_fraction": float(np.mean(clip_fractions)),
            "std": std,
        }

    def learn(self, num_updates: int, callback: Callback | None = None) -> "PPO":
        """Run ``num_updates`` more updates; ``callback(self, stats)`` after each may return False to stop."""
        for _ in range(num_updates):
            start = time.perf_counter()
            batch = self.collect()
            stats = self.update(batch)
            stats.update(
                update=self.updates,
                episodes=self.episodes,
                reward_mean=batch["final_reward"].mean().item(),
                reward_std=batch["final_reward"].std().item(),
                seconds=time.perf_counter() - start,
            )
            self.seconds += stats["seconds"]
            if callback is not None and callback(self, stats) is False:
                break
        return self

    def state_dict(self) -> dict:
        scorer = self.core.scorer
        return {
            "config": asdict(self.config),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
            "episodes": self.episodes,
            "seconds": self.seconds,
            "noise": self.noise.get_state(),
            "np_random": self.np_random.bit_generator.state,
            "env_generator": self.core.generator.get_state(),
            "scorer": scorer.state_dict() if hasattr(scorer, "state_dict") else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates, self.episodes, self.seconds = state["updates"], state["episodes"], state["seconds"]
        self.noise.set_state(state["noise"])
        self.np_random.bit_generator.state = state["np_random"]
        self.core.generator.set_state(state["env_generator"])
        self.core.seeded = True
        self.first_reset = False
        if state["scorer"] is not None:
            self.core.scorer.load_state_dict(state["scorer"])

    def save(self, path: str | Path, **metadata) -> Path:
        """Write a checkpoint (atomically: a crash while saving leaves the previous one intact)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save({**self.state_dict(), "metadata": metadata}, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, env: ScheduleVectorEnv) -> "PPO":
        state = torch.load(path, map_location=env.core.process.device, weights_only=False)
        agent = cls(env, PPOConfig(**state["config"]))
        agent.load_state_dict(state)
        return agent


def _log_prob(mean: torch.Tensor, std: float, action: torch.Tensor) -> torch.Tensor:
    return torch.distributions.Normal(mean, std).log_prob(action).sum(-1)


def load_actor(
    path: str | Path, feature_dim: int, num_classes: int, action_dim: int, process_name: str | None = None
) -> tuple[ScheduleNet, dict]:
    """The trained actor of a checkpoint (eval mode), and the checkpoint's metadata (env, steps, reward).

    With ``process_name``, a checkpoint trained on another process raises ``ValueError``.
    """
    state = torch.load(path, map_location="cpu", weights_only=False)
    trained_on = state["metadata"].get("process", process_name)
    if process_name is not None and trained_on != process_name:
        raise ValueError(f"{path} was trained on {trained_on}, not {process_name}; pass its --env {state['metadata'].get('env')}")
    actor = ScheduleNet(feature_dim, num_classes, action_dim, state["config"]["hidden"])
    actor.load_state_dict(state["actor"])
    return actor.eval().requires_grad_(False), state["metadata"]


def export_policy(checkpoint: str | Path, out: str | Path) -> Path:
    """Keep only what sampling needs (actor, config, metadata) from a training checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    out = Path(out)
    torch.save({key: state[key] for key in ("config", "actor", "metadata")}, out)
    return out
