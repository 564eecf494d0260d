"""Batched PPO for schedule policies, following AdaNAT's training code (docs/method.md), in torch throughout.

Rollouts talk to the native vector env's torch core (no numpy round trips): one episode batch
is ``num_envs`` samples generated together. The reward is terminal and gamma is 1 by default, so
every step's return is the episode's final reward (Monte-Carlo); returns are normalised over the
update batch, and the advantage is the normalised return minus the value. Actions are
Gaussian with a *fixed, scheduled* standard deviation; evaluation uses the mean.

What SB3's PPO (and sb3-contrib's TRPO) do differently is a field each, off by default: a learned
state-independent log-std (``learned_std``), advantages from the critic's values at rollout time
(``rollout_values``) with GAE (``gae_lambda``) and value clipping (``clip_value``), per-minibatch
advantage normalisation (``normalize_advantage``), a KL early stop (``target_kl``), orthogonal
initialisation (``orthogonal_init``) and a discount (``gamma``). Episodes here end by termination at
a fixed step, never by a time limit, so SB3's bootstrap at truncation has nothing to act on.

Checkpoints (``save`` / ``load``) hold plain data and tensors only, loaded with
``torch.load(weights_only=True)``, and the policy card (:mod:`adagen_agents.card`): a checkpoint
resumes only in an env of the episode spec it was trained in.
"""

from __future__ import annotations

import copy
import math
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from adagen_agents.card import PolicyCard
from adagen_agents.loading import read_checkpoint
from adagen_agents.policy import ScheduleNet, label_classes
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.envs.spec import spec_differences
from adagen_env.runtime import distributed
from adagen_env.runtime.files import atomic_save, one_line


def _field(default: Any, help: str, flags: tuple[str, ...] = ()) -> Any:
    """A config field; ``help`` (and extra command-line ``flags``) feed ``adagen train --help``."""
    return field(default=default, metadata={"help": help, "flags": flags})


