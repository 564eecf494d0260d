"""The single and native vector environments through their public API (Gymnasium registration).

Every test runs the shipped generator; episodes are short and batches small so that the whole
file stays fast on a small shared CPU.
"""

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import batch_space

import adagen_env
from adagen_env.envs import ScheduleEnv, ScheduleVectorEnv
from adagen_env.processes.maskgit import MASK_COLOUR
from adagen_env.processes.sampling import hand_designed_schedule, sample

ENV_ID = "AdaGen/MaskGIT-Digits-v0"
NAMES = ("mask_ratio", "remask_temperature", "temperature", "guidance")  # the MaskGIT process's step parameters
P = len(NAMES)
N = 64  # tokens of an 8x8 image


def make(**kwargs) -> gym.Env:
    return gym.make(ENV_ID, **kwargs)


def make_vec(num_envs: int, **kwargs) -> ScheduleVectorEnv:
    return gym.make_vec(ENV_ID, num_envs=num_envs, **kwargs)


def assert_obs_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"observation entry {key!r} differs")


def applied(info: dict) -> np.ndarray:
    """``info["parameters"]`` (by name) as an array (..., P) in action order."""
    return np.stack([np.asarray(info["parameters"][name]) for name in NAMES], axis=-1)


def rollout(env, seed, actions, options=None):
    """Reset with ``seed`` and play ``actions``: -> list of observations, rewards, terminations, infos."""
    obs, _ = env.reset(seed=seed, options=options)
    observations, rewards, terminations, infos = [obs], [], [], []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        terminations.append(terminated)
        infos.append(info)
        assert not np.any(truncated)
    return observations, rewards, terminations, infos


# ---------------------------------------------------------------- 1. registration and kwargs


def test_import_registers_and_make_gives_the_single_env():
    assert adagen_env.get_paradigm(ENV_ID).env_id == ENV_ID
    assert ENV_ID in gym.registry
    env = make()
    assert isinstance(env.unwrapped, ScheduleEnv)
    assert env.spec.id == ENV_ID
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (P,), np.float32)
    assert obs["tokens"].shape == (N,) and obs["mask"].shape == (N,)
    assert obs["progress"].shape == (1,) and obs["progress"][0] == 0.0
    assert isinstance(info, dict)


def test_make_vec_gives_the_native_vector_env_with_batched_spaces():
    env = make_vec(8)
    assert type(env) is ScheduleVectorEnv
    assert not isinstance(env, SyncVectorEnv)
    assert env.num_envs == 8
    assert env.observation_space == batch_space(env.single_observation_space, 8)
    assert env.action_space == batch_space(env.single_action_space, 8)
    assert env.action_space.shape == (8, P)
    assert env.single_observation_space == make().observation_space
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs["tokens"].shape == (8, N) and obs["label"].shape == (8,)


@pytest.mark.parametrize("num_steps", [1, 4])
def test_num_steps_kwarg_sets_the_episode_length(num_steps):
    single = make(num_steps=num_steps)
    vector = make_vec(4, num_steps=num_steps)
    single.reset(seed=1)
    vector.reset(seed=1)
    for t in range(1, num_steps + 1):
        obs, reward, terminated, truncated, _ = single.step(np.zeros(P, np.float32))
        vobs, vreward, vterminated, vtruncated, _ = vector.step(np.zeros((4, P), np.float32))
        last = t == num_steps
        assert terminated is last and not truncated
        assert np.all(vterminated == last) and not vtruncated.any()
        assert obs["progress"][0] == pytest.approx(t / num_steps)
        np.testing.assert_allclose(vobs["progress"], t / num_steps, rtol=1e-6)
        if not last:
            assert reward == 0.0 and np.all(vreward == 0.0)
    assert obs["mask"].sum() == 0 and vobs["mask"].sum() == 0


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "cuda"])
def test_device_kwarg_is_honoured(device):
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    expected = torch.device(device)
    for env in (make(device=device), make_vec(2, device=device)):
        process = env.unwrapped.core.process
        assert process.device.type == expected.type
        assert next(process.model.parameters()).device.type == expected.type
        obs, _ = env.reset(seed=0)
        for _ in range(8):
            obs, reward, *_ = env.step(env.action_space.sample())
        assert isinstance(obs["tokens"], np.ndarray)
        assert np.all((np.asarray(reward) >= 0) & (np.asarray(reward) <= 1))


