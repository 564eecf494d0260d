"""Our PPO and the adversarial reward on torch.distributed: 2 CPU ranks (gloo), spawned by the test."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from adagen_agents.ppo import PPO, PPOConfig
from adagen_agents.train import Interrupted, train_ppo
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.rewards.adversarial import AdversarialScorer
from adagen_env.runtime import distributed

pytestmark = pytest.mark.slow  # spawns ranks and runs torchrun

PROCESS = "flow-digits"  # the cheapest generator


def small_config(**overrides) -> PPOConfig:
    return PPOConfig(**{"episodes_per_update": 32, "epochs": 2, "minibatches": 2, "hidden": 32, **overrides})


def make_env(num_envs: int, update_every: int) -> ScheduleVectorEnv:
    return ScheduleVectorEnv(
        num_envs=num_envs,
        process=PROCESS,
        num_steps=2,
        reward=AdversarialScorer(update_every=update_every, batch_size=16),
    )


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def snapshot(agent: PPO) -> dict:
    return {
        "actor": flat(agent.actor),
        "critic": flat(agent.critic),
        "discriminator": flat(agent.core.scorer.discriminator),
        "updates": agent.updates,
    }


def run_ranks(target, tmp_path: Path, world_size: int = 2) -> list[dict]:
    """Run ``target(rank, tmp_path)`` on ``world_size`` gloo ranks; each returns a dict saved per rank."""
    store = tmp_path / f"store-{time.time_ns()}"  # a file store: no port to race for, no server thread on rank 0
    mp.spawn(_rank_main, args=(target, tmp_path, world_size, store), nprocs=world_size, join=True)
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(world_size)]


def _rank_main(rank: int, target, tmp_path: Path, world_size: int, store: Path) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        torch.save(target(rank, tmp_path), tmp_path / f"rank{rank}.pt")
    finally:
        dist.barrier()  # no rank tears the group down while another still uses it
    # as adagen does under torchrun: leave the group, then skip the interpreter's teardown, where a
    # group that something still references aborts the process from gloo's threads
    distributed.leave()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _train_two_updates(rank: int, tmp_path: Path) -> dict:
    stats = []
    agent = PPO(make_env(8, update_every=8), small_config())
    agent.learn(2, lambda agent, s: stats.append(s) and None)
    images = agent.core.images()
    return {
        **snapshot(agent),
        "images": images,
        "reward_mean": torch.tensor([s["reward_mean"] for s in stats]),
        "episodes": agent.episodes,
        "d_updates": agent.core.scorer.stats["updates"],
    }


def test_two_ranks_keep_one_policy_and_one_discriminator_trained_on_both(tmp_path):
    ranks = run_ranks(_train_two_updates, tmp_path)
    assert not torch.equal(ranks[0]["images"], ranks[1]["images"])  # each rank generates its own samples
    for key in ("actor", "critic", "discriminator"):  # yet the networks are the same on both ranks
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    assert not torch.equal(ranks[0]["actor"], flat(PPO(make_env(8, 8), small_config()).actor))  # and they trained
    # 32 episodes per update in all (16 per rank); the discriminator stepped every 8 samples of a rank
    assert ranks[0]["episodes"] == 64 and ranks[0]["d_updates"] == 4
    assert torch.equal(ranks[0]["reward_mean"], ranks[1]["reward_mean"])  # statistics over all ranks


def _update_on_half(rank: int, tmp_path: Path) -> dict:
    batch = torch.load(tmp_path / "batch.pt", weights_only=True)
    half = len(batch["return"]) // 2
    rows = slice(rank * half, (rank + 1) * half)
    mine = {k: ({o: x[rows] for o, x in v.items()} if isinstance(v, dict) else v[rows]) for k, v in batch.items()}
    agent = PPO(make_env(16, 16), small_config(epochs=1, minibatches=1))
    stats = agent.update(mine)
    return {"actor": flat(agent.actor), "critic": flat(agent.critic), "policy_loss": torch.tensor(stats["policy_loss"])}


def test_two_ranks_with_half_the_batch_each_update_as_one_process_with_all_of_it(tmp_path):
    # one gradient step over the whole batch: the mean of the ranks' gradients is the whole batch's gradient,
    # and the returns are normalised over both halves, so the update is the same up to float rounding
    agent = PPO(make_env(16, 16), small_config(epochs=1, minibatches=1))
    batch = agent.collect()
    torch.save(batch, tmp_path / "batch.pt")
    ranks = run_ranks(_update_on_half, tmp_path)
    stats = agent.update(batch)
    for key in ("actor", "critic"):
        assert torch.allclose(ranks[0][key], flat(getattr(agent, key)), rtol=1e-5, atol=1e-7), key
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    # the ranks report the mean of their halves' losses: the whole batch's loss
    assert ranks[0]["policy_loss"].item() == pytest.approx(stats["policy_loss"], abs=1e-6)


def _resume(rank: int, tmp_path: Path) -> dict:
    straight = PPO(make_env(8, 8), small_config()).learn(3)
    agent = PPO(make_env(8, 8), small_config()).learn(2)
    agent.save(tmp_path / "checkpoint.pt")
    resumed = PPO.load(tmp_path / "checkpoint.pt", make_env(8, 8)).learn(1)
    return {
        "straight": torch.cat(list(snapshot(straight).values())[:3]),
        "resumed": torch.cat(list(snapshot(resumed).values())[:3]),
    }


def test_a_two_rank_checkpoint_resumes_exactly_and_only_with_two_ranks(tmp_path):
    ranks = run_ranks(_resume, tmp_path)
    for r in ranks:
        assert torch.equal(r["straight"], r["resumed"])
    with pytest.raises(ValueError, match="saved by a run of 2 rank"):
        PPO.load(tmp_path / "checkpoint.pt", make_env(8, 8))


def _build_error(rank: int, tmp_path: Path) -> dict:
    """The error (if any) of building a PPO on each rank with the settings of ``tmp_path / "config.pt"``."""
    overrides = torch.load(tmp_path / "config.pt", weights_only=True)[rank]
    try:
        PPO(make_env(8, 8), small_config(**overrides))
    except ValueError as e:
        return {"error": str(e)}
    return {"error": ""}


def build_errors(tmp_path: Path, overrides: list[dict]) -> list[str]:
    torch.save(overrides, tmp_path / "config.pt")
    return [r["error"] for r in run_ranks(_build_error, tmp_path)]


def test_episodes_per_update_must_divide_among_the_ranks(tmp_path):
    errors = build_errors(tmp_path, [{"episodes_per_update": 24}] * 2)
    assert "num_envs (8) x world size 2" in errors[0]


def test_ranks_with_different_settings_are_refused(tmp_path):
    errors = build_errors(tmp_path, [{"hidden": 32}, {"hidden": 64}])
    assert "ranks 0 and 1 disagree on {'hidden': (32, 64)}" in errors[0]
    assert "ranks 1 and 0 disagree on {'hidden': (64, 32)}" in errors[1]


def _signal_one_rank(rank: int, tmp_path: Path) -> dict:
    def callback(agent: PPO, stats: dict) -> None:
        if rank == 1 and agent.updates == 2:  # as if Ctrl-C reached this rank only
            os.kill(os.getpid(), signal.SIGINT)

    try:
        train_ppo(make_env(8, 8), small_config(), out=tmp_path / "stopped.pt", updates=100, on_update=callback)
    except Interrupted as e:
        return {"message": str(e)}
    return {"message": "not interrupted"}


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_update_and_saves_once(tmp_path):
    ranks = run_ranks(_signal_one_rank, tmp_path)
    for r in ranks:
        assert r["message"].startswith("interrupted after 2 of 100 updates; saved")
    state = torch.load(tmp_path / "stopped.pt", weights_only=True)
    assert state["updates"] == 2 and state["world_size"] == 2


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "adagen_agents.cli",
        "train",
        *args,
    ]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_adagen_train_under_torchrun_trains_saves_once_and_resumes_with_as_many_ranks(tmp_path):
    out = tmp_path / "policy.pt"
    flags = (
        "--eval-every",
        "0",
        "--final-samples",
        "100",
        "--logdir",
        str(tmp_path / "logs"),
        "--epochs",
        "1",
        "--minibatches",
        "2",
    )
    run = torchrun(
        "--env",
        "AdaGen/Flow-Digits-v0",
        "--steps",
        "2",
        "--num-envs",
        "8",
        "--episodes-per-update",
        "32",
        "--updates",
        "2",
        "--out",
        str(out),
        *flags,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("saved ") == 1 and run.stdout.count("learned (ppo) vs best static") == 1  # rank 0 only
    state = torch.load(out, weights_only=True)
    assert state["world_size"] == 2 and state["updates"] == 2 and state["episodes"] == 64
    resumed = torchrun("--resume", str(out), "--updates", "3", "--out", str(out), *flags, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert torch.load(out, weights_only=True)["updates"] == 3
    alone = subprocess.run(
        [sys.executable, "-m", "adagen_agents.cli", "train", "--resume", str(out), "--updates", "4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert alone.returncode == 1
    assert alone.stderr.strip().endswith(
        "was saved by a run of 2 rank(s), this one has 1; resume it with torchrun --nproc_per_node 2"
    )


def test_adagen_train_under_torchrun_says_when_the_batch_does_not_split(tmp_path):
    run = torchrun("--env", "AdaGen/Flow-Digits-v0", "--num-envs", "8", "--episodes-per-update", "24", cwd=tmp_path)
    assert run.returncode != 0
    assert "--episodes-per-update 24 must be a multiple of --num-envs 8 x 2 torchrun processes" in run.stderr
