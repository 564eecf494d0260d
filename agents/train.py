"""Training runs: our PPO (``train_ppo``, shared by ``adagen train`` and the benchmarks) and SB3 algorithms.

Everything a long run needs: checkpoints every N updates and at the end, resuming, a time cap
that is checked inside the rollouts and updates, and Ctrl-C that saves a checkpoint before it
stops. ``PPOLogger`` adds what the command shows: a progress bar and TensorBoard logs (reward,
losses, discriminator statistics, FD at intervals, a grid of samples).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from adagen_agents.card import PolicyCard
from adagen_agents.loading import load_sb3_model, read_sb3_card, sb3_act, sb3_card_path
from adagen_agents.ppo import PPO, Diverged, PPOConfig
from adagen_agents.sb3_algorithms import get_sb3_algorithm
from adagen_agents.threads import ThreadWatchdog
from adagen_env.data.images import image_grid
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.envs.spec import spec_differences
from adagen_env.evaluation.agreement import reward_agreement
from adagen_env.evaluation.generators import balanced_labels, evaluate_generator, policy_generator
from adagen_env.evaluation.metrics import Evaluator
from adagen_env.evaluation.seeds import CURVE_SEED
from adagen_env.runtime.files import atomic_write, atomic_write_json

DEFAULT_UPDATES = (
    100  # PPO updates of `adagen train` (25,600 samples): 283 s of training, 6 min 41 s in all on 2 idle cores
)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped training after a checkpoint was saved; ``str()`` says where and how far it got."""


@dataclass
class TrainResult:
    agent: PPO
    out: Path  # the checkpoint written at the end
    planned_updates: int  # the total asked for, counting the updates of a resumed checkpoint
    stopped_by_time: bool  # the time cap ended the run

    @property
    def finished(self) -> bool:
        return self.agent.updates >= self.planned_updates


def train_ppo(
    env: ScheduleVectorEnv,
    config: PPOConfig | None = None,
    *,
    out: str | Path,
    updates: int = DEFAULT_UPDATES,
    minutes: float | None = None,
    resume: str | Path | None = None,
    card: PolicyCard | None = None,
    checkpoint_every: int = 10,
    on_update: Callable[[PPO, dict[str, float]], bool | None] | None = None,
) -> TrainResult:
    """Train our PPO on ``env`` (or resume a checkpoint) until it has ``updates`` updates in all.

    ``minutes`` caps the training time (rollouts and updates, not ``on_update``), summed over
    resumed runs; ``None`` is no cap. ``on_update(agent, stats)`` runs after every update and may
    return False to stop. The checkpoint ``out`` (with the policy ``card``; default: the env's spec) is written every
    ``checkpoint_every`` updates (0: only at the end) and at the end. Ctrl-C saves it and raises
    ``Interrupted``; an update cut short is undone first, so the checkpoint resumes exactly.
    """
    if minutes is not None and not minutes > 0:
        raise ValueError(f"minutes must be positive (or None for no cap), got {minutes}")
    if updates < 0 or checkpoint_every < 0:
        raise ValueError("updates and checkpoint_every must not be negative")
    out = Path(out)
    agent = PPO.load(resume, env) if resume is not None else PPO(env, config)

    def callback(agent: PPO, stats: dict[str, float]) -> bool | None:
        if checkpoint_every and agent.updates % checkpoint_every == 0:
            agent.save(out, card)  # before on_update's evaluation: a failure there loses no training
        return on_update(agent, stats) if on_update is not None else None

    try:
        if agent.updates < updates:
            agent.learn(updates - agent.updates, callback, max_seconds=None if minutes is None else 60.0 * minutes)
    except KeyboardInterrupt:
        agent.save(out, card)
        raise Interrupted(
            f"interrupted after {agent.updates} of {updates} updates; saved {out} (continue with --resume {out})"
        ) from None
    except Diverged as error:  # the diverging update was undone: what is saved is the last good one
        agent.save(out, card)
        raise Diverged(f"{error}; kept the last good checkpoint, {agent.updates} updates, in {out}") from None
    agent.save(out, card)
    return TrainResult(agent, out, updates, agent.stopped_by_time)


def log_samples(writer, tag: str, images: torch.Tensor, step: int) -> None:
    writer.add_image(tag, image_grid(images, columns=10, scale=4), step, dataformats="HWC")


def eval_scalars(result: dict[str, float], evaluator: Evaluator) -> dict[str, float]:
    """What the training logs of an evaluation: FD, precision and recall in every space (the
    classifier's also as plain fd, precision, recall) and the class accuracy."""
    keys = [f"{space}_{metric}" for space in evaluator.spaces for metric in ("fd", "precision", "recall")]
    keys += [key for key in ("fd", "precision", "recall", "accuracy") if key in result]
    return {key: result[key] for key in keys}