class LabelScorer:
    """A custom scorer: reward = label / 10, whatever the image."""

    min_batch_size = 1

    def __call__(self, images, labels):
        assert images.shape[1:] == (1, 8, 8)
        return labels.float() / 10


def test_reward_kwarg_takes_a_scorer_object():
    env = make(reward=LabelScorer())
    _, rewards, _, _ = rollout(env, 0, [np.zeros(P, np.float32)] * 8, options={"label": 7})
    assert rewards[:-1] == [0.0] * 7
    assert rewards[-1] == pytest.approx(0.7)
    venv = make_vec(4, reward=LabelScorer(), num_steps=2)
    _, rewards, _, _ = rollout(venv, 0, [np.zeros((4, P), np.float32)] * 2, options={"labels": [0, 3, 5, 9]})
    np.testing.assert_allclose(rewards[-1], [0.0, 0.3, 0.5, 0.9], rtol=1e-6)


def test_default_reward_is_a_probability():
    env = make_vec(8)
    _, rewards, _, _ = rollout(env, 3, [np.zeros((8, P), np.float32)] * 8)
    assert rewards[-1].dtype == np.float32
    assert np.all((rewards[-1] >= 0) & (rewards[-1] <= 1))


def test_unknown_kwarg_raises_type_error_naming_it():
    with pytest.raises(TypeError, match="foo"):
        make(foo=1)
    with pytest.raises(TypeError, match="foo"):
        make_vec(4, foo=1)


def test_unknown_reward_name_raises_value_error():
    with pytest.raises(ValueError, match="no-such-reward"):
        make(reward="no-such-reward")
    with pytest.raises(ValueError, match="no-such-reward"):
        make_vec(4, reward="no-such-reward")


# ---------------------------------------------------------------- 2. env checkers, spaces


def test_gymnasium_env_checker_passes():
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(make().unwrapped)


def test_stable_baselines3_env_checker_passes():
    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(make().unwrapped)


@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_observations_stay_in_the_observation_space(scale, rng):
    single = make()
    observations, _, _, _ = rollout(single, 4, scale * rng.uniform(-1, 1, (8, P)).astype(np.float32))
    for obs in observations:
        assert single.observation_space.contains(obs), obs
    vector = make_vec(8)
    observations, _, _, _ = rollout(vector, 5, scale * rng.uniform(-1, 1, (8, 8, P)).astype(np.float32))
    for obs in observations:
        assert vector.observation_space.contains(obs), obs


# ---------------------------------------------------------------- 3. zero action = plain sampler


@pytest.mark.parametrize("num_steps", [2, 4, 8])
def test_zero_actions_reproduce_the_plain_sampler_bit_for_bit(num_steps):
    seed = 100 + num_steps
    env = make_vec(16, num_steps=num_steps)
    observations, _, terminations, infos = rollout(env, seed, [np.zeros((16, P), np.float32)] * num_steps)
    assert terminations[-1].all()
    final = observations[-1]
    assert final["mask"].sum() == 0
    images = sample(env.unwrapped.core.process, labels=final["label"], num_steps=num_steps, seed=seed)
    assert images.shape == (16, 1, 8, 8)
    np.testing.assert_array_equal(final["tokens"], images.reshape(16, N).numpy())
    # the sampler's default schedule is exactly what the env applied
    schedule = hand_designed_schedule(env.unwrapped.core.process, num_steps, 16).numpy()
    np.testing.assert_array_equal(np.stack([applied(info) for info in infos]), schedule)


