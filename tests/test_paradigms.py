"""The continuous-time paradigms (diffusion, rectified flow) through the same env API as MaskGIT.

Each guarantee of the MaskGIT environment is checked for every paradigm and solver: the zero
action is the hand-designed schedule bit for bit, both env checkers pass, vector and single
envs agree, bad input gets a clear error, rendering works; plus what is special to
continuous time: per-sample times that move monotonically and land on the end time, and
solvers whose order shows.
"""
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

from adagen_env.processes import DiffusionProcess, FlowProcess
from adagen_env.processes.continuous import MIN_TIME_GAP
from adagen_env.sampling import hand_designed_schedule, sample

P = 2  # step parameters: time step, guidance
ENVS = {"AdaGen/Diffusion-Digits-v0": DiffusionProcess, "AdaGen/Flow-Digits-v0": FlowProcess}
SOLVERS = [(env_id, solver) for env_id, cls in ENVS.items() for solver in cls.solvers]


@pytest.fixture(params=list(ENVS))
def env_id(request) -> str:
    return request.param


def rollout(env, seed, actions, options=None):
    obs, _ = env.reset(seed=seed, options=options)
    observations, rewards, infos = [obs], [], []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
    assert np.all(terminated)
    return observations, rewards, infos


def test_registered_envs_have_the_declared_spaces(env_id):
    env = gym.make(env_id, num_steps=4, reward="classifier")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (P,), np.float32)
    assert obs["denoised"].shape == (64,) and obs["time"].shape == (1,)
    vector = gym.make_vec(env_id, num_envs=5, num_steps=4, reward="classifier")
    assert vector.action_space.shape == (5, P)


def test_both_env_checkers_pass(env_id):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check(gym.make(env_id, num_steps=4, reward="classifier").unwrapped)
        sb3_check(gym.make(env_id, num_steps=4, reward="classifier").unwrapped)


@pytest.mark.parametrize("env_id,solver", SOLVERS)
def test_zero_actions_reproduce_the_hand_designed_schedule_bit_for_bit(env_id, solver):
    process = ENVS[env_id](solver=solver)
    env = gym.make_vec(env_id, num_envs=12, num_steps=5, reward="classifier", process=process)
    observations, _, infos = rollout(env, 3, [np.zeros((12, P), np.float32)] * 5)
    images = sample(process, labels=observations[-1]["label"], num_steps=5, seed=3)
    np.testing.assert_array_equal(env.unwrapped.core.process.decode(env.unwrapped.core.state).numpy(), images.numpy())
    applied = np.stack([info["parameters"] for info in infos])
    np.testing.assert_array_equal(applied, hand_designed_schedule(process, 5, 12).numpy())
    # the hand-designed times are uniform from t_start to t_end
    times = [obs["time"][0, 0] for obs in observations]
    np.testing.assert_allclose(times, np.linspace(process.t_start, process.t_end, 6), atol=1e-6)


def test_the_single_env_with_zero_actions_matches_the_sampler(env_id):
    env = gym.make(env_id, num_steps=4, reward="classifier")
    observations, _, _ = rollout(env, 5, [np.zeros(P, np.float32)] * 4)
    images = sample(env.unwrapped.core.process, labels=[observations[-1]["label"]], num_steps=4, seed=5)
    np.testing.assert_array_equal(env.unwrapped.core.process.decode(env.unwrapped.core.state).numpy(), images.numpy())


def test_vector_env_of_one_matches_the_single_env(env_id, rng):
    actions = rng.uniform(-1.5, 1.5, (6, P)).astype(np.float32)
    single = rollout(gym.make(env_id, num_steps=6, reward="classifier"), 8, actions)
    vector = rollout(gym.make_vec(env_id, num_envs=1, num_steps=6, reward="classifier"), 8, actions[:, None])
    for s, v in zip(single[0], vector[0]):
        for key in s:
            np.testing.assert_array_equal(s[key], v[key][0], err_msg=key)
    assert single[1] == [float(v[0]) for v in vector[1]]


