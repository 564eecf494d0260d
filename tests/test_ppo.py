"""Our batched PPO: starts at the hand-designed schedule, learns, and resumes exactly."""
import numpy as np
import torch

from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation import policy_generator
from adagen_env.sampling import sample
from agents.ppo import PPO, PPOConfig, load_actor


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
    learned = policy_generator(process, 4, agent.predict)(labels, 5)
    assert torch.equal(learned, sample(process, labels, num_steps=4, seed=5))


def test_ppo_raises_a_reward_it_can_control(process):
    env = ScheduleVectorEnv(num_envs=32, process=process, num_steps=2, reward=Brightness())
    agent = PPO(env, small_config(episodes_per_update=64, learning_rate=3e-3, epochs=4))
    labels = torch.arange(256) % 10

    def brightness() -> float:
        return policy_generator(process, 2, agent.predict)(labels, 0).mean().item()

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
    path = agent.save(tmp_path / "ckpt.pt", env="AdaGen/MaskGIT-Digits-v0", num_steps=2)
    agent.learn(1)
    resumed = PPO.load(path, make())
    assert resumed.updates == 2
    resumed.learn(1)
    for a, b in zip(agent.actor.state_dict().values(), resumed.actor.state_dict().values()):
        assert torch.equal(a, b)
    actor, metadata = load_actor(path, process.feature_dim, process.num_classes, 4)
    assert metadata["num_steps"] == 2 and not actor.training


def test_episodes_per_update_must_fill_whole_batches(process):
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="classifier")
    try:
        PPO(env, small_config(episodes_per_update=20))
    except ValueError as e:
        assert "multiple of num_envs" in str(e)
    else:
        raise AssertionError("expected ValueError")