def test_zero_actions_of_the_single_env_reproduce_the_plain_sampler(process):
    env = make()
    for seed in (0, 1):
        observations, _, _, _ = rollout(env, seed, [np.zeros(P, np.float32)] * 8)
        label = observations[-1]["label"]
        images = sample(process, labels=[label], seed=seed)
        np.testing.assert_array_equal(observations[-1]["tokens"], images.reshape(N).numpy())


# ---------------------------------------------------------------- 4. determinism, reset options


def test_same_seed_same_trajectory_for_the_same_random_actions(rng):
    actions = rng.uniform(-1, 1, (8, 4, P)).astype(np.float32)
    first = rollout(make_vec(4), 11, actions)
    env = make_vec(4)
    env.reset(seed=999)  # a previous episode must not matter
    env.step(np.zeros((4, P), np.float32))
    second = rollout(env, 11, actions)
    for a, b in zip(first[0], second[0]):
        assert_obs_equal(a, b)
    np.testing.assert_array_equal(np.stack(first[1]), np.stack(second[1]))
    np.testing.assert_array_equal(np.stack(first[2]), np.stack(second[2]))

    single_actions = actions[:, 0]
    first = rollout(make(), 12, single_actions)
    second = rollout(make(), 12, single_actions)
    for a, b in zip(first[0], second[0]):
        assert_obs_equal(a, b)
    assert first[1] == second[1]


def test_different_seeds_give_different_images():
    labels = list(range(8))
    zeros = [np.zeros((8, P), np.float32)] * 8
    finals = [rollout(make_vec(8), seed, zeros, options={"labels": labels})[0][-1] for seed in (0, 1)]
    assert not np.array_equal(finals[0]["tokens"], finals[1]["tokens"])
    # and a reset without a seed goes on with fresh noise instead of repeating the batch
    env = make_vec(8)
    first = rollout(env, 0, zeros, options={"labels": labels})[0][-1]
    again = rollout(env, None, zeros, options={"labels": labels})[0][-1]
    np.testing.assert_array_equal(first["tokens"], finals[0]["tokens"])
    assert not np.array_equal(first["tokens"], again["tokens"])


def test_seeded_reset_draws_reproducible_labels():
    a = make_vec(16).reset(seed=5)[0]["label"]
    b = make_vec(16).reset(seed=5)[0]["label"]
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) > 1
    assert make().reset(seed=5)[0]["label"] == make().reset(seed=5)[0]["label"]


def test_reset_options_fix_the_labels():
    env = make_vec(4)
    obs, _ = env.reset(seed=0, options={"labels": [3, 1, 4, 1]})
    np.testing.assert_array_equal(obs["label"], [3, 1, 4, 1])
    obs, *_ = env.step(np.zeros((4, P), np.float32))
    np.testing.assert_array_equal(obs["label"], [3, 1, 4, 1])
    obs, _ = env.reset(options={"labels": np.array([9, 9, 0, 0])})
    np.testing.assert_array_equal(obs["label"], [9, 9, 0, 0])

    single = make()
    for label in (0, 6, 9):
        obs, _ = single.reset(seed=label, options={"label": label})
        assert obs["label"] == label
        obs, *_ = single.step(np.zeros(P, np.float32))
        assert obs["label"] == label


@pytest.mark.parametrize("labels", [[0, 1, 2, 10], [0, 1, 2, -1], [0, 1, 2], [0, 1, 2, 3, 4], []])
def test_bad_vector_labels_raise_value_error(labels):
    env = make_vec(4)
    with pytest.raises(ValueError, match="labels"):
        env.reset(seed=0, options={"labels": labels})


@pytest.mark.parametrize("label", [10, -1, [1, 2]])
def test_bad_single_label_raises_value_error(label):
    env = make()
    with pytest.raises(ValueError, match="label"):
        env.reset(seed=0, options={"label": label})


