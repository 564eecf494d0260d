"""Clients that build one env per worker (SyncVectorEnv, SB3's make_vec_env) and clients that need a
flat Box observation (CleanRL's scripts, SB3's VecFrameStack): one shared discriminator, and the
flat path. rl-zoo3 with the shipped hyperparameter files, and TorchRL's Gymnasium wrappers."""

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecFrameStack

import adagen_env  # noqa: F401  (registers the environments)
from adagen_env.paradigms import PARADIGMS
from adagen_env.rewards import AdversarialScorer

ENV_ID = "AdaGen/MaskGIT-Digits-v0"


def play(env, episodes: int, num_steps: int) -> None:
    env.reset(seed=0)
    for _ in range(episodes * (num_steps + 1)):  # + 1: the vector envs' autoreset step
        env.step(np.zeros(env.action_space.shape, np.float32))


def discriminator(scorer: AdversarialScorer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in scorer.discriminator.parameters()]


def test_one_scorer_shared_by_sync_sub_envs_trains_on_all_their_samples():
    scorer = AdversarialScorer(update_every=4)
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make(ENV_ID, num_steps=2, reward=scorer) for _ in range(4)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    for sub_env in envs.envs:
        assert sub_env.unwrapped.core.scorer is scorer
    play(envs, episodes=3, num_steps=2)
    # 4 sub-envs x 3 episodes = 12 finished samples, 4 per update: every sub-env's samples count
    assert scorer.stats["updates"] == 3


def test_sb3_make_vec_env_shares_the_scorer_passed_in_env_kwargs():
    scorer = AdversarialScorer(update_every=6)
    vec_env = make_vec_env(ENV_ID, n_envs=3, env_kwargs={"num_steps": 2, "reward": scorer})
    assert all(core.scorer is scorer for core in vec_env.get_attr("core"))
    vec_env.reset()
    for _ in range(4):  # two episodes of 2 steps each, 3 envs: 6 finished samples
        vec_env.step(np.zeros((3, 4), np.float32))
    assert scorer.stats["updates"] == 1


def test_scoring_only_envs_score_with_the_shared_discriminator_without_training_it():
    scorer = AdversarialScorer(update_every=2)
    train_env = gym.make_vec(ENV_ID, num_envs=4, num_steps=2, reward=scorer)
    eval_env = gym.make_vec(ENV_ID, num_envs=4, num_steps=2, reward=scorer.scoring_only())
    play(train_env, episodes=1, num_steps=2)
    assert scorer.stats["updates"] == 1
    before = discriminator(scorer)
    eval_env.reset(seed=1)
    for _ in range(2):
        _, reward, *_ = eval_env.step(np.zeros((4, 4), np.float32))
    assert scorer.stats["updates"] == 1 and not scorer.fake_images
    for a, b in zip(before, discriminator(scorer)):
        assert torch.equal(a, b)
    # the view scores with the very discriminator the training env trains
    images = eval_env.unwrapped.core.images()
    labels = eval_env.unwrapped.core.labels
    np.testing.assert_allclose(reward, scorer.score(images, labels).numpy(), rtol=1e-6)


def test_cleanrl_style_sync_vector_env_of_flat_single_envs():
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make(ENV_ID, num_steps=2, reward="classifier", observation_mode="flat") for _ in range(3)]
    )
    assert isinstance(envs.single_observation_space, gym.spaces.Box)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, envs.single_observation_space.shape[0]) and obs.dtype == np.float32
    obs, reward, terminated, truncated, _ = envs.step(envs.action_space.sample())
    assert obs.shape[0] == 3


def test_sb3_mlp_policy_with_frame_stacking_on_the_flat_batched_env():
    from adagen_agents.sb3_vec_env import SB3VecEnv

    venv = gym.make_vec(ENV_ID, num_envs=8, num_steps=2, reward="classifier", observation_mode="flat")
    stacked = VecFrameStack(SB3VecEnv(venv), n_stack=2)
    dim = venv.single_observation_space.shape[0]
    assert stacked.observation_space.shape == (2 * dim,)
    model = PPO("MlpPolicy", stacked, n_steps=4, batch_size=32, n_epochs=1, seed=0).learn(64)
    action, _ = model.predict(stacked.reset(), deterministic=True)
    assert action.shape == (8, 4)


# ---------------------------------------------------------------- rl-zoo3 and TorchRL

ZOO = Path(__file__).resolve().parents[1] / "agents" / "zoo"


@pytest.mark.slow  # runs rl-zoo3 in a subprocess
@pytest.mark.parametrize("algo, timesteps", [("ppo", 2048), ("sac", 1200)])
def test_rl_zoo3_trains_from_the_shipped_hyperparameter_file(algo, timesteps, tmp_path):
    pytest.importorskip("rl_zoo3")
    command = [
        sys.executable,
        "-m",
        "rl_zoo3.train",
        "--algo",
        algo,
        "--env",
        "AdaGen/VAR-Digits-v0",
        "--gym-packages",
        "adagen_env",
        "-conf",
        str(ZOO / f"{algo}.yml"),
        "-n",
        str(timesteps),
        "--eval-freq",
        "-1",
        "-f",
        str(tmp_path),
        "--seed",
        "0",
        "--verbose",
        "0",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    run = tmp_path / algo / "AdaGen-VAR-Digits-v0_1"
    assert (run / "AdaGen-VAR-Digits-v0.zip").exists()
    config = (run / "AdaGen-VAR-Digits-v0" / "config.yml").read_text()
    assert "MultiInputPolicy" in config


def test_every_env_has_zoo_hyperparameters():
    yaml = pytest.importorskip("yaml")
    for algo in ("ppo", "sac"):
        configured = set(yaml.safe_load((ZOO / f"{algo}.yml").read_text()))
        assert configured == {p.env_id for p in PARADIGMS.values()}, algo


def test_torchrl_rolls_out_the_single_and_the_batched_env():
    pytest.importorskip("torchrl")
    from torchrl.envs import GymEnv, GymWrapper

    single = GymEnv(ENV_ID, num_steps=4)
    rollout = single.rollout(8, break_when_any_done=False)
    assert rollout["next", "done"][:, 0].tolist() == [False, False, False, True] * 2
    assert (rollout["next", "reward"][[0, 1, 2, 4, 5, 6]] == 0).all() and (rollout["next", "reward"][[3, 7]] > 0).all()

    # the native batched env, one generator pass per step: TorchRL resets explicitly, so no autoreset step
    batched = GymWrapper(gym.make_vec(ENV_ID, num_envs=16, num_steps=4, autoreset_mode="disabled"))
    assert batched.batch_size == (16,)
    rollout = batched.rollout(8, break_when_any_done=False)
    assert rollout.shape == (16, 8)
    assert rollout["next", "done"][..., 0].sum(dim=1).tolist() == [2] * 16
    progress = rollout["progress"][0, :, 0].tolist()
    assert progress == [0.0, 0.25, 0.5, 0.75] * 2
    assert (rollout["next", "reward"][:, [3, 7]] > 0).all()