def discriminator_line(updates: int, reward: float, stats: dict[str, float]) -> str:
    """One line of the training log: the reward and the discriminator's overfitting diagnostics."""
    nan = float("nan")
    real, heldout, gap, rt = (stats.get(k, nan) for k in ("real_logit", "heldout_logit", "overfit_gap", "ada_rt"))
    return (
        f"update {updates}: reward {reward:.3f}; discriminator logit real (train) {real:.2f}, "
        f"real (held-out) {heldout:.2f}, gap {gap:.2f}, r_t {rt:.2f}"
    )


class PPOLogger:
    """``on_update`` for ``train_ppo``: a progress bar, TensorBoard scalars, FD plus samples (and a line of
    the discriminator's diagnostics, for a reward that has one) every ``eval_every``, and a ``watchdog``
    of the torch threads, told each update's seconds (``adagen_agents.threads``)."""

    def __init__(
        self,
        env: ScheduleVectorEnv,
        logdir: str | Path,
        total_updates: int,
        initial_updates: int = 0,
        eval_every: int = 10,
        eval_samples: int = 500,
        watchdog: ThreadWatchdog | None = None,
        evaluator: Evaluator | None = None,
    ):
        from torch.utils.tensorboard import SummaryWriter

        self.env, self.eval_every, self.eval_samples, self.watchdog = env, eval_every, eval_samples, watchdog
        self.writer = SummaryWriter(str(logdir))
        if eval_every and evaluator is None:
            evaluator = Evaluator(device=env.core.process.device)
        self.evaluator = evaluator
        self.progress = tqdm(total=total_updates, initial=min(initial_updates, total_updates), desc="ppo updates")
        # the reward's agreement with the evaluation: mean training reward since the last eval, and its scores
        self.rewards_since_eval: list[float] = []
        self.eval_rewards: list[float] = []
        self.eval_scores: list[dict[str, float]] = []

    def __call__(self, agent: PPO, stats: dict[str, float]) -> None:
        core, process = self.env.core, self.env.core.process
        for key, value in stats.items():
            self.writer.add_scalar(f"train/{key}", value, agent.updates)
        for key, value in getattr(core.scorer, "stats", {}).items():
            self.writer.add_scalar(f"discriminator/{key}", value, agent.updates)
        self.writer.add_scalar("train/wall_seconds", agent.seconds, agent.updates)
        postfix = {"reward": f"{stats['reward_mean']:.3f}"}
        self.rewards_since_eval.append(stats["reward_mean"])
        if self.eval_every and agent.updates % self.eval_every == 0:
            generate = policy_generator(process, agent.predict, core.spec.for_sampling())
            result = evaluate_generator(
                generate, self.evaluator, process.num_classes, self.eval_samples, seed=CURVE_SEED, progress=False
            )
            for key, value in eval_scalars(result, self.evaluator).items():
                self.writer.add_scalar(f"eval/{key}", value, agent.updates)
            fd = result[f"{self.evaluator.spaces[0]}_fd"]
            self.writer.add_scalar("eval/fd_vs_wall_seconds", fd, int(agent.seconds))
            log_samples(self.writer, "samples", generate(balanced_labels(50, process.num_classes), 0), agent.updates)
            postfix["fd"] = f"{fd:.2f}"
            discriminator = getattr(core.scorer, "stats", {})
            if discriminator:  # is it memorising its real images? (held-out logits fall behind the training ones)
                self.progress.write(discriminator_line(agent.updates, stats["reward_mean"], discriminator))
            self.log_agreement(agent.updates, result)
        self.writer.add_scalar("train/torch_threads", torch.get_num_threads(), agent.updates)
        warning = self.watchdog(agent.updates, stats["seconds"]) if self.watchdog is not None else None
        if warning:
            self.progress.write(f"adagen train: {warning}")
        self.progress.update(1)
        self.progress.set_postfix(postfix)

    def log_agreement(self, updates: int, result: dict[str, float]) -> None:
        """Does more reward mean better images? Over this run's evals so far, the signed Spearman
        correlation between the mean training reward before each eval and each space's FD, KID,
        precision and recall (+1: agrees), in TensorBoard under ``agreement/`` and, for FD, in the log."""
        self.eval_rewards.append(sum(self.rewards_since_eval) / len(self.rewards_since_eval))
        self.eval_scores.append(result)
        self.rewards_since_eval = []
        if len(self.eval_rewards) < 3:
            return
        agreement = reward_agreement(self.eval_rewards, self.eval_scores, self.evaluator.spaces)
        for key, value in agreement.items():
            self.writer.add_scalar(f"agreement/{key}", value, updates)
        fd = ", ".join(f"{space} {agreement[f'{space}_fd']:+.1f}" for space in self.evaluator.spaces)
        self.progress.write(
            f"update {updates}: reward vs -FD rank correlation over {len(self.eval_rewards)} evals: {fd}"
        )

    def close(self) -> None:
        self.progress.close()
        self.writer.close()