def test_unknown_reset_option_raises_value_error():
    with pytest.raises(ValueError, match="bogus"):
        make_vec(4).reset(seed=0, options={"bogus": 1})
    with pytest.raises(ValueError, match="bogus"):
        make().reset(seed=0, options={"bogus": 1})
    # the vector option name is not the single env's, and vice versa
    with pytest.raises(ValueError):
        make().reset(seed=0, options={"labels": [1]})
    with pytest.raises(ValueError):
        make_vec(4).reset(seed=0, options={"label": 1})


# ---------------------------------------------------------------- 5. vector(1) == single


@pytest.mark.parametrize("seed", [0, 21])
def test_vector_env_of_one_matches_the_single_env(seed, rng):
    actions = rng.uniform(-1.2, 1.2, (8, P)).astype(np.float32)
    single = rollout(make(), seed, actions)
    vector = rollout(make_vec(1), seed, actions[:, None])
    for s, v in zip(single[0], vector[0]):
        assert_obs_equal(s, {k: x[0] for k, x in v.items()})
    for s, v in zip(single[1], vector[1]):
        assert v.shape == (1,) and s == v[0]
    for s, v in zip(single[2], vector[2]):
        assert s == bool(v[0])
    for s, v in zip(single[3], vector[3]):
        np.testing.assert_array_equal(applied(s), applied(v)[0])
    assert single[2][-1] is True


# ---------------------------------------------------------------- 6. process invariants


def check_invariants(observations, infos):
    """Everything a MaskGIT episode guarantees except that revealed tokens stay revealed (see below)."""
    previous = observations[0]
    assert np.all(previous["mask"] == 1) and np.all(previous["tokens"] == 0)
    for obs, info in zip(observations[1:], infos):
        mask, tokens = obs["mask"].astype(bool), obs["tokens"]
        assert set(np.unique(obs["mask"])) <= {0.0, 1.0}
        np.testing.assert_array_equal(tokens * 16, np.round(tokens * 16))  # grey levels / 16
        assert np.all(tokens[mask] == 0)
        before, after = previous["mask"].sum(axis=-1), obs["mask"].sum(axis=-1)
        assert np.all(after <= before), "the number of masked tokens grew"
        assert np.all((after < before) | (before == 0)), "a step revealed no token"
        values = applied(info)
        assert values.shape == (mask.shape[0], P) and np.all(np.isfinite(values))
        ratio, others = values[:, 0], values[:, 1:]
        assert np.all((ratio > 0) & (ratio < 1)), "mask ratio outside (0, 1)"
        assert np.all(others > 0), "temperatures and guidance must be positive"
        previous = obs
    assert np.all(previous["mask"] == 0), "tokens are still masked after the last step"
    np.testing.assert_allclose(previous["progress"], 1.0)


def check_revealed_tokens_stay(observations):
    for previous, obs in zip(observations, observations[1:]):
        revealed = previous["mask"] == 0
        assert not np.any(obs["mask"].astype(bool) & revealed), "a revealed token was masked again"
        np.testing.assert_array_equal(obs["tokens"][revealed], previous["tokens"][revealed])


def random_actions(rng, num_steps, num_envs, extreme):
    if extreme:
        return 5 * rng.choice([-1.0, 1.0], size=(num_steps, num_envs, P)).astype(np.float32)
    return rng.uniform(-1, 1, (num_steps, num_envs, P)).astype(np.float32)


@pytest.mark.parametrize("extreme", [False, True])
@pytest.mark.parametrize("num_steps", [3, 8])
def test_invariants_under_random_actions(num_steps, extreme, rng):
    actions = random_actions(rng, num_steps, 32, extreme)
    observations, _, _, infos = rollout(make_vec(32, num_steps=num_steps), 7, actions)
    check_invariants(observations, infos)


@pytest.mark.parametrize("kind", ["zero", "uniform", "extreme"])
def test_revealed_tokens_are_never_masked_again(kind, rng):
    if kind == "zero":
        actions = np.zeros((8, 32, P), np.float32)
    else:
        actions = random_actions(rng, 8, 32, kind == "extreme")
    observations, _, _, _ = rollout(make_vec(32), 7, actions)
    check_revealed_tokens_stay(observations)


