"""Ray RLlib's PPO on our envs, with one discriminator shared by every env runner (skipped without Ray)."""

import builtins

import gymnasium as gym
import numpy as np
import pytest
import torch

import adagen_env  # noqa: F401  (registers the environments)
from adagen_agents import rllib
from adagen_env.evaluation.generators import policy_generator
from adagen_env.paradigms import PARADIGMS, make_process

pytestmark = pytest.mark.slow  # starts Ray


def test_a_clear_error_when_ray_is_missing(monkeypatch):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r"needs Ray RLlib.*pip install 'adagen\[rllib\]'"):
        rllib.ppo_config("AdaGen/MaskGIT-Digits-v0")


ray = pytest.importorskip("ray")
pytest.importorskip("ray.rllib")


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def discriminator(ray_cluster, request):
    name = f"discriminator-{request.node.name}"
    handle = rllib.start_shared_discriminator(name, update_every=32)
    yield name, handle
    ray.kill(handle)


def small(config):
    return config.training(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=1)


def test_bad_env_config_is_refused():
    with pytest.raises(ValueError, match="needs 'env_id'"):
        rllib.make_env({})
    with pytest.raises(ValueError, match="unknown environment 'CartPole-v1'; choose one of"):
        rllib.make_env({"env_id": "CartPole-v1"})
    with pytest.raises(ValueError, match="unknown environment"):
        rllib.ppo_config("AdaGen/Nope-v0")


def test_a_scorer_without_its_actor_says_how_to_start_it(ray_cluster):
    with pytest.raises(ValueError, match="start_shared_discriminator"):
        rllib.RemoteScorer("nobody-started-this")


def test_two_runners_train_one_discriminator_on_all_their_samples(discriminator):
    name, handle = discriminator
    config = small(
        rllib.ppo_config("AdaGen/MaskGIT-Digits-v0", num_env_runners=2, num_envs_per_env_runner=8, discriminator=name)
    )
    # half a CPU each, so that an evaluation runner fits beside the two training runners on 2 CPUs
    config = config.env_runners(num_cpus_per_env_runner=0.5).evaluation(
        evaluation_num_env_runners=1, evaluation_duration=16, evaluation_duration_unit="episodes"
    )
    algo = config.build_algo()
    try:
        assert isinstance(
            algo.env_runner_group.foreach_env_runner(lambda r: r.env.unwrapped, local_env_runner=False)[0],
            gym.vector.VectorEnv,
        )
        for _ in range(2):
            result = algo.train()
        stats = ray.get(handle.stats.remote())
        # every finished episode (one sample each) of both runner processes reached the one discriminator
        assert len(stats["samples_by_source"]) == 2
        assert all(n > 0 for n in stats["samples_by_source"].values())
        episodes = result["env_runners"]["num_episodes_lifetime"]
        assert stats["samples_seen"] == episodes
        assert stats["updates"] == episodes // 32

        weights = [p.clone() for p in ray.get(handle.state_dict.remote())["discriminator"].values()]
        seen = stats["samples_seen"]
        # evaluation runners score with it but never train it
        evaluation = algo.evaluate()
        assert evaluation["env_runners"]["num_episodes"] >= 16
        after = ray.get(handle.stats.remote())
        assert after["samples_seen"] == seen
        new_weights = list(ray.get(handle.state_dict.remote())["discriminator"].values())
        assert all(torch.equal(a, b) for a, b in zip(weights, new_weights))

        # the trained policy drives our own sampling and evaluation
        process = make_process("maskgit-digits")
        spec = rllib.episode_spec(algo.config.env_config).for_sampling().resolve(process)
        assert spec.num_steps == 8 and spec.observation_mode == "flat" and spec.reward is None
        images = policy_generator(process, rllib.rllib_act(algo), spec)(torch.arange(10), 100_000)
        assert images.shape == (10, 1, 8, 8) and torch.isfinite(images).all()
    finally:
        algo.stop()


def test_scoring_only_gives_the_actors_scores_without_training(discriminator):
    name, handle = discriminator
    scorer = rllib.RemoteScorer(name)
    images, labels = torch.rand(40, 1, 8, 8), torch.arange(40) % 10
    scorer(images, labels)  # 40 >= update_every: one update
    assert ray.get(handle.stats.remote())["updates"] == 1
    before = ray.get(handle.stats.remote())
    viewer = scorer.scoring_only()
    first = viewer(images, labels)
    assert torch.equal(first, viewer(images, labels))
    assert ray.get(handle.stats.remote()) == before
    assert ((first > 0) & (first < 1)).all()


@pytest.mark.parametrize("env_id", [p.env_id for p in PARADIGMS.values()])
def test_the_recipe_runs_on_every_env_with_flat_observations(discriminator, env_id):
    name, handle = discriminator
    algo = small(
        rllib.ppo_config(env_id, num_env_runners=2, num_envs_per_env_runner=8, discriminator=name)
    ).build_algo()
    try:
        spaces = algo.env_runner_group.foreach_env_runner(
            lambda r: r.env.unwrapped.single_observation_space, local_env_runner=False
        )
        assert all(isinstance(s, gym.spaces.Box) and len(s.shape) == 1 for s in spaces)
        result = algo.train()
        assert np.isfinite(result["env_runners"]["episode_return_mean"])
        assert ray.get(handle.stats.remote())["samples_seen"] > 0
    finally:
        algo.stop()