@pytest.mark.parametrize("extreme", [False, True])
def test_times_move_monotonically_by_the_minimum_gap_and_end_on_time(env_id, extreme, rng):
    num_steps, num_envs = 7, 32
    if extreme:
        actions = 5 * rng.choice([-1.0, 1.0], size=(num_steps, num_envs, P)).astype(np.float32)
    else:
        actions = rng.uniform(-1, 1, (num_steps, num_envs, P)).astype(np.float32)
    env = gym.make_vec(env_id, num_envs=num_envs, num_steps=num_steps, reward="classifier")
    observations, _, infos = rollout(env, 2, actions)
    process = env.unwrapped.core.process
    direction = np.sign(process.t_end - process.t_start)
    times = np.stack([obs["time"][:, 0] for obs in observations]).astype(np.float64)
    assert np.all(direction * np.diff(times, axis=0) >= MIN_TIME_GAP - 1e-6)
    np.testing.assert_allclose(times[-1], process.t_end, atol=1e-6)
    assert len(np.unique(times[1])) > 1, "random actions should give every sample its own time"
    for obs in observations:
        assert env.observation_space.contains(obs)
    for info in infos:
        values = info["parameters"]
        assert np.all((values[:, 0] > 0) & (values[:, 0] < 1)) and np.all(values[:, 1] > 0)


@pytest.mark.parametrize("env_id,solver", SOLVERS)
def test_a_sample_does_not_depend_on_the_rest_of_its_batch(env_id, solver):
    """Per-sample times are exact: a sample with its own schedule equals the same sample alone."""
    process = ENVS[env_id](solver=solver)
    schedule = torch.stack([process.static_schedule(5, spacing=s) for s in ("uniform", "quadratic", "sqrt")], dim=1)
    together = sample(process, labels=[1, 2, 3], schedule=schedule, seed=4)
    # run the middle sample alone from the same starting noise
    generator = torch.Generator().manual_seed(4)
    state = process.reset(torch.tensor([1, 2, 3]), generator)
    single = process.reset(torch.tensor([2]), generator)
    single.x = state.x[1:2].clone()
    for values in schedule[:, 1:2]:
        single = process.step(single, values, 5, generator)
    torch.testing.assert_close(process.decode(single), together[1:2], atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls,first,second", [(DiffusionProcess, "ddim", "dpm-solver-2m"), (FlowProcess, "euler", "heun")])
def test_the_second_order_solver_is_closer_to_the_exact_solution(cls, first, second):
    """At the same step count, the second-order solver lands nearer a fine-step reference."""
    labels = torch.arange(10)
    reference = sample(cls(solver=second), labels, cls(solver=second).static_schedule(60), seed=0)
    errors = {}
    for solver in (first, second):
        process = cls(solver=solver)
        errors[solver] = (sample(process, labels, process.static_schedule(6), seed=0) - reference).abs().mean().item()
    assert errors[second] < 0.7 * errors[first], errors


def test_nfe_counts_model_evaluations():
    assert DiffusionProcess(solver="dpm-solver-2m").nfe(5) == 5
    assert DiffusionProcess(solver="ddim").nfe(5) == 5
    assert FlowProcess(solver="euler").nfe(5) == 5
    assert FlowProcess(solver="heun").nfe(5) == 10


def test_bad_input_gets_a_clear_error(env_id):
    with pytest.raises(ValueError, match="solver must be one of"):
        ENVS[env_id](solver="rk4")
    with pytest.raises(ValueError, match="at least 0.01 per step"):
        gym.make(env_id, num_steps=200, reward="classifier")
    env = gym.make_vec(env_id, num_envs=4, num_steps=3, reward="classifier")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.full((4, P), np.nan, np.float32))
    with pytest.raises(ValueError, match="spacing must be one of"):
        ENVS[env_id]().static_schedule(4, spacing="log")


def test_render_shows_the_current_images(env_id):
    env = gym.make(env_id, num_steps=3, reward="classifier", render_mode="rgb_array", render_scale=4)
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (32, 32, 3)
    for _ in range(3):
        env.step(np.zeros(P, np.float32))
    final = env.render()
    expected = (env.unwrapped.core.process.decode(env.unwrapped.core.state)[0, 0] * 255).round().numpy().astype(np.uint8)
    np.testing.assert_array_equal(final[::4, ::4, 0], expected)
    assert not np.array_equal(frame, final)


def test_hand_designed_samples_are_the_digits_asked_for(env_id):
    """The shipped generator is good: the shipped classifier recognises most hand-designed samples."""
    from adagen_env.models.classifier import load_classifier

    process = ENVS[env_id]()
    labels = torch.arange(100) % 10
    images = sample(process, labels, num_steps=8, seed=0)
    accuracy = (load_classifier()(images).argmax(-1) == labels).float().mean().item()
    assert accuracy > 0.9, accuracy