def test_extreme_actions_are_clipped_to_the_unit_box(rng):
    signs = rng.choice([-1.0, 1.0], size=(8, 32, P)).astype(np.float32)
    extreme = rollout(make_vec(32), 8, 5 * signs)
    clipped = rollout(make_vec(32), 8, signs)
    for a, b in zip(extreme[0], clipped[0]):
        assert_obs_equal(a, b)
    for a, b in zip(extreme[3], clipped[3]):
        np.testing.assert_array_equal(applied(a), applied(b))
    np.testing.assert_array_equal(extreme[1][-1], clipped[1][-1])
    # the single env clips the same way
    single_extreme = rollout(make(), 9, 5 * signs[:, 0])
    single_clipped = rollout(make(), 9, signs[:, 0])
    for a, b in zip(single_extreme[0], single_clipped[0]):
        assert_obs_equal(a, b)
    for a, b in zip(single_extreme[3], single_clipped[3]):
        np.testing.assert_array_equal(applied(a), applied(b))


def test_each_action_component_moves_its_own_parameter_monotonically(process):
    env = make_vec(3)
    env.reset(seed=0)
    actions = np.zeros((3, P), np.float32)
    actions[0], actions[2] = -1, 1
    _, _, _, _, info = env.step(actions)
    values = applied(info)
    assert np.all(values[0] < values[1]) and np.all(values[1] < values[2])
    np.testing.assert_array_equal(values[1], hand_designed_schedule(process, 8, 1)[0, 0].numpy())
    env.reset(seed=0)
    actions = np.zeros((3, P), np.float32)
    actions[0, 1] = 1  # only the re-mask temperature of sample 0
    _, _, _, _, info = env.step(actions)
    changed = applied(info) != values[1]
    np.testing.assert_array_equal(changed, [[False, True, False, False], [False] * P, [False] * P])


def test_zero_action_parameters_match_the_hand_designed_schedule(process):
    for num_steps in (1, 5):
        _, _, _, infos = rollout(make_vec(4, num_steps=num_steps), 0, [np.zeros((4, P), np.float32)] * num_steps)
        schedule = hand_designed_schedule(process, num_steps, 4).numpy()
        for t, info in enumerate(infos):
            np.testing.assert_array_equal(applied(info), schedule[t])
    _, _, _, infos = rollout(make(), 0, [np.zeros(P, np.float32)] * 8)
    schedule = hand_designed_schedule(process, 8, 1).numpy()
    for t, info in enumerate(infos):
        np.testing.assert_array_equal(applied(info), schedule[t, 0])


# ---------------------------------------------------------------- 7. autoreset


def test_autoreset_next_step(rng):
    env = make_vec(4, num_steps=2)
    env.reset(seed=3)
    for _ in range(2):
        obs, reward, terminated, truncated, _ = env.step(rng.uniform(-1, 1, (4, P)).astype(np.float32))
    assert terminated.all() and not truncated.any()
    assert np.all(reward >= 0) and reward.sum() > 0

    obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, (4, P)).astype(np.float32))
    assert reward.dtype == np.float32 and np.all(reward == 0)
    assert terminated.dtype == bool and not terminated.any() and not truncated.any()
    assert np.all(obs["progress"] == 0)
    assert np.all(obs["mask"] == 1) and np.all(obs["tokens"] == 0)
    assert env.observation_space.contains(obs)
    assert "parameters" not in info

    # the new episode runs normally
    obs, reward, terminated, _, info = env.step(np.zeros((4, P), np.float32))
    np.testing.assert_allclose(obs["progress"], 0.5)
    assert not terminated.any() and np.all(reward == 0) and applied(info).shape == (4, P)
    obs, reward, terminated, _, _ = env.step(np.zeros((4, P), np.float32))
    assert terminated.all() and np.all(obs["mask"] == 0)


