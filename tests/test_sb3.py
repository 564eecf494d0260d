"""SB3VecEnv: Stable-Baselines3 algorithms, evaluation and VecEnv wrappers on the native batched env."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecCheckNan, VecMonitor, VecNormalize

import adagen_env
from adagen_agents.sb3_vec_env import SB3VecEnv

NUM_ENVS = 8
BOX_KEYS = ["progress", "features", "tokens", "mask"]  # VecNormalize normalises Box entries only


def make_venv(num_steps: int = 2, **kwargs) -> adagen_env.ScheduleVectorEnv:
    return gym.make_vec("AdaGen/MaskGIT-Digits-v0", num_envs=NUM_ENVS, num_steps=num_steps, **kwargs)


def zero_actions(env: SB3VecEnv) -> np.ndarray:
    return np.zeros((env.num_envs, *env.action_space.shape), dtype=np.float32)


def run_episode(env: SB3VecEnv, num_steps: int) -> tuple[np.ndarray, list]:
    """Rewards and per-step results of one zero-action episode, starting right after a reset."""
    steps = [env.step(zero_actions(env)) for _ in range(num_steps)]
    return np.stack([rewards for _, rewards, _, _ in steps]), steps


def test_spaces_are_the_single_ones():
    venv = make_venv()
    env = SB3VecEnv(venv)
    assert env.num_envs == NUM_ENVS
    assert env.observation_space == venv.single_observation_space
    assert env.action_space == venv.single_action_space
    obs = env.reset()
    assert env.observation_space.contains({key: value[0] for key, value in obs.items()})
    assert len(env.reset_infos) == NUM_ENVS


def test_terminal_step_resets_and_reports_like_monitor():
    num_steps, seed = 4, 11
    env = SB3VecEnv(make_venv(num_steps))
    native = make_venv(num_steps)  # the same episodes, for the final and first observations
    env.seed(seed)
    env.reset()
    native.reset(seed=seed)
    rewards, steps = run_episode(env, num_steps)
    for _ in range(num_steps):
        final, native_rewards, *_ = native.step(zero_actions(env))
    next_first, _ = native.reset()

    for t, (_, step_rewards, dones, infos) in enumerate(steps):
        assert step_rewards.dtype == np.float32 and dones.dtype == np.bool_
        assert len(infos) == NUM_ENVS and all("parameters" in info for info in infos)
        last = t == num_steps - 1
        assert dones.tolist() == [last] * NUM_ENVS
        assert all(("terminal_observation" in info) == last for info in infos)
    obs, _, _, infos = steps[-1]
    np.testing.assert_array_equal(rewards[-1], native_rewards)
    for key in final:
        np.testing.assert_array_equal(obs[key], next_first[key])  # the new episode's first observation
        for i, info in enumerate(infos):
            np.testing.assert_array_equal(info["terminal_observation"][key], final[key][i])
    np.testing.assert_array_equal(obs["progress"], 0.0)
    for i, info in enumerate(infos):
        assert info["TimeLimit.truncated"] is False
        assert info["episode"]["l"] == num_steps
        assert info["episode"]["r"] == pytest.approx(float(rewards[:, i].sum()), abs=1e-5)
        assert info["episode"]["t"] >= 0.0


def test_seed_and_options_are_used_once():
    num_steps = 2
    env = SB3VecEnv(make_venv(num_steps))
    env.seed(3)
    env.reset()
    first, _ = run_episode(env, num_steps)
    env.reset()  # no seed: the noise goes on
    unseeded, _ = run_episode(env, num_steps)
    env.seed(3)
    env.reset()
    again, _ = run_episode(env, num_steps)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, unseeded)

    labels = np.arange(NUM_ENVS) % 10
    env.set_options({"labels": labels})
    np.testing.assert_array_equal(env.reset()["label"], labels)
    env.set_options([{"labels": labels}] + [{}] * (NUM_ENVS - 1))
    with pytest.raises(ValueError, match="one dict"):
        env.reset()


def test_ppo_learns_and_save_load_predicts_the_same(tmp_path):
    num_steps = 4
    env = SB3VecEnv(make_venv(num_steps))
    model = PPO("MultiInputPolicy", env, n_steps=num_steps, batch_size=16, n_epochs=2, seed=0)
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    assert len(model.ep_info_buffer) > 0  # what ep_rew_mean is logged from
    assert all(info["l"] == num_steps for info in model.ep_info_buffer)

    model.save(tmp_path / "ppo")
    loaded = PPO.load(tmp_path / "ppo", env=env)
    obs = env.reset()
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])


def test_sac_learns():
    env = SB3VecEnv(make_venv(num_steps=2))
    model = SAC("MultiInputPolicy", env, learning_starts=16, batch_size=32, buffer_size=1000, seed=0)
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    assert model.replay_buffer.dones.sum() > 0
    assert len(model.ep_info_buffer) > 0


def test_evaluate_policy_uses_the_episode_statistics():
    num_steps = 2
    env = SB3VecEnv(make_venv(num_steps))
    model = PPO("MultiInputPolicy", env, n_steps=num_steps, batch_size=16, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mean, std = evaluate_policy(model, env, n_eval_episodes=NUM_ENVS)
        returns, lengths = evaluate_policy(model, env, n_eval_episodes=NUM_ENVS, return_episode_rewards=True)
    assert not any("Monitor" in str(warning.message) for warning in caught)
    assert np.isfinite(mean) and np.isfinite(std)
    assert len(returns) == NUM_ENVS and lengths == [num_steps] * NUM_ENVS


def test_vec_monitor_on_top_warns_about_double_counting():
    with pytest.warns(UserWarning, match="Monitor"):
        VecMonitor(SB3VecEnv(make_venv()))


def test_vec_check_nan_and_vec_normalize():
    num_steps = 2
    env = VecCheckNan(SB3VecEnv(make_venv(num_steps)), raise_exception=True)
    env.reset()
    for _ in range(2 * num_steps):
        env.step(np.stack([env.action_space.sample() for _ in range(NUM_ENVS)]))

    env = VecNormalize(SB3VecEnv(make_venv(num_steps)), norm_obs_keys=BOX_KEYS)
    obs = env.reset()
    for _ in range(2 * num_steps):
        obs, rewards, dones, infos = env.step(zero_actions(env))
        assert all(np.isfinite(obs[key]).all() for key in BOX_KEYS) and np.isfinite(rewards).all()
    assert dones.all() and all("terminal_observation" in info for info in infos)
    assert env.obs_rms["features"].count > 1


def test_attributes_methods_and_images():
    venv = make_venv(render_mode="rgb_array", render_scale=2)
    env = SB3VecEnv(venv)
    assert env.render_mode == "rgb_array"
    assert env.get_attr("num_envs") == [NUM_ENVS] * NUM_ENVS
    assert env.get_attr("core", indices=[0, 2]) == [venv.core] * 2
    env.set_attr("render_scale", 1)
    assert env.get_attr("render_scale", indices=3) == [1]
    with pytest.raises(ValueError, match="all of them"):
        env.set_attr("render_scale", 2, indices=[0])
    assert env.env_is_wrapped(Monitor) == [True] * NUM_ENVS
    assert env.env_is_wrapped(gym.wrappers.TimeLimit, indices=[1]) == [False]

    env.reset()
    images = env.get_images()
    assert len(images) == NUM_ENVS and images[0].shape == (8, 8, 3) and images[0].dtype == np.uint8
    assert env.render().shape == (24, 24, 3)  # 8 frames tiled 3 x 3
    assert len(env.env_method("render", indices=[0, 1])) == 2
    env.close()


def test_requires_next_step_autoreset_and_episodes_ending_together():
    same_step = gym.make_vec(
        "CartPole-v1", num_envs=2, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}
    )
    with pytest.raises(ValueError, match="autoreset"):
        SB3VecEnv(same_step)

    env = SB3VecEnv(gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"))
    env.seed(0)
    env.reset()
    with pytest.raises(RuntimeError, match="together"):
        for _ in range(500):
            env.step(np.array([0, 1]))
