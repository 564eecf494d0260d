"""The env core's public API and its guards: bad arguments fail at construction with one clear
line, the batched core can be driven and checkpointed without the Gymnasium layer, frozen
models are not shared mutable objects, and step parameters have one name per concept."""

import copy
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import adagen_env
from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.envs import ScheduleCore, flat_layout
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.paradigms import PARADIGMS, make_process
from adagen_env.processes import MaskGITProcess
from adagen_env.processes.sampling import sample

ENV_ID = "AdaGen/MaskGIT-Digits-v0"


# ---------------------------------------------------------------- arguments checked at construction


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_steps": 2.5},
        {"num_steps": 2.0},
        {"num_steps": "3"},
        {"num_steps": True},
        {"num_steps": 0},
        {"render_scale": 0},
        {"render_scale": 1.5},
    ],
)
def test_counts_must_be_positive_integers(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        gym.make(ENV_ID, reward="classifier", **kwargs)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        gym.make_vec(ENV_ID, num_envs=2, reward="classifier", **kwargs)


@pytest.mark.parametrize("num_envs", [2.5, 2.0, 0, "4"])
def test_num_envs_must_be_a_positive_integer(num_envs):
    with pytest.raises(ValueError, match="num_envs"):
        gym.make_vec(ENV_ID, num_envs=num_envs, reward="classifier")


def test_numpy_integers_are_accepted():
    env = gym.make_vec(ENV_ID, num_envs=np.int64(2), num_steps=np.int32(2), reward="classifier")
    assert env.unwrapped.core.num_steps == 2 and env.num_envs == 2


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda"])
def test_a_bad_or_missing_device_is_one_clear_line(device):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a CUDA device is available here")
    with pytest.raises(ValueError, match="device") as error:
        gym.make(ENV_ID, reward="classifier", device=device)
    assert "\n" not in str(error.value)


def test_a_scorer_with_real_images_of_another_size_fails_at_construction():
    digits = load_digits("train")
    big = ImageDataset(np.repeat(np.repeat(digits.images, 2, axis=1), 2, axis=2), digits.labels, 17, 10)
    scorer = adagen_env.rewards.AdversarialScorer(real=big)
    with pytest.raises(ValueError, match=r"1x16x16.*1x8x8"):
        gym.make_vec(ENV_ID, num_envs=4, reward=scorer)


# ---------------------------------------------------------------- seeding a vector env with a list


def test_vector_reset_takes_one_seed_per_sub_env():
    env = gym.make_vec(ENV_ID, num_envs=3, num_steps=2, reward="classifier")
    first, _ = env.reset(seed=[1, 2, 3])
    again, _ = env.reset(seed=[1, 2, 3])
    other, _ = env.reset(seed=[1, 2, 4])
    np.testing.assert_array_equal(first["label"], again["label"])
    zeros = np.zeros((3, 4), np.float32)
    env.reset(seed=[1, 2, 3])
    a = env.step(zeros)[0]["tokens"]
    env.reset(seed=[1, 2, 4])
    b = env.step(zeros)[0]["tokens"]
    assert not np.array_equal(a, b)
    env.reset(seed=[None, None, None])  # all None: unseeded, as SyncVectorEnv allows


@pytest.mark.parametrize("seed", [[1, 2], [1, 2, 3, 4], [1, 2.5, 3], [1, -2, 3], "7", 1.5])
def test_vector_reset_rejects_malformed_seeds(seed):
    env = gym.make_vec(ENV_ID, num_envs=3, num_steps=2, reward="classifier")
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=seed)


# ---------------------------------------------------------------- the batched core as a public API


def test_the_core_runs_without_gymnasium_and_without_a_reward(process):
    core = ScheduleCore(process, num_envs=6, spec=EpisodeSpec(num_steps=3, reward=None))
    obs = core.reset(seed=4)
    assert obs["label"].shape == (6,)
    for _ in range(3):
        obs, reward, terminated, parameters = core.step(torch.zeros(6, 4))
        assert torch.equal(reward, torch.zeros(6))
        assert set(parameters) == {p.name for p in process.parameters}
    assert terminated
    np.testing.assert_array_equal(core.images().numpy(), sample(process, obs["label"], num_steps=3, seed=4).numpy())


def test_core_state_dict_resumes_the_label_draws_and_the_noise(process):
    core = ScheduleCore(process, num_envs=4, spec=EpisodeSpec(num_steps=2))
    core.reset(seed=0)
    core.reset()
    saved = copy.deepcopy(core.state_dict())
    expected = core.reset()
    resumed = ScheduleCore(process, num_envs=4, spec=EpisodeSpec(num_steps=2))
    resumed.load_state_dict(saved)
    got = resumed.reset()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)


def test_observations_are_pure_reads_only_reset_and_step_call_the_model(count_passes):
    process = MaskGITProcess()
    calls = count_passes(process.model)
    core = ScheduleCore(process, num_envs=2, spec=EpisodeSpec(num_steps=2, reward=None))
    first = core.reset(seed=0)
    after_reset = len(calls)
    for _ in range(3):
        again = core.observation()
    assert len(calls) == after_reset
    for key in first:
        assert torch.equal(first[key], again[key])


# ---------------------------------------------------------------- frozen models are not shared