def test_autoreset_disabled_asks_for_an_explicit_reset():
    env = make_vec(2, num_steps=1, autoreset_mode="disabled")
    assert env.autoreset_mode == AutoresetMode.DISABLED == env.metadata["autoreset_mode"]
    assert make_vec(2).metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP  # the class default is untouched
    env.reset(seed=0)
    _, _, terminated, _, _ = env.step(np.zeros((2, P), np.float32))
    assert terminated.all()
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.zeros((2, P), np.float32))
    obs, _ = env.reset()
    assert np.all(obs["progress"] == 0)
    env.step(np.zeros((2, P), np.float32))
    with pytest.raises(ValueError, match="autoreset_mode must be 'next_step' or 'disabled'"):
        make_vec(2, autoreset_mode="same-step")


def test_autoreset_step_still_validates_actions():
    env = make_vec(2, num_steps=1)
    env.reset(seed=0)
    env.step(np.zeros((2, P), np.float32))
    with pytest.raises(ValueError):
        env.step(np.full((2, P), np.nan, np.float32))


# ---------------------------------------------------------------- 8. error paths


@pytest.mark.parametrize("shape", [(4, P - 1), (3, P), (P,), (4, P, 1)])
def test_vector_wrong_action_shape_raises(shape):
    env = make_vec(4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(shape, np.float32))


@pytest.mark.parametrize("shape", [(P - 1,), (1, P), (P + 1,), ()])
def test_single_wrong_action_shape_raises(shape):
    env = make()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(shape, np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_actions_raise(bad):
    env = make_vec(4)
    env.reset(seed=0)
    actions = np.zeros((4, P), np.float32)
    actions[2, 1] = bad
    with pytest.raises(ValueError, match="finite"):
        env.step(actions)
    single = make()
    single.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        single.step(np.array([0, 0, bad, 0], np.float32))


def test_a_rejected_action_leaves_the_episode_untouched(rng):
    actions = rng.uniform(-1, 1, (8, 4, P)).astype(np.float32)
    reference = rollout(make_vec(4), 2, actions)
    env = make_vec(4)
    env.reset(seed=2)
    for t in range(8):
        with pytest.raises(ValueError):
            env.step(np.full((4, P), np.nan, np.float32))
        obs, reward, *_ = env.step(actions[t])
        assert_obs_equal(obs, reference[0][t + 1])
    np.testing.assert_array_equal(reward, reference[1][-1])


@pytest.mark.parametrize("vector", [False, True])
def test_huge_but_finite_actions_are_clipped(vector):
    """1e300 (finite in float64, infinite in float32) acts as 1: clipped before any cast."""
    applied = []
    for value in (1e300, 1.0):
        env = make_vec(2) if vector else make().unwrapped
        env.reset(seed=0)
        action = np.zeros(env.action_space.shape)
        action[..., 0] = value
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow on the way
            _, _, _, _, info = env.step(action)
        applied.append(np.asarray(info["parameters"]["mask_ratio"], dtype=np.float64))
    np.testing.assert_array_equal(applied[0], applied[1])
    assert np.isfinite(applied[0]).all()


def test_step_before_reset_raises_runtime_error():
    with pytest.raises(RuntimeError, match="reset"):
        ScheduleEnv().step(np.zeros(P, np.float32))
    with pytest.raises(RuntimeError, match="reset"):
        make_vec(4).step(np.zeros((4, P), np.float32))


def test_single_step_after_termination_raises_runtime_error():
    env = make(num_steps=2).unwrapped
    env.reset(seed=0)
    env.step(np.zeros(P, np.float32))
    *_, terminated, _, _ = env.step(np.zeros(P, np.float32))
    assert terminated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(P, np.float32))
    env.reset(seed=0)  # and reset makes it usable again
    obs, *_ = env.step(np.zeros(P, np.float32))
    assert obs["progress"][0] == 0.5


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("render_mode", ["human", "ansi", "rgb"])
def test_invalid_render_mode_raises(render_mode):
    with pytest.raises(ValueError, match="render_mode"):
        ScheduleEnv(render_mode=render_mode)
    with pytest.raises(ValueError, match="render_mode"):
        ScheduleVectorEnv(num_envs=2, render_mode=render_mode)
    if render_mode != "human":  # gym.make itself wraps 'human' around 'rgb_array'
        with pytest.raises(ValueError, match="render_mode"):
            make(render_mode=render_mode)


