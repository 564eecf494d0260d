"""``adagen train``: train a schedule policy with our PPO or an SB3 algorithm, with logs and checkpoints.

Everything a long run needs: a progress bar, TensorBoard logs (reward, losses, discriminator
statistics, FD at intervals, a grid of samples), a checkpoint every N updates and at the end,
``--resume``, and Ctrl-C that saves a checkpoint before it exits.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation import balanced_labels, evaluate_generator, policy_generator
from adagen_env.images import image_grid
from adagen_env.metrics import Evaluator
from agents.loading import sb3_act, sb3_algorithm, sb3_metadata_path
from agents.ppo import PPO, PPOConfig

def log_samples(writer: SummaryWriter, tag: str, images: torch.Tensor, step: int) -> None:
    writer.add_image(tag, image_grid(images, columns=10, scale=4), step, dataformats="HW")


def train_ppo(args: argparse.Namespace, env: ScheduleVectorEnv, process_name: str) -> tuple[Path, bool]:
    """Train (or resume) our PPO; returns the checkpoint path and whether Ctrl-C stopped it."""
    out = Path(args.out)
    config = PPOConfig(
        episodes_per_update=args.episodes_per_update, learning_rate=args.lr, seed=args.seed,
        std_switch_update=args.std_switch_update,
    )
    agent = PPO.load(args.resume, env) if args.resume else PPO(env, config)
    metadata = {"env": args.env, "process": process_name, "num_steps": args.steps, "reward": args.reward, "algo": "ppo"}
    writer = SummaryWriter(args.logdir)
    evaluator = Evaluator(device=args.device)
    process = env.core.process
    progress = tqdm(total=args.updates, initial=min(agent.updates, args.updates), desc="ppo updates")

    def callback(agent: PPO, stats: dict[str, float]) -> bool:
        elapsed = agent.seconds
        for key, value in stats.items():
            writer.add_scalar(f"train/{key}", value, agent.updates)
        for key, value in getattr(env.core.scorer, "stats", {}).items():
            writer.add_scalar(f"discriminator/{key}", value, agent.updates)
        writer.add_scalar("train/wall_seconds", elapsed, agent.updates)
        postfix = {"reward": f"{stats['reward_mean']:.3f}"}
        if args.eval_every and agent.updates % args.eval_every == 0:
            generate = policy_generator(process, args.steps, agent.predict)
            result = evaluate_generator(generate, evaluator, process.num_classes, args.eval_samples, seed=10_000, progress=False)
            for key in ("fd", "precision", "recall", "accuracy"):
                writer.add_scalar(f"eval/{key}", result[key], agent.updates)
            writer.add_scalar("eval/fd_vs_wall_seconds", result["fd"], int(elapsed))
            log_samples(writer, "samples", generate(balanced_labels(50, process.num_classes), 0), agent.updates)
            postfix["fd"] = f"{result['fd']:.2f}"
        if args.checkpoint_every and agent.updates % args.checkpoint_every == 0:
            agent.save(out, **metadata)
        progress.update(1)
        progress.set_postfix(postfix)
        over_time = args.minutes and elapsed > 60 * args.minutes
        return agent.updates < args.updates and not over_time

    interrupted = False
    try:
        if agent.updates < args.updates:
            agent.learn(args.updates - agent.updates, callback)
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted after {agent.updates} updates; saving a checkpoint (continue with --resume {out})")
    finally:
        agent.save(out, **metadata)
        writer.close()
        progress.close()
    print(f"saved {out} ({agent.updates} updates, {agent.episodes} episodes, {agent.seconds:.0f} s of training)")
    return out, interrupted


def train_sb3(args: argparse.Namespace, env: ScheduleVectorEnv, process_name: str) -> tuple[Path, bool]:
    """Train (or resume) an SB3 algorithm on the batched env; returns the path and whether Ctrl-C stopped it."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import Image

    from agents.sb3_vec_env import SB3VecEnv

    out = Path(args.out).with_suffix(".zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"env": args.env, "process": process_name, "num_steps": args.steps, "reward": args.reward, "algo": args.algo}
    sb3_metadata_path(out).write_text(json.dumps(metadata, indent=2))
    algo = sb3_algorithm(args.algo)
    vec_env = SB3VecEnv(env)
    if args.resume:
        model = algo.load(args.resume, env=vec_env, tensorboard_log=args.logdir)
    else:
        # on-policy algorithms collect --episodes-per-update whole episodes per rollout, as our PPO does
        rollout = {"n_steps": max(1, args.episodes_per_update // env.num_envs) * args.steps}
        kwargs = rollout if args.algo in ("sb3-ppo", "sb3-a2c") else {}
        model = algo("MultiInputPolicy", vec_env, seed=args.seed, tensorboard_log=args.logdir, device=args.device, **kwargs)
    evaluator = Evaluator(device=args.device)
    process = env.core.process
    episodes_per_check = args.episodes_per_update * max(args.checkpoint_every, 1)

    class Logging(BaseCallback):
        """Progress bar; every ``checkpoint_every * episodes_per_update`` episodes: FD and a sample grid in TensorBoard, and a checkpoint."""

        def _on_training_start(self) -> None:
            self.progress = tqdm(total=args.timesteps, initial=self.num_timesteps, desc=args.algo)
            self.next_check = self.num_timesteps + episodes_per_check * args.steps

        def _on_step(self) -> bool:
            self.progress.update(env.num_envs)
            if self.num_timesteps >= self.next_check:
                self.next_check += episodes_per_check * args.steps
                generate = policy_generator(process, args.steps, sb3_act(self.model))
                result = evaluate_generator(generate, evaluator, process.num_classes, args.eval_samples, seed=10_000, progress=False)
                for key in ("fd", "precision", "recall", "accuracy"):
                    self.logger.record(f"eval/{key}", result[key])
                grid = image_grid(generate(balanced_labels(50, process.num_classes), 0), columns=10, scale=4)
                self.logger.record("samples", Image(grid, "HW"), exclude=("stdout", "log", "json", "csv"))
                self.progress.set_postfix(fd=f"{result['fd']:.2f}")
                self.model.save(out)
            return True

        def _on_training_end(self) -> None:
            self.progress.close()

    interrupted = False
    try:
        model.learn(args.timesteps - model.num_timesteps, callback=Logging(), reset_num_timesteps=False)
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted after {model.num_timesteps} timesteps; saving a checkpoint (continue with --resume {out})")
    finally:
        model.save(out)
    print(f"saved {out} ({model.num_timesteps} timesteps)")
    return out, interrupted