def train_sb3(
    env: ScheduleVectorEnv,
    card: PolicyCard,
    *,
    out: str | Path,
    timesteps: int,
    logdir: str | Path,
    seed: int = 0,
    resume: str | Path | None = None,
    episodes_per_update: int = 512,
    checkpoint_every: int = 10,
    eval_samples: int = 500,
    evaluator: Evaluator | None = None,
    trust_pickle: bool = False,
) -> Path:
    """Train (or resume: an SB3 ``.zip`` is a pickle, read only with ``trust_pickle``) the SB3 algorithm
    ``card.algo`` on the batched env until ``timesteps`` steps in all; returns the ``.zip``, with the
    ``card`` written beside it as ``.json`` after each save (the model is written atomically).

    Every ``checkpoint_every * episodes_per_update`` episodes: FD (``evaluator``'s, default the
    digits') and a sample grid in TensorBoard, and a checkpoint. Ctrl-C saves the model and raises
    ``Interrupted``. On-policy algorithms collect ``episodes_per_update`` whole episodes per rollout.
    """
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import Image

    from adagen_agents.sb3_vec_env import SB3VecEnv

    algorithm = get_sb3_algorithm(card.algo)
    cls = algorithm.load_class()  # a missing sb3-contrib fails here, before any work
    out = Path(out).with_suffix(".zip")
    vec_env = SB3VecEnv(env)
    num_steps, process, spec = env.core.num_steps, env.core.process, env.core.spec
    if resume is not None:
        differ = spec_differences(read_sb3_card(resume).spec, spec)
        if differ:
            raise ValueError(f"{resume} was trained in another episode: {differ} (its, this env's)")
        model = load_sb3_model(
            resume, card.algo, trust_pickle, env=vec_env, tensorboard_log=str(logdir), device=process.device
        )
    else:
        kwargs = {}
        if algorithm.on_policy:  # whole episodes per rollout, as our PPO collects them
            kwargs["n_steps"] = max(1, episodes_per_update // env.num_envs) * num_steps
        model = cls(
            algorithm.policy(spec.observation_mode),
            vec_env,
            seed=seed,
            tensorboard_log=str(logdir),
            device=process.device,
            **kwargs,
        )
    evaluator = evaluator or Evaluator(device=process.device)
    episodes_per_check = episodes_per_update * max(checkpoint_every, 1)
    flat_from = env.dict_observation_space if spec.observation_mode == "flat" else None

    def save() -> None:
        atomic_write(out, model.save)  # SB3 writes its zip into the file object it is given
        atomic_write_json(sb3_card_path(out), card.to_dict())  # after its model: a card never labels another

    class Logging(BaseCallback):
        def _on_training_start(self) -> None:
            self.progress = tqdm(total=timesteps, initial=self.num_timesteps, desc=card.algo)
            self.next_check = self.num_timesteps + episodes_per_check * num_steps

        def _on_step(self) -> bool:
            self.progress.update(env.num_envs)
            if self.num_timesteps >= self.next_check:
                self.next_check += episodes_per_check * num_steps
                generate = policy_generator(process, sb3_act(self.model, flat_from), spec.for_sampling())
                result = evaluate_generator(
                    generate, evaluator, process.num_classes, eval_samples, seed=CURVE_SEED, progress=False
                )
                for key, value in eval_scalars(result, evaluator).items():
                    self.logger.record(f"eval/{key}", value)
                grid = image_grid(generate(balanced_labels(50, process.num_classes), 0), columns=10, scale=4)
                self.logger.record("samples", Image(grid, "HWC"), exclude=("stdout", "log", "json", "csv"))
                self.progress.set_postfix(fd=f"{result[f'{evaluator.spaces[0]}_fd']:.2f}")
                save()
            return True

        def _on_training_end(self) -> None:
            self.progress.close()

    try:
        if model.num_timesteps < timesteps:
            model.learn(timesteps - model.num_timesteps, callback=Logging(), reset_num_timesteps=False)
    except KeyboardInterrupt:
        save()
        raise Interrupted(
            f"interrupted after {model.num_timesteps} of {timesteps} timesteps; saved {out} "
            f"(continue with --resume {out})"
        ) from None
    save()
    return out
