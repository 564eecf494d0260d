"""The method's action smoothing: an exponential moving average of the actions, off by default."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import adagen_env  # noqa: F401  (registers the environments)
from adagen_env import EpisodeSpec, ScheduleVectorEnv, policy_generator, static_generator
from adagen_env.paradigms import PARADIGMS, make_process


def run(env_id: str, actions: list[np.ndarray], **kwargs) -> tuple[list[dict], list[dict], np.ndarray]:
    env = gym.make_vec(env_id, num_envs=4, reward="classifier", **kwargs)
    obs, _ = env.reset(seed=7)
    observations, parameters = [obs], []
    for a in actions:
        obs, _, _, _, info = env.step(np.broadcast_to(a, env.action_space.shape).astype(np.float32))
        observations.append(obs)
        parameters.append(info["parameters"])
    return observations, parameters, env.unwrapped.core.images().numpy()


@pytest.mark.parametrize("paradigm", list(PARADIGMS.values()), ids=list(PARADIGMS))
def test_zero_actions_stay_the_hand_designed_schedule_bit_for_bit(paradigm):
    steps = make_process(paradigm.name).default_num_steps
    zeros = [np.zeros(1, np.float32)] * steps
    _, plain_params, plain_images = run(paradigm.env_id, zeros)
    _, params, images = run(paradigm.env_id, zeros, smoothing=0.9)
    assert np.array_equal(images, plain_images)
    for a, b in zip(params, plain_params):
        assert all(np.array_equal(a[k], b[k]) for k in b if not k.startswith("_"))


def test_the_step_uses_the_moving_average_of_the_actions():
    env_id, P = "AdaGen/MaskGIT-Digits-v0", 4
    a0, a1, a2 = np.full(P, 0.8, np.float32), np.full(P, -0.4, np.float32), np.zeros(P, np.float32)
    observations, params, _ = run(env_id, [a0, a1, a2] + [a2] * 5, smoothing=0.5)
    s0, s1, s2 = a0, 0.5 * a0 + 0.5 * a1, 0.25 * a0 + 0.25 * a1  # s_0 = a_0, then the average
    # the observation shows the average the next step builds on: the MDP stays Markov
    for obs, expected in zip(observations, [np.zeros(P), s0, s1, s2]):
        np.testing.assert_allclose(obs["smoothed_action"], np.broadcast_to(expected, (4, P)), rtol=1e-6)
    # the parameters applied are those of the unsmoothed env given the averages as actions
    _, plain, _ = run(env_id, [s0, s1, s2] + [np.zeros(P, np.float32)] * 5)
    for smoothed_step, plain_step in zip(params[:3], plain[:3]):
        for name in ("mask_ratio", "remask_temperature", "temperature", "guidance"):
            np.testing.assert_allclose(smoothed_step[name], plain_step[name], rtol=1e-5)


def test_smoothing_off_leaves_the_observation_as_it_was():
    env = ScheduleVectorEnv(num_envs=2, reward="classifier")
    assert "smoothed_action" not in env.single_observation_space.spaces
    assert (
        "smoothed_action"
        in ScheduleVectorEnv(num_envs=2, reward="classifier", smoothing=0.5).single_observation_space.spaces
    )


@pytest.mark.parametrize("paradigm", list(PARADIGMS.values()), ids=list(PARADIGMS))
def test_method_takes_the_paradigms_own_value(paradigm):
    env = gym.make(paradigm.env_id, reward="classifier", smoothing="method")
    assert env.unwrapped.episode.smoothing == paradigm.smoothing
    assert ("smoothed_action" in env.observation_space.spaces) == (paradigm.smoothing > 0)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "often", True, None])
def test_smoothing_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match=r"smoothing must be a number in \[0, 1\) or 'method'"):
        ScheduleVectorEnv(num_envs=2, reward="classifier", smoothing=bad)


def test_method_needs_a_registered_process():
    with pytest.raises(ValueError, match="needs the process by its registered name"):
        ScheduleVectorEnv(num_envs=2, process=make_process("var-digits"), reward="classifier", smoothing="method")


def test_policy_generator_samples_with_the_smoothing_it_is_given():
    process = make_process("maskgit-digits")
    labels = torch.arange(8)
    zero = lambda obs: torch.zeros(len(obs["label"]), 4)  # noqa: E731
    hand = static_generator(process, 8)(labels, 3)
    assert torch.equal(policy_generator(process, zero, EpisodeSpec(smoothing=0.8))(labels, 3), hand)
    push = lambda obs: torch.where(obs["progress"] < 0.2, 1.0, -1.0).expand(len(obs["label"]), 4)  # noqa: E731
    assert not torch.equal(
        policy_generator(process, push, EpisodeSpec(smoothing=0.8))(labels, 3),
        policy_generator(process, push)(labels, 3),
    )