def test_batch_fd_reward_needs_a_batch():
    with pytest.raises(ValueError, match="num_envs"):
        make(reward="batch-fd")
    with pytest.raises(ValueError, match="num_envs"):
        make_vec(1, reward="batch-fd")


def test_batch_fd_reward_with_the_vector_env():
    env = make_vec(8, reward="batch-fd", num_steps=4)
    _, rewards, terminations, _ = rollout(env, 0, [np.zeros((8, P), np.float32)] * 4)
    assert terminations[-1].all()
    for reward in rewards[:-1]:
        assert np.all(reward == 0)
    final = rewards[-1]
    assert final.shape == (8,) and np.all(np.isfinite(final))
    assert np.all(final == final[0]), "every sample of the batch must get the same reward"
    assert final[0] < 0


# ---------------------------------------------------------------- 9. rendering


def test_single_render_rgb_array():
    env = make(render_mode="rgb_array")
    assert env.render_mode == "rgb_array"
    env.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.shape == (128, 128, 3)
    assert np.all(frame == np.array(MASK_COLOUR, np.uint8)), "all masked at reset"
    for _ in range(8):
        obs, *_ = env.step(np.zeros(P, np.float32))
    frame = env.render()
    assert frame.shape == (128, 128, 3)
    # finished: grey everywhere, 16x16 blocks showing the observed grey levels
    assert np.all(frame[..., 0] == frame[..., 1]) and np.all(frame[..., 1] == frame[..., 2])
    expected = np.round(obs["tokens"].reshape(8, 8) * 255).astype(np.uint8)
    np.testing.assert_array_equal(frame[..., 0], np.kron(expected, np.ones((16, 16), np.uint8)))


def test_partial_render_shows_masked_positions():
    env = make(render_mode="rgb_array", render_scale=2)
    env.reset(seed=1)
    obs, *_ = env.step(np.zeros(P, np.float32))
    frame = env.render()
    assert frame.shape == (16, 16, 3)
    is_mask_colour = np.all(frame[::2, ::2] == np.array(MASK_COLOUR, np.uint8), axis=-1)
    np.testing.assert_array_equal(is_mask_colour, obs["mask"].reshape(8, 8).astype(bool))


def test_vector_render_returns_one_frame_per_env():
    env = make_vec(3, render_mode="rgb_array")
    env.reset(seed=0)
    frames = env.render()
    assert isinstance(frames, tuple) and len(frames) == 3
    for frame in frames:
        assert frame.dtype == np.uint8 and frame.shape == (128, 128, 3)
        assert np.all(frame == np.array(MASK_COLOUR, np.uint8))


def test_render_without_render_mode_returns_none():
    env = make()
    env.reset(seed=0)
    assert env.render() is None
    venv = make_vec(2)
    venv.reset(seed=0)
    assert venv.render() is None


# ---------------------------------------------------------------- 10. pickling


def test_pickled_single_env_continues_identically(rng):
    env = make().unwrapped
    env.reset(seed=17)
    for _ in range(2):
        env.step(rng.uniform(-1, 1, P).astype(np.float32))
    copy = pickle.loads(pickle.dumps(env))
    assert isinstance(copy, ScheduleEnv)
    # step both in turn: a copy sharing the original's noise generator would diverge
    for _ in range(6):
        action = rng.uniform(-1, 1, P).astype(np.float32)
        a = env.step(action)
        b = copy.step(action)
        assert_obs_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
        np.testing.assert_array_equal(applied(a[4]), applied(b[4]))
    assert a[2] is True
    # unseeded resets go on from the same random state too
    assert_obs_equal(env.reset()[0], copy.reset()[0])
    action = rng.uniform(-1, 1, P).astype(np.float32)
    assert_obs_equal(env.step(action)[0], copy.step(action)[0])