@dataclass
class PPOConfig:
    """Every hyperparameter of our PPO; ``adagen train`` has one flag per field, with these defaults."""

    # 256 (SB3's 2,048 env steps per rollout on MaskGIT's 8 steps) learned more per sample than 512 on
    # AdaGen-Bench's tuning seeds (benchmarks/tune_ppo.py: normalised score 1.18 vs 0.99 at 12,288 samples)
    episodes_per_update: int = _field(256, "episodes (samples) per PPO update, a multiple of --num-envs")
    learning_rate: float = _field(3e-4, "Adam learning rate of actor and critic", ("--lr",))
    epochs: int = _field(10, "passes over each update's batch")
    # many small gradient steps per update (320, minibatches of 64 env steps, as SB3's PPO defaults
    # take); 4 minibatches learned far slower
    minibatches: int = _field(32, "minibatches per epoch (gradient steps per update = epochs x minibatches)")
    clip: float = _field(0.2, "PPO clip range of the probability ratio")
    value_coef: float = _field(0.5, "weight of the value loss")
    max_grad_norm: float = _field(1.0, "gradient norm clip")
    # the method's 0.6 then 0.3 (docs/method.md); 0.3 from the start learned about 3x slower
    std_start: float = _field(0.6, "exploration std of the actions (action units) before --std-switch-update")
    std_end: float = _field(0.3, "exploration std from --std-switch-update on")
    std_switch_update: int = _field(30, "the update at which the exploration std drops to --std-end")
    hidden: int = _field(128, "width of the policy and value networks")
    seed: int = _field(0, "seed of the networks, the exploration noise and the env's labels and noise")
    # what SB3's PPO and sb3-contrib's TRPO do differently, one field each, off by default (today's PPO);
    # benchmarks/tune_ppo.py --suite lite compares them on tuning seeds (docs/agents.md)
    learned_std: bool = _field(
        False,
        "learn a state-independent log-std per action (SB3's), starting at --std-start; "
        "--std-end and --std-switch-update then do nothing",
    )
    rollout_values: bool = _field(
        False,
        "advantages from the critic's values at rollout time, computed once per update (SB3), "
        "instead of from the current critic at every minibatch",
    )
    gae_lambda: float = _field(
        1.0, "GAE lambda over the rollout-time values (SB3: 0.95; 1 is Monte-Carlo); below 1 needs --rollout-values"
    )
    normalize_advantage: bool = _field(False, "normalise the advantages to zero mean, unit std per minibatch (SB3)")
    clip_value: float = _field(
        0.0,
        "clip the value around its rollout-time value by this much (SB3's clip_range_vf; 0: off); "
        "needs --rollout-values",
    )
    target_kl: float = _field(
        0.0, "stop an update's epochs at the first minibatch whose approximate KL exceeds 1.5 x this (SB3; 0: off)"
    )
    orthogonal_init: bool = _field(
        False, "orthogonal initialisation (SB3's gains: sqrt 2 hidden, 1 value output; the policy output stays zero)"
    )
    # the reward is terminal, so a discount does not just rescale it: it gives early steps less credit
    gamma: float = _field(
        1.0,
        "discount per step: step t's return is gamma^(steps-1-t) x the normalised final reward "
        "(SB3: 0.99; SB3's PPO tuned on the lite suite picked 0.81)",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise ValueError(f"PPOConfig.{f.name} must be true or false, got {value!r}")
                continue
            kind = int if f.type in ("int", int) else float
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (kind is int and not isinstance(value, int))
            ):
                raise ValueError(
                    f"PPOConfig.{f.name} must be {'an integer' if kind is int else 'a number'}, got {value!r}"
                )
        positive = (
            "episodes_per_update",
            "learning_rate",
            "epochs",
            "minibatches",
            "clip",
            "max_grad_norm",
            "std_start",
            "std_end",
            "hidden",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"PPOConfig.{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.seed <= 2**63 - 1:
            raise ValueError(f"PPOConfig.seed must be in 0..2**63-1, got {self.seed}")
        if self.value_coef < 0 or self.std_switch_update < 0:
            raise ValueError("PPOConfig.value_coef and std_switch_update must not be negative")
        if not 0 < self.gae_lambda <= 1:
            raise ValueError(f"PPOConfig.gae_lambda must be in (0, 1], got {self.gae_lambda}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"PPOConfig.gamma must be in (0, 1], got {self.gamma}")
        if self.clip_value < 0 or self.target_kl < 0:
            raise ValueError("PPOConfig.clip_value and target_kl must not be negative (0 turns them off)")
        if not self.rollout_values and (self.gae_lambda < 1 or self.clip_value > 0):
            raise ValueError(
                "PPOConfig.gae_lambda below 1 and clip_value need rollout_values (the rollout-time values)"
            )


# the fields added after checkpoints were first written, at the values every earlier checkpoint ran with:
# a checkpoint without them resumes as it ran, whatever the defaults say now
BEFORE_PORT = {
    "learned_std": False,
    "rollout_values": False,
    "gae_lambda": 1.0,
    "normalize_advantage": False,
    "clip_value": 0.0,
    "target_kl": 0.0,
    "orthogonal_init": False,
    "gamma": 1.0,
}

Callback = Callable[["PPO", dict[str, float]], bool | None]
RANK_KEYS = ("noise", "first_reset", "env")  # the parts of a checkpoint that differ between torchrun ranks


class OutOfTime(Exception):
    """Raised inside a rollout or an update when ``learn``'s time budget is spent."""


class Diverged(ValueError):
    """An update gave a non-finite loss or weights (a learning rate too large, say); it was undone."""


class PPO:
    """``PPO(env).learn(n)`` trains; ``save``/``load`` keep everything needed to resume exactly.

    Under ``torchrun`` (a process group of several ranks, ``adagen_env.runtime.distributed``) every rank
    runs this same code on its own env: it generates ``episodes_per_update / world_size``
    episodes with its own noise, the gradients of actor and critic are averaged over the ranks
    (so the networks stay identical), the returns are normalised and the statistics computed
    over all ranks, and ``save`` gathers every rank's random and env state into one checkpoint.
    """

    def __init__(self, env: ScheduleVectorEnv, config: PPOConfig | None = None):
        self.env, self.config = env, config or PPOConfig()
        self.core = env.core
        c = self.config
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        per_update = self.core.num_envs * self.world_size
        if c.episodes_per_update % per_update:
            ranks = f" x world size {self.world_size}" if self.world_size > 1 else ""
            raise ValueError(
                f"episodes_per_update ({c.episodes_per_update}) must be a multiple of "
                f"num_envs ({self.core.num_envs}){ranks}"
            )
        process = self.core.process
        if self.world_size > 1:  # one run in several processes: they must agree on what they train
            settings = {
                **asdict(c),
                "process": type(process).__name__,
                "num_envs": self.core.num_envs,
                **self.core.spec.to_dict(),
                "device": torch.device(process.device).type,
            }
            for other, theirs in enumerate(distributed.all_gather(settings)):
                if theirs != settings:
                    differ = {k: (settings[k], theirs[k]) for k in settings if settings[k] != theirs[k]}
                    raise ValueError(
                        f"torchrun ranks {self.rank} and {other} disagree on {differ} (this rank's, theirs); "
                        f"every rank must run the same command"
                    )
        action_dim = self.core.num_parameters
        # seeded initialisation without touching torch's global random state (nor any GPU's)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(c.seed)
            conditioned = self.core.spec.tradeoff is not None  # the networks read the trade-off value
            self.actor = ScheduleNet(
                process.feature_dim, label_classes(process), action_dim, c.hidden, tradeoff=conditioned
            )
            self.critic = ScheduleNet(
                process.feature_dim, label_classes(process), 1, c.hidden, zero_init=False, tradeoff=conditioned
            )
            if c.orthogonal_init:
                _orthogonal_init(self.actor, None)
                _orthogonal_init(self.critic, 1.0)
        self.actor.to(process.device)
        self.critic.to(process.device)
        # learned_std: the log-std is a parameter of its own (not the actor's: policy files keep the actor alone)
        self.log_std = (
            nn.Parameter(torch.full((action_dim,), math.log(c.std_start), device=process.device))
            if c.learned_std
            else None
        )
        self.optimizer = torch.optim.Adam(self._parameters(), lr=c.learning_rate, foreach=True)
        self.noise = torch.Generator(process.device).manual_seed(distributed.rank_seed(c.seed))
        self.updates = 0
        self.episodes = 0
        self.seconds = 0.0  # wall time spent in rollouts and updates, over all resumed runs
        self.first_reset = True  # the first episode batch reseeds the env with config.seed
        self.stopped_by_time = False  # whether the last learn() ended because its time budget was spent
        self.clock: Callable[[], float] = time.perf_counter
        self._deadline: float | None = None
        self._signalled = False  # a rank got SIGINT / SIGTERM while training under torchrun

    def _parameters(self) -> list[nn.Parameter]:
        """Everything the optimiser trains: actor, critic and the learned log-std if there is one."""
        return [
            *self.actor.parameters(),
            *self.critic.parameters(),
            *([self.log_std] if self.log_std is not None else []),
        ]

    def std(self) -> float:
        """The exploration std in action units (a learned one: its mean over the actions)."""
        if self.log_std is not None:
            return self.log_std.detach().exp().mean().item()
        return self.config.std_start if self.updates < self.config.std_switch_update else self.config.std_end

    def _exploration_std(self) -> float | torch.Tensor:
        """What the Gaussian uses: the scheduled float, or the learned per-action std (with its gradient)."""
        return self.log_std.exp() if self.log_std is not None else self.std()

    @torch.no_grad()
    def predict(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """The mean action for a batch of torch observations: what evaluation and sampling use."""
        return self.actor(observation)

    def _check_time(self) -> None:
        """Raise ``OutOfTime`` when the budget is spent; under torchrun all ranks agree, at the same
        point, on that and on a Ctrl-C of any rank (raised as ``KeyboardInterrupt`` on every rank)."""
        late = self._deadline is not None and self.clock() >= self._deadline
        if self.world_size > 1:
            late, signalled = distributed.any_rank([late, self._signalled])
            if signalled:
                raise KeyboardInterrupt("stopped on every rank after a signal to one")
        if late:
            raise OutOfTime

    @torch.no_grad()
    def collect(self) -> dict[str, torch.Tensor]:
        """Run ``episodes_per_update / num_envs`` episode batches with Gaussian exploration."""
        observations, actions, log_probs, final_rewards = [], [], [], []
        std = self._exploration_std()
        for _ in range(self.config.episodes_per_update // (self.core.num_envs * self.world_size)):
            self._check_time()
            obs = (
                self.core.reset(seed=distributed.rank_seed(self.config.seed)) if self.first_reset else self.core.reset()
            )
            self.first_reset = False
            for _ in range(self.core.num_steps):
                mean = self.actor(obs)
                action = mean + std * torch.randn(mean.shape, generator=self.noise, device=mean.device)
                observations.append({k: obs[k] for k in ("features", "progress", "label", "tradeoff") if k in obs})
                actions.append(action)
                log_probs.append(_log_prob(mean, std, action))
                obs, reward, _, _ = self.core.step(action)
            final_rewards.append(reward)
        # a terminal reward: every step's undiscounted return is its episode's final reward (``update``
        # discounts it when gamma < 1)
        returns = [r for r in final_rewards for _ in range(self.core.num_steps)]
        return {
            "observation": {k: torch.cat([o[k] for o in observations]) for k in observations[0]},
            "action": torch.cat(actions),
            "log_prob": torch.cat(log_probs),
            "return": torch.cat(returns),
            "final_reward": torch.cat(final_rewards),
        }

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        c = self.config
        returns = batch["return"]
        # over every rank's returns; one process keeps torch's own, so its runs are as before, bit for bit
        mean, spread = _mean_std(returns) if self.world_size > 1 else (returns.mean(), returns.std())
        normalised = (returns - mean) / (spread + 1e-8)
        if c.gamma < 1:  # discount the normalised terminal reward back to each step
            normalised = _discounted(normalised, self.core.num_steps, self.core.num_envs, c.gamma)
        n = len(returns)
        old_values = advantages = targets = None
        if c.rollout_values:  # the critic has not changed since the rollout: these are its values then
            with torch.no_grad():
                old_values = self.critic(batch["observation"])[:, 0]
            advantages = _gae(normalised, old_values, self.core.num_steps, self.core.num_envs, c.gae_lambda, c.gamma)
            targets = advantages + old_values  # the TD(lambda) returns (lambda 1: the normalised returns)
        parameters = self._parameters()
        policy_losses, value_losses, clip_fractions, kls = [], [], [], []
        stopped = False
        for _ in range(c.epochs):
            for idx in torch.randperm(n, generator=self.noise, device=returns.device).chunk(c.minibatches):
                self._check_time()
                obs = {k: v[idx] for k, v in batch["observation"].items()}
                value = self.critic(obs)[:, 0]
                if advantages is None:
                    advantage, target = normalised[idx] - value.detach(), normalised[idx]
                else:
                    advantage, target = advantages[idx], targets[idx]
                if c.normalize_advantage and len(idx) > 1:
                    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
                log_ratio = (
                    _log_prob(self.actor(obs), self._exploration_std(), batch["action"][idx]) - batch["log_prob"][idx]
                )
                ratio = torch.exp(log_ratio)
                if c.target_kl > 0:  # SB3's estimate, before this minibatch's step; ranks agree on the mean
                    kl = distributed.all_sum(((ratio - 1) - log_ratio).mean().detach()) / self.world_size
                    kls.append(kl.item())
                    if kl.item() > 1.5 * c.target_kl:
                        stopped = True
                        break
                surrogate = torch.min(ratio * advantage, ratio.clamp(1 - c.clip, 1 + c.clip) * advantage)
                policy_loss = -surrogate.mean()
                if c.clip_value > 0:
                    value = old_values[idx] + (value - old_values[idx]).clamp(-c.clip_value, c.clip_value)
                value_loss = nn.functional.mse_loss(value, target)
                # one process stops at the first bad loss; ranks, whose losses differ, at the weights (below)
                if self.world_size == 1 and not (torch.isfinite(policy_loss) and torch.isfinite(value_loss)):
                    raise Diverged(
                        f"update {self.updates + 1} diverged: policy loss {policy_loss.item():.3g}, "
                        f"value loss {value_loss.item():.3g} (a learning rate too large?)"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                (policy_loss + c.value_coef * value_loss).backward()
                distributed.average_gradients(parameters)
                nn.utils.clip_grad_norm_(parameters, c.max_grad_norm)
                self.optimizer.step()
                policy_losses.append(policy_loss.item())
                value_losses.append(value_loss.item())
                clip_fractions.append(((ratio - 1).abs() > c.clip).float().mean().item())
            if stopped:
                break
        if not all(torch.isfinite(p).all() for p in parameters):
            raise Diverged(f"update {self.updates + 1} diverged: non-finite weights (a learning rate too large?)")
        std = self.std()  # after the update: a learned std has moved
        self.updates += 1
        losses = torch.tensor([_mean(policy_losses), _mean(value_losses), _mean(clip_fractions)], dtype=torch.float64)
        policy_loss, value_loss, clip_fraction = (distributed.all_sum(losses) / self.world_size).tolist()
        stats = {"policy_loss": policy_loss, "value_loss": value_loss, "clip_fraction": clip_fraction, "std": std}
        if c.target_kl > 0:
            stats.update(approx_kl=_mean(kls), gradient_steps=float(len(policy_losses)))
        return stats

    def learn(self, num_updates: int, callback: Callback | None = None, max_seconds: float | None = None) -> PPO:
        """Run up to ``num_updates`` more updates; ``callback(self, stats)`` after each may return False to stop.

        ``max_seconds`` caps ``self.seconds``, the training time (rollouts and updates, not the
        callback) summed over resumed runs. It is checked between the episode batches of a
        rollout and between the minibatches of an update, so the cap overruns by at most one of
        those. An update cut short (by the budget or by Ctrl-C, ``KeyboardInterrupt``, which is
        re-raised) is undone whole: networks, optimiser, random states, the env's and the
        reward's state. So the agent stays exactly as after its last whole update, a checkpoint
        saved then resumes exactly, and ``episodes`` counts only finished updates.
        ``stopped_by_time`` tells whether the budget ended the call. Under torchrun, SIGINT or
        SIGTERM to any rank stops every rank at the same point with ``KeyboardInterrupt``.
        """
        self.stopped_by_time = False
        if self.world_size == 1:
            return self._learn(num_updates, callback, max_seconds)
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def flag(signum: int, frame: object) -> None:
            self._signalled = True

        for sig in previous:
            signal.signal(sig, flag)
        try:
            return self._learn(num_updates, callback, max_seconds)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._signalled = False

    def _learn(self, num_updates: int, callback: Callback | None, max_seconds: float | None) -> PPO:
        for _ in range(num_updates):
            if max_seconds is not None and self.seconds >= max_seconds:
                self.stopped_by_time = True
                break
            start = self.clock()
            self._deadline = None if max_seconds is None else start + (max_seconds - self.seconds)
            before = self._snapshot()
            try:
                batch = self.collect()
                stats = self.update(batch)
            except (OutOfTime, KeyboardInterrupt, Diverged) as stop:
                self._restore(before)  # a checkpoint saved now resumes exactly
                self.seconds += self.clock() - start
                if isinstance(stop, (KeyboardInterrupt, Diverged)):
                    raise
                self.stopped_by_time = True
                break
            finally:
                self._deadline = None
            self.episodes += self.config.episodes_per_update
            rewards = batch["final_reward"]
            reward_mean, reward_std = _mean_std(rewards) if self.world_size > 1 else (rewards.mean(), rewards.std())
            stats.update(
                update=self.updates,
                episodes=self.episodes,
                reward_mean=reward_mean.item(),
                reward_std=reward_std.item(),
                seconds=self.clock() - start,
            )
            self.seconds += stats["seconds"]
            if callback is not None and callback(self, stats) is False:
                break
        return self

    def _snapshot(self) -> dict:
        """Everything an update changes, copied (state dicts hold references to live tensors)."""
        return copy.deepcopy(
            {
                "actor": self.actor.state_dict(),
                "critic": self.critic.state_dict(),
                "log_std": None if self.log_std is None else self.log_std.detach(),
                "optimizer": self.optimizer.state_dict(),
                "noise": self.noise.get_state(),
                "env": self.core.state_dict(),
                "first_reset": self.first_reset,
            }
        )

    def _restore(self, snapshot: dict) -> None:
        self.actor.load_state_dict(snapshot["actor"])
        self.critic.load_state_dict(snapshot["critic"])
        self._load_log_std(snapshot["log_std"])
        self.optimizer.load_state_dict(snapshot["optimizer"])
        self.noise.set_state(snapshot["noise"])
        self.core.load_state_dict(snapshot["env"])
        self.first_reset = snapshot["first_reset"]

    def state_dict(self) -> dict:
        """Plain data and tensors only (loadable with ``weights_only=True``). Under torchrun every
        rank must call it: rank 0's copy also holds ``world_size`` and ``ranks``, every rank's own
        random and env state (the networks and the optimiser are the same on all ranks)."""
        state = {
            "config": asdict(self.config),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
            "episodes": self.episodes,
            "seconds": self.seconds,
            "noise": self.noise.get_state(),
            "first_reset": self.first_reset,
            "env": self.core.state_dict(),
            "device": torch.device(self.core.process.device).type,  # random states are device-specific
        }
        if self.log_std is not None:
            state["log_std"] = self.log_std.detach().clone()
        if self.world_size > 1:
            own = {key: state[key] for key in RANK_KEYS}
            state.update(world_size=self.world_size, ranks=distributed.gather_to_rank0(own))
        return state

    def load_state_dict(self, state: dict) -> None:
        if state.get("world_size", 1) > 1:  # a torchrun checkpoint: this rank's own random and env state
            state = {**state, **state["ranks"][self.rank]}
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self._load_log_std(state.get("log_std"))
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates, self.episodes, self.seconds = state["updates"], state["episodes"], state["seconds"]
        self.noise.set_state(state["noise"])
        if "env" in state:
            self.first_reset = state.get("first_reset", False)
            self.core.load_state_dict(state["env"])
        else:  # checkpoints written before the env core had its own state_dict
            self.first_reset = False
            self.core.load_state_dict(
                {
                    "np_random": state["np_random"],
                    "generator": state["env_generator"],
                    "seeded": True,
                    "scorer": state["scorer"],
                }
            )

    def _load_log_std(self, log_std: torch.Tensor | None) -> None:
        if (log_std is None) != (self.log_std is None):
            raise KeyError("log_std (the checkpoint and its config disagree on learned_std)")
        if log_std is not None:
            with torch.no_grad():
                self.log_std.copy_(log_std)

    def save(self, path: str | Path, card: PolicyCard | None = None) -> Path:
        """Write a checkpoint with its policy ``card`` (default: this env's spec, algorithm ppo, no env
        id), atomically: a crash while saving leaves the previous one intact. Under torchrun every
        rank calls it, rank 0 writes the file, and all return once it is written."""
        card = PolicyCard.of(self.core, "ppo") if card is None else card
        differ = spec_differences(card.spec, self.core.spec, tuple(card.spec.to_dict()))
        if differ:
            raise ValueError(f"the card's episode spec is not this agent's env's: {differ} (card's, env's)")
        path = Path(path)
        state = self.state_dict()
        if self.rank == 0:
            atomic_save({**state, "card": card.to_dict()}, path)
        distributed.barrier()  # when save returns, every rank can read the file
        return path

    @classmethod
    def load(cls, path: str | Path, env: ScheduleVectorEnv) -> PPO:
        """Resume from a checkpoint of ``save``; ``ValueError`` (one line, naming the file) if it is not
        one, or if ``env`` runs another episode, or another diffusers pipeline, than the one it was trained in."""
        state = read_checkpoint(path)
        check_world_size(path, state, distributed.world_size())
        here = torch.device(env.core.process.device).type
        if state.get("device", here) != here:
            raise ValueError(
                f"{path} was trained on {state['device']}, but this env runs on {here}; resume it with "
                f"--device {state['device']} (random states do not carry over between devices)"
            )
        state["card"].check_process(env.core.process, str(path))  # another diffusers pipeline
        differ = spec_differences(state["card"].spec, env.core.spec)
        if differ:
            shown = ", ".join(f"{name} {theirs!r} (this env: {ours!r})" for name, (theirs, ours) in differ.items())
            raise ValueError(f"{path} was trained in another episode: {shown}")
        try:
            agent = cls(env, PPOConfig(**{**BEFORE_PORT, **state["config"]}))
            agent.load_state_dict(state)
        except (KeyError, TypeError, RuntimeError, ValueError) as e:
            raise ValueError(
                f"{path}: does not fit this env or is damaged ({type(e).__name__}: {one_line(str(e))})"
            ) from e
        return agent


def check_world_size(path: str | Path, state: dict, world_size: int) -> None:
    """A checkpoint resumes only with as many ranks as saved it: each rank's noise and env state are in it."""
    saved = state.get("world_size", 1)
    if saved != world_size:
        how = f"torchrun --nproc_per_node {saved}" if saved > 1 else "one process, without torchrun"
        raise ValueError(
            f"{path} was saved by a run of {saved} rank(s), this one has {world_size}; resume it with {how}"
        )


def _mean_std(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) standard deviation of ``values`` over every rank's copy of them."""
    moments = distributed.all_sum(
        torch.stack(
            [
                values.double().sum(),
                values.double().square().sum(),
                torch.tensor(float(len(values)), dtype=torch.float64, device=values.device),
            ]
        )
    )
    total, squares, n = moments
    mean = total / n
    return mean.to(values.dtype), ((squares - n * mean**2) / (n - 1)).clamp(min=0).sqrt().to(values.dtype)


def _log_prob(mean: torch.Tensor, std: float, action: torch.Tensor) -> torch.Tensor:
    return torch.distributions.Normal(mean, std).log_prob(action).sum(-1)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _discounted(normalised: torch.Tensor, num_steps: int, num_envs: int, gamma: float) -> torch.Tensor:
    """Each step's discounted return, ``gamma^(num_steps-1-t)`` x its episode's normalised final reward, over
    a batch laid out as ``collect`` writes it (episode batch, step, env)."""
    exponents = torch.arange(num_steps - 1, -1, -1, dtype=normalised.dtype, device=normalised.device)
    return (normalised.reshape(-1, num_steps, num_envs) * gamma ** exponents[None, :, None]).reshape(-1)


def _gae(
    normalised: torch.Tensor, values: torch.Tensor, num_steps: int, num_envs: int, lam: float, gamma: float
) -> torch.Tensor:
    """GAE(gamma, lambda) advantages over a batch laid out as ``collect`` writes it (episode batch, step,
    env): the reward is the normalised return at the last step and 0 before, the value after the last
    step is 0 (the episode terminates). Lambda 1 gives the (discounted) normalised return minus the value."""
    shape = (-1, num_steps, num_envs)
    values = values.reshape(shape)
    rewards = torch.zeros_like(values)
    rewards[:, -1] = normalised.reshape(shape)[:, -1]
    advantages = torch.zeros_like(values)
    following = torch.zeros_like(values[:, 0])  # the next step's advantage
    for t in reversed(range(num_steps)):
        next_value = values[:, t + 1] if t + 1 < num_steps else torch.zeros_like(values[:, t])
        following = rewards[:, t] + gamma * next_value - values[:, t] + gamma * lam * following
        advantages[:, t] = following
    return advantages.reshape(-1)


def _orthogonal_init(net: nn.Module, output_gain: float | None) -> None:
    """SB3's initialisation: orthogonal weights with gain sqrt(2) and zero biases in the hidden layers; the
    output layer gets ``output_gain`` (``None``: it keeps its zeros, so the policy starts at the
    hand-designed schedule)."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    for layer in linears[:-1]:
        nn.init.orthogonal_(layer.weight, gain=math.sqrt(2))
        nn.init.zeros_(layer.bias)
    if output_gain is not None:
        nn.init.orthogonal_(linears[-1].weight, gain=output_gain)
        nn.init.zeros_(linears[-1].bias)
