"""Our batched PPO: starts at the hand-designed schedule, learns, and resumes exactly."""

import time

import numpy as np
import pytest
import torch

from adagen_agents.loading import load_actor
from adagen_agents.ppo import PPO, PPOConfig
from adagen_env import EpisodeSpec, ScheduleVectorEnv, policy_generator, sample


def small_config(**overrides) -> PPOConfig:
    return PPOConfig(**{"episodes_per_update": 32, "minibatches": 2, "epochs": 2, **overrides})


class Brightness:
    """A reward the schedule controls directly: hotter sampling lights up background pixels."""

    min_batch_size = 1

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(1, 2, 3))


def test_untrained_policy_is_the_hand_designed_schedule(process):
    agent = PPO(ScheduleVectorEnv(num_envs=16, process=process, num_steps=4, reward="classifier"), small_config())
    labels = torch.arange(16) % 10
    learned = policy_generator(process, agent.predict, EpisodeSpec(num_steps=4))(labels, 5)
    assert torch.equal(learned, sample(process, labels, num_steps=4, seed=5))


def test_ppo_raises_a_reward_it_can_control(process):
    env = ScheduleVectorEnv(num_envs=32, process=process, num_steps=2, reward=Brightness())
    agent = PPO(env, small_config(episodes_per_update=64, learning_rate=3e-3, epochs=4))
    labels = torch.arange(256) % 10

    def brightness() -> float:
        return policy_generator(process, agent.predict, EpisodeSpec(num_steps=2))(labels, 0).mean().item()

    before = brightness()
    rewards = []
    agent.learn(12, lambda a, stats: rewards.append(stats["reward_mean"]))
    assert brightness() > before + 0.005  # the reachable range is about 0.30 to 0.33
    assert np.mean(rewards[-3:]) > np.mean(rewards[:3])


def test_resume_continues_exactly(process, tmp_path):
    def make() -> ScheduleVectorEnv:
        return ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="adversarial")

    agent = PPO(make(), small_config())
    agent.learn(2)
    path = agent.save(tmp_path / "ckpt.pt")
    agent.learn(1)
    resumed = PPO.load(path, make())
    assert resumed.updates == 2
    resumed.learn(1)
    for a, b in zip(agent.actor.state_dict().values(), resumed.actor.state_dict().values()):
        assert torch.equal(a, b)
    actor, card = load_actor(path, process)
    assert card.spec == make().episode and card.algo == "ppo" and not actor.training


def test_a_checkpoint_resumes_only_in_the_episode_it_was_trained_in(process, tmp_path):
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="classifier", smoothing=0.5)
    path = PPO(env, small_config()).save(tmp_path / "ckpt.pt")
    other = ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="classifier")
    with pytest.raises(ValueError, match=r"trained in another episode: smoothing 0.5 \(this env: 0.0\)"):
        PPO.load(path, other)


def test_episodes_per_update_must_fill_whole_batches(process):
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="classifier")
    try:
        PPO(env, small_config(episodes_per_update=20))
    except ValueError as e:
        assert "multiple of num_envs" in str(e)
    else:
        raise AssertionError("expected ValueError")


def test_construction_leaves_torch_global_rng_alone(process):
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="classifier")
    before = torch.get_rng_state()
    a, b = PPO(env, small_config(seed=3)), PPO(env, small_config(seed=3))
    assert torch.equal(torch.get_rng_state(), before)
    # the seeded initialisation is still reproducible (the critic's weights are random)
    assert all(torch.equal(x, y) for x, y in zip(a.critic.parameters(), b.critic.parameters()))


class SlowSteps:
    """Wraps an env core so that every step takes ``seconds``."""

    def __init__(self, core, seconds: float):
        self.core, self.seconds = core, seconds

    def __getattr__(self, name):
        return getattr(self.core, name)

    def step(self, actions):
        time.sleep(self.seconds)
        return self.core.step(actions)


def test_a_time_budget_stops_inside_a_rollout_and_discards_it(process):
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="classifier")
    agent = PPO(env, small_config(episodes_per_update=16 * 20))  # 20 episode batches of 2 steps
    agent.core = SlowSteps(agent.core, 0.02)  # each batch takes at least 0.04 s, the rollout 0.8 s
    start = time.perf_counter()
    agent.learn(5, max_seconds=0.1)
    assert time.perf_counter() - start < 0.6  # stopped between batches, long before the rollout's end
    assert agent.stopped_by_time and agent.updates == 0 and agent.episodes == 0
    assert 0.1 <= agent.seconds < 0.6
    agent.learn(5, max_seconds=0.1)  # the budget counts over calls (and resumed runs): nothing more runs
    assert agent.stopped_by_time and agent.updates == 0


def test_a_time_budget_stops_inside_an_update_and_undoes_it(process, tmp_path):
    def make() -> PPO:
        return PPO(ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="adversarial"), small_config())

    reference = make().learn(2)
    agent = make().learn(1)
    clock = {"offset": 0.0}
    agent.clock = lambda: time.perf_counter() + clock["offset"]
    collect = agent.collect

    def collect_then_run_out_of_time():
        batch = collect()
        clock["offset"] = 1e6  # the budget is spent while the update runs: checked between minibatches
        return batch

    agent.collect = collect_then_run_out_of_time
    agent.learn(1, max_seconds=agent.seconds + 1000)
    assert agent.stopped_by_time and agent.updates == 1 and agent.episodes == 32
    # the cut update was undone whole, env and reward included: saved and resumed, the run goes on exactly
    path = agent.save(tmp_path / "capped.pt")
    resumed = PPO.load(path, ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="adversarial"))
    resumed.learn(1)
    for a, b in zip(reference.actor.state_dict().values(), resumed.actor.state_dict().values()):
        assert torch.equal(a, b)


def test_a_checkpoint_resumes_only_on_its_device_type(process, tmp_path):
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="classifier")
    path = PPO(env, small_config()).save(tmp_path / "ckpt.pt")
    state = torch.load(path, weights_only=True)
    torch.save({**state, "device": "cuda"}, path)  # as written on a GPU
    try:
        PPO.load(path, env)
    except ValueError as e:
        assert "trained on cuda" in str(e) and "--device cuda" in str(e)
    else:
        raise AssertionError("expected ValueError")
