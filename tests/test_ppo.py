"""Our batched PPO: starts at the hand-designed schedule, learns, and resumes exactly."""

import time

import numpy as np
import pytest
import torch

from adagen_agents.loading import load_actor
from adagen_agents.ppo import BEFORE_PORT, PPO, PPOConfig
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


# ---------------------------------------------------------------- the fields ported from SB3's PPO and TRPO


def first_step_stats(process, **overrides) -> tuple[PPO, dict, dict]:
    """One update of one epoch whose steps leave the networks as they were (a learning rate of 1e-30):
    every minibatch's probability ratio is exactly 1, so its policy loss is minus its mean advantage."""
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=3, reward="classifier")
    agent = PPO(env, small_config(epochs=1, learning_rate=1e-30, **overrides))
    batch = agent.collect()
    return agent, batch, agent.update(batch)


def test_minibatch_advantage_normalisation_gives_zero_mean_advantages(process):
    _, _, plain = first_step_stats(process, minibatches=4)
    _, _, normalised = first_step_stats(process, minibatches=4, normalize_advantage=True)
    # the policy loss is minus the mean advantage: the mean of the critic's untrained values without,
    # 0 with (each of the 4 minibatches has zero-mean advantages)
    assert abs(plain["policy_loss"]) > 1e-3
    assert abs(normalised["policy_loss"]) < 1e-6


@pytest.mark.parametrize("lam", [1.0, 0.5])
def test_gae_bootstraps_from_the_rollout_time_value_of_the_next_step(process, lam):
    agent, batch, stats = first_step_stats(process, minibatches=1, rollout_values=True, gae_lambda=lam)
    with torch.no_grad():
        values = agent.critic(batch["observation"])[:, 0].reshape(-1, 3, 16)  # (episode batch, step, env)
    returns = batch["return"]
    normalised = ((returns - returns.mean()) / (returns.std() + 1e-8)).reshape(-1, 3, 16)
    # gamma 1, the reward at the last step: A_t = sum_k lambda^k (r_t+k + V_t+k+1 - V_t+k), V_3 = 0
    deltas = [values[:, 1] - values[:, 0], values[:, 2] - values[:, 1], normalised[:, 2] - values[:, 2]]
    advantages = [deltas[2], deltas[1] + lam * deltas[2], deltas[0] + lam * deltas[1] + lam**2 * deltas[2]]
    expected = torch.stack(advantages).mean().item()
    assert stats["policy_loss"] == pytest.approx(-expected, abs=1e-5)
    if lam == 1.0:  # Monte-Carlo: the normalised return minus the value at rollout time
        assert expected == pytest.approx((normalised - values).mean().item(), abs=1e-5)


@pytest.mark.parametrize("rollout_values", [False, True])
def test_a_discount_gives_the_early_steps_of_an_episode_less_credit(process, rollout_values):
    gamma, lam = 0.8, 0.5 if rollout_values else 1.0
    agent, batch, stats = first_step_stats(
        process, minibatches=1, gamma=gamma, rollout_values=rollout_values, gae_lambda=lam
    )
    with torch.no_grad():
        values = agent.critic(batch["observation"])[:, 0].reshape(-1, 3, 16)  # (episode batch, step, env)
    returns = batch["return"]
    normalised = ((returns - returns.mean()) / (returns.std() + 1e-8)).reshape(-1, 3, 16)[:, 2]
    if rollout_values:  # GAE(gamma, lambda) with the reward at the last step and V_3 = 0
        deltas = [gamma * values[:, 1] - values[:, 0], gamma * values[:, 2] - values[:, 1], normalised - values[:, 2]]
        g = gamma * lam
        advantages = [deltas[2], deltas[1] + g * deltas[2], deltas[0] + g * deltas[1] + g**2 * deltas[2]]
    else:  # Monte-Carlo: step t's return is gamma^(2-t) x the normalised final reward
        advantages = [gamma ** (2 - t) * normalised - values[:, t] for t in range(3)]
    advantages = torch.stack(advantages, dim=1)
    assert stats["policy_loss"] == pytest.approx(-advantages.mean().item(), abs=1e-5)
    # the critic's targets are the discounted returns (Monte-Carlo) or the TD(lambda) returns
    targets = advantages + values
    assert stats["value_loss"] == pytest.approx(nn_mse(values, targets), rel=1e-4)
    # not what gamma 1 gives: the discount changes the targets, it does not only rescale them
    _, _, undiscounted = first_step_stats(process, minibatches=1, rollout_values=rollout_values, gae_lambda=lam)
    assert abs(undiscounted["value_loss"] - stats["value_loss"]) > 1e-2
    with pytest.raises(ValueError, match="gamma must be in"):
        PPOConfig(gamma=0.0)