def test_frozen_models_are_not_shared_between_processes():
    a, b = make_process("maskgit-digits"), make_process("maskgit-digits")
    a.model.train()
    assert not b.model.training
    assert a.model is not b.model


def test_an_injected_model_is_copied_not_moved_or_frozen():
    mine = copy.deepcopy(MaskGITProcess().model).train().requires_grad_(True)
    process = MaskGITProcess(model=mine)
    assert mine.training and all(p.requires_grad for p in mine.parameters())
    assert process.model is not mine and not process.model.training


def test_process_construction_leaves_torchs_global_rng_alone():
    state = torch.random.get_rng_state()
    for paradigm in PARADIGMS.values():
        paradigm.make_process()
    assert torch.equal(state, torch.random.get_rng_state())


# ---------------------------------------------------------------- named step parameters


def test_one_concept_one_name_in_every_paradigm():
    names = {p.name: [s.name for s in p.make_process().parameters] for p in PARADIGMS.values()}
    for paradigm_names in names.values():
        assert "guidance" in paradigm_names
    assert "temperature" in names["maskgit-digits"] and "temperature" in names["var-digits"]
    assert not any("sampling_temperature" in n for n in names.values())


def test_info_parameters_are_keyed_by_name():
    single = gym.make("AdaGen/VAR-Digits-v0", reward="classifier")
    single.reset(seed=0)
    info = single.step(np.zeros(4, np.float32))[-1]
    assert list(info["parameters"]) == ["guidance", "top_k", "top_p", "temperature"]
    assert info["parameters"]["guidance"] == pytest.approx(0.0, abs=2e-3)  # the ramp starts at 0
    vector = gym.make_vec("AdaGen/Diffusion-Digits-v0", num_envs=3, reward="classifier")
    vector.reset(seed=0)
    info = vector.step(np.zeros((3, 2), np.float32))[-1]
    assert info["parameters"]["guidance"].shape == (3,) and info["_parameters"].all()
    np.testing.assert_allclose(info["parameters"]["guidance"], 0.5, rtol=1e-6)


# ---------------------------------------------------------------- the flat observation


@pytest.mark.parametrize("env_id", [p.env_id for p in PARADIGMS.values()])
def test_flat_observations_are_gymnasiums_flatten_of_the_dict(env_id):
    dict_env = gym.make(env_id, reward="classifier", num_steps=4 if "VAR" in env_id else 2)
    flat_env = gym.make(env_id, reward="classifier", num_steps=4 if "VAR" in env_id else 2, observation_mode="flat")
    assert isinstance(flat_env.observation_space, gym.spaces.Box) and flat_env.observation_space.dtype == np.float32
    obs, _ = dict_env.reset(seed=3)
    flat, _ = flat_env.reset(seed=3)
    np.testing.assert_allclose(flat, gym.spaces.flatten(dict_env.observation_space, obs), rtol=0, atol=0)
    assert flat_env.observation_space.contains(flat)
    layout = flat_layout(dict_env.observation_space)
    assert flat[layout["label"]].argmax() == obs["label"] and flat[layout["label"]].sum() == 1
    np.testing.assert_array_equal(flat[layout["features"]], obs["features"])
    vector = gym.make_vec(
        env_id, num_envs=3, reward="classifier", num_steps=4 if "VAR" in env_id else 2, observation_mode="flat"
    )
    batch, _ = vector.reset(seed=0)
    assert batch.shape == (3, flat.shape[0]) and vector.observation_space.contains(batch)


def test_the_flat_env_passes_both_checkers():
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check(gym.make(ENV_ID, num_steps=2, reward="classifier", observation_mode="flat").unwrapped)
        sb3_check(gym.make(ENV_ID, num_steps=2, reward="classifier", observation_mode="flat").unwrapped)


def test_bad_observation_mode_is_refused():
    with pytest.raises(ValueError, match="observation_mode"):
        gym.make(ENV_ID, observation_mode="box")


def test_the_registrys_best_static_schedules_are_the_grid_searchs_in_the_selection_space():
    """``Paradigm.best_static`` reads the data file the grid search writes: its picks by FD in the
    selection space, which agree with that search's results; v0's classifier picks are kept apart."""
    import json
    from pathlib import Path

    from adagen_env.paradigms import BEST_STATIC_FILE

    results = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "static_grid"
    kept = json.loads(BEST_STATIC_FILE.read_text())["classifier_picks"]
    for paradigm in PARADIGMS.values():
        for space, name, picks in (
            ("selection", f"{paradigm.name}-selection", paradigm.best_static),
            ("classifier", paradigm.name, kept[paradigm.name]),
        ):
            found = json.loads((results / f"{name}.json").read_text())
            assert found.get("space", "classifier") == space, name
            configs = {int(k): v["best_static"]["config"] for k, v in found["best"].items()}
            assert configs == {int(k): v for k, v in picks.items()}, name


def test_np_random_is_the_generator_of_the_label_draws():
    env = gym.make_vec(ENV_ID, num_envs=8, num_steps=2, reward="classifier")
    env.unwrapped.np_random = np.random.default_rng(5)
    first, _ = env.reset()
    env.unwrapped.np_random = np.random.default_rng(5)
    again, _ = env.reset()
    np.testing.assert_array_equal(first["label"], again["label"])
    assert env.unwrapped.np_random is env.unwrapped.core.np_random