def test_gae_and_value_clipping_need_the_rollout_values():
    for overrides in (dict(gae_lambda=0.95), dict(clip_value=0.2)):
        with pytest.raises(ValueError, match="need rollout_values"):
            PPOConfig(**overrides)
    with pytest.raises(ValueError, match="must be true or false"):
        PPOConfig(learned_std=1)


def test_value_clipping_keeps_the_value_near_its_rollout_time_value(process):
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=3, reward="classifier")
    agent = PPO(env, small_config(epochs=4, learning_rate=1e-2, rollout_values=True, clip_value=1e-6))
    batch = agent.collect()
    with torch.no_grad():
        old = agent.critic(batch["observation"])[:, 0]
    returns = batch["return"]
    targets = (returns - returns.mean()) / (returns.std() + 1e-8)  # lambda 1: the normalised returns
    stats = agent.update(batch)
    # the critic learns, but every minibatch's loss sees values clipped to within 1e-6 of the old ones
    assert stats["value_loss"] == pytest.approx(nn_mse(old, targets), rel=1e-4)
    with torch.no_grad():
        assert not torch.allclose(agent.critic(batch["observation"])[:, 0], old)


def nn_mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.mse_loss(a, b).item()


def test_target_kl_stops_the_update_at_the_first_minibatch_past_it(process):
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=3, reward="classifier")
    agent = PPO(env, small_config(epochs=4, minibatches=4, learning_rate=1e-2, target_kl=1e-9))
    stats = agent.update(agent.collect())
    # the first minibatch's KL is 0 (the policy of the rollout); after its step the next one's is not
    assert stats["gradient_steps"] == 1 and stats["approx_kl"] > 0
    unlimited = PPO(env, small_config(epochs=4, minibatches=4, learning_rate=1e-2, target_kl=10.0))
    assert unlimited.update(unlimited.collect())["gradient_steps"] == 16


def test_learned_std_is_a_parameter_that_learns_and_resumes(process, tmp_path):
    def make() -> ScheduleVectorEnv:
        return ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="adversarial")

    agent = PPO(make(), small_config(learned_std=True, std_start=0.5, std_switch_update=0))
    assert agent.std() == pytest.approx(0.5)  # starts at --std-start; the schedule does not act
    batch = agent.collect()
    agent.update(batch)
    assert agent.log_std.grad is not None and agent.log_std.grad.abs().sum() > 0
    assert not torch.allclose(agent.log_std, torch.full_like(agent.log_std, np.log(0.5)))
    assert len(agent.log_std) == agent.core.num_parameters  # one per action, state-independent
    path = agent.save(tmp_path / "learned.pt")
    agent.learn(1)
    resumed = PPO.load(path, make())
    resumed.learn(1)
    assert torch.equal(resumed.log_std, agent.log_std)
    for a, b in zip(agent.actor.state_dict().values(), resumed.actor.state_dict().values()):
        assert torch.equal(a, b)
    actor, _ = load_actor(path, process)  # a policy file needs the actor alone
    assert not actor.training


def test_orthogonal_init_keeps_the_hand_designed_start(process):
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=4, reward="classifier")
    agent = PPO(env, small_config(orthogonal_init=True))
    hidden = agent.actor.head[1].weight  # square: W W^T = gain^2 I, gain sqrt 2
    assert torch.allclose(hidden @ hidden.T, 2 * torch.eye(len(hidden)), atol=1e-4)
    labels = torch.arange(16) % 10
    learned = policy_generator(process, agent.predict, EpisodeSpec(num_steps=4))(labels, 5)
    assert torch.equal(learned, sample(process, labels, num_steps=4, seed=5))


def test_a_checkpoint_from_before_the_ported_fields_resumes_as_it_ran(process, tmp_path):
    env = ScheduleVectorEnv(num_envs=16, process=process, num_steps=2, reward="classifier")
    path = PPO(env, small_config()).learn(1).save(tmp_path / "old.pt")
    state = torch.load(path, weights_only=True)
    state["config"] = {k: v for k, v in state["config"].items() if k not in BEFORE_PORT}  # as written then
    torch.save(state, path)
    resumed = PPO.load(path, env)
    assert {k: getattr(resumed.config, k) for k in BEFORE_PORT} == BEFORE_PORT and resumed.log_std is None
    resumed.learn(1)
