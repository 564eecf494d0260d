"""The other paradigms (diffusion, rectified flow, next-scale VAR) through the same env API as MaskGIT.

Each guarantee of the MaskGIT environment is checked for every paradigm and solver: the zero
action is the hand-designed schedule bit for bit, both env checkers pass, vector and single
envs agree, bad input gets a clear error, rendering works, the shipped generator makes the
digits asked for; plus what is special to each: per-sample times that move monotonically and
land on the end time and solvers whose order shows (continuous time), one step per scale and
top-k/top-p filtering (VAR).
"""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

from adagen_env.envs.core import ScheduleCore
from adagen_env.envs.spec import EpisodeSpec
from adagen_env.paradigms import PARADIGMS
from adagen_env.processes import DiffusionProcess, FlowProcess, MaskGITProcess, VARProcess
from adagen_env.processes.continuous import MIN_TIME_GAP, ContinuousProcess
from adagen_env.processes.sampling import hand_designed_schedule, sample
from adagen_env.processes.var import filter_top_k_top_p

# every registered paradigm but MaskGIT (test_envs.py) and solver variants (covered by SOLVERS), from the registry
ENVS = {
    p.env_id: p.process for p in PARADIGMS.values() if isinstance(p.process, type) and p.process is not MaskGITProcess
}
CONTINUOUS = {env_id: cls for env_id, cls in ENVS.items() if issubclass(cls, ContinuousProcess)}
SOLVERS = [(env_id, solver) for env_id, cls in CONTINUOUS.items() for solver in cls.solvers]
STEPS = {"AdaGen/VAR-Digits-v0": 4}  # VAR takes one step per scale; the others any count


@pytest.fixture(params=list(ENVS))
def env_id(request) -> str:
    return request.param


@pytest.fixture(params=list(CONTINUOUS))
def continuous_id(request) -> str:
    return request.param


def num_params(env_id: str) -> int:
    return len(ENVS[env_id].parameters)


def steps(env_id: str, wanted: int) -> int:
    return STEPS.get(env_id, wanted)


def applied(info: dict, process) -> np.ndarray:
    """``info["parameters"]`` (by name) as an array (..., P) in the process's action order."""
    return np.stack([np.asarray(info["parameters"][p.name]) for p in process.parameters], axis=-1)


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
    env = gym.make(env_id, reward="classifier")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    P = num_params(env_id)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (P,), np.float32)
    assert env.unwrapped.core.num_steps == steps(env_id, 8)  # the process's default
    if env_id in CONTINUOUS:
        assert obs["denoised"].shape == (64,) and obs["time"].shape == (1,)
    else:
        assert obs["image"].shape == (64,) and np.all(obs["image"] == 0)
    vector = gym.make_vec(env_id, num_envs=5, reward="classifier")
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
    P = 2
    process = ENVS[env_id](solver=solver)
    env = gym.make_vec(env_id, num_envs=12, num_steps=5, reward="classifier", process=process)
    observations, _, infos = rollout(env, 3, [np.zeros((12, P), np.float32)] * 5)
    images = sample(process, labels=observations[-1]["label"], num_steps=5, seed=3)
    np.testing.assert_array_equal(env.unwrapped.core.process.decode(env.unwrapped.core.state).numpy(), images.numpy())
    values = np.stack([applied(info, process) for info in infos])
    np.testing.assert_array_equal(values, hand_designed_schedule(process, 5, 12).numpy())
    # the hand-designed times are uniform from t_start to t_end
    times = [obs["time"][0, 0] for obs in observations]
    np.testing.assert_allclose(times, np.linspace(process.t_start, process.t_end, 6), atol=1e-6)


def test_zero_actions_match_the_sampler_in_the_single_and_the_vector_env(env_id):
    n = steps(env_id, 4)
    env = gym.make(env_id, num_steps=n, reward="classifier")
    observations, _, _ = rollout(env, 5, [np.zeros(num_params(env_id), np.float32)] * n)
    images = sample(env.unwrapped.core.process, labels=[observations[-1]["label"]], num_steps=n, seed=5)
    np.testing.assert_array_equal(env.unwrapped.core.process.decode(env.unwrapped.core.state).numpy(), images.numpy())
    vector = gym.make_vec(env_id, num_envs=10, num_steps=n, reward="classifier")
    observations, _, infos = rollout(vector, 6, [np.zeros((10, num_params(env_id)), np.float32)] * n)
    process = vector.unwrapped.core.process
    images = sample(process, labels=observations[-1]["label"], num_steps=n, seed=6)
    np.testing.assert_array_equal(process.decode(vector.unwrapped.core.state).numpy(), images.numpy())
    values = np.stack([applied(info, process) for info in infos])
    np.testing.assert_array_equal(values, hand_designed_schedule(process, n, 10).numpy())


def test_vector_env_of_one_matches_the_single_env(env_id, rng):
    n = steps(env_id, 6)
    actions = rng.uniform(-1.5, 1.5, (n, num_params(env_id))).astype(np.float32)
    single = rollout(gym.make(env_id, num_steps=n, reward="classifier"), 8, actions)
    vector = rollout(gym.make_vec(env_id, num_envs=1, num_steps=n, reward="classifier"), 8, actions[:, None])
    for s, v in zip(single[0], vector[0]):
        for key in s:
            np.testing.assert_array_equal(s[key], v[key][0], err_msg=key)
    assert single[1] == [float(v[0]) for v in vector[1]]


@pytest.mark.parametrize("extreme", [False, True])
def test_times_move_monotonically_by_the_minimum_gap_and_end_on_time(continuous_id, extreme, rng):
    env_id, P = continuous_id, 2
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
        time_step, guidance = info["parameters"]["time_step"], info["parameters"]["guidance"]
        assert np.all((time_step > 0) & (time_step < 1)) and np.all(guidance > 0)


@pytest.mark.parametrize("env_id,solver", SOLVERS)
def test_a_sample_does_not_depend_on_the_rest_of_its_batch(env_id, solver):
    """Per-sample times are exact: a sample with its own schedule equals the same sample alone."""
    process = ENVS[env_id](solver=solver)
    schedule = torch.stack([process.static_schedule(5, spacing=s) for s in ("uniform", "quadratic", "sqrt")], dim=1)
    together = sample(process, labels=[1, 2, 3], schedule=schedule, seed=4)
    # the same noise, the middle sample's schedule unchanged, the others' different
    others = schedule.clone()
    others[:, 0], others[:, 2] = schedule[:, 2], schedule[:, 0]
    changed = sample(process, labels=[1, 2, 3], schedule=others, seed=4)
    torch.testing.assert_close(changed[1], together[1], atol=1e-5, rtol=0)
    assert not torch.allclose(changed[0], together[0])


@pytest.mark.parametrize(
    "cls,first,second", [(DiffusionProcess, "ddim", "dpm-solver-2m"), (FlowProcess, "euler", "heun")]
)
def test_the_second_order_solver_is_closer_to_the_exact_solution(cls, first, second):
    """At the same step count, the second-order solver lands far nearer a fine-step reference.

    Quadratic spacing, because with uniform times the diffusion error is dominated by the
    last, largest step, which DPM-Solver++(2M) takes at first order (as diffusers does).
    """
    labels = torch.arange(10)
    reference_process = cls(solver=second)
    reference = sample(reference_process, labels, reference_process.static_schedule(80, spacing="quadratic"), seed=0)
    errors = {}
    for solver in (first, second):
        process = cls(solver=solver)
        images = sample(process, labels, process.static_schedule(10, spacing="quadratic"), seed=0)
        errors[solver] = (images - reference).abs().mean().item()
    assert errors[second] < 0.5 * errors[first], errors


def test_the_heun_flow_env_is_the_flow_model_with_heun():
    """``AdaGen/Flow-Heun-Digits-v0``: same model, Heun steps, so 3 decisions cost 6 evaluations."""
    env = gym.make_vec("AdaGen/Flow-Heun-Digits-v0", num_envs=6, num_steps=3, reward="classifier")
    observations, _, _ = rollout(env, 1, [np.zeros((6, 2), np.float32)] * 3)
    process = env.unwrapped.core.process
    assert process.solver == "heun" and process.nfe(3) == 6
    labels = observations[-1]["label"]
    heun = sample(FlowProcess(solver="heun"), labels=labels, num_steps=3, seed=1)
    np.testing.assert_array_equal(process.decode(env.unwrapped.core.state).numpy(), heun.numpy())
    assert not torch.equal(heun, sample(FlowProcess(solver="euler"), labels=labels, num_steps=3, seed=1))


def test_nfe_counts_model_evaluations():
    assert DiffusionProcess(solver="dpm-solver-2m").nfe(5) == 5
    assert DiffusionProcess(solver="ddim").nfe(5) == 5
    assert FlowProcess(solver="euler").nfe(5) == 5
    assert FlowProcess(solver="heun").nfe(5) == 10


@pytest.mark.parametrize(
    "process",
    [MaskGITProcess(), VARProcess(), *(cls(solver=s) for cls in (DiffusionProcess, FlowProcess) for s in cls.solvers)],
    ids=lambda p: f"{type(p).__name__}-{getattr(p, 'solver', '')}",
)
def test_sampling_makes_two_model_passes_per_evaluation_and_none_after_the_last_step(process, count_passes):
    """A guided evaluation is one conditional and one unconditional pass. The conditional pass over the
    finished sample feeds only its observation, which no action follows: sampling skips it, and the
    env's terminal observation runs it once, when asked."""
    passes = count_passes(process.model)
    num_steps = 4 if isinstance(process, VARProcess) else 3
    sample(process, torch.arange(4), num_steps=num_steps, seed=0)
    assert len(passes) == 2 * process.nfe(num_steps)

    passes.clear()
    core = ScheduleCore(process, 4, EpisodeSpec(num_steps=num_steps))
    core.reset(torch.arange(4), seed=0)
    for _ in range(num_steps):
        terminal = core.step(torch.zeros(4, len(process.parameters)))[0]
    assert len(passes) == 2 * process.nfe(num_steps) + 1
    torch.testing.assert_close(core.observation()["features"], terminal["features"], rtol=0, atol=0)
    assert len(passes) == 2 * process.nfe(num_steps) + 1  # observed again: not run again
    if isinstance(process, MaskGITProcess):  # what the terminal observation shows: the finished tokens' pass
        _, hidden = process.model(core.state.tokens, core.state.labels)
        torch.testing.assert_close(terminal["features"], hidden.mean(dim=1), rtol=0, atol=0)


@pytest.mark.parametrize("process", [MaskGITProcess(), VARProcess()], ids=["maskgit", "var"])
def test_the_transformers_take_a_large_batch_in_slices_of_rows_with_the_same_result(process, count_passes):
    """An evaluation's chunk of 500 samples runs the layers 64 rows at a time on the CPU (faster there):
    the outputs are those of the samples passed on their own."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(150) % process.num_classes
    if isinstance(process, MaskGITProcess):
        inputs = (torch.randint(0, process.mask_token + 1, (150, process.num_tokens), generator=generator), labels)
        parts = [(inputs[0][i : i + 50], labels[i : i + 50]) for i in range(0, 150, 50)]
    else:
        maps = [torch.randint(0, process.vocab_size, (150, s * s), generator=generator) for s in process.scales[:-1]]
        inputs = (maps, labels)
        parts = [([m[i : i + 50] for m in maps], labels[i : i + 50]) for i in range(0, 150, 50)]
    passes = count_passes(process.model.blocks)
    with torch.no_grad():
        logits, hidden = process.model(*inputs)
        assert passes == [64, 64, 22]
        alone = [process.model(*part) for part in parts]
    torch.testing.assert_close(logits, torch.cat([a for a, _ in alone]), atol=1e-6, rtol=0)
    torch.testing.assert_close(hidden, torch.cat([h for _, h in alone]), atol=1e-6, rtol=0)


def test_bad_input_gets_a_clear_error(env_id):
    env = gym.make_vec(env_id, num_envs=4, num_steps=steps(env_id, 3), reward="classifier")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.full((4, num_params(env_id)), np.nan, np.float32))
    if env_id in CONTINUOUS:
        with pytest.raises(ValueError, match="solver must be one of"):
            ENVS[env_id](solver="rk4")
        with pytest.raises(ValueError, match="at least 0.01 per step"):
            gym.make(env_id, num_steps=200, reward="classifier")
        with pytest.raises(ValueError, match="spacing must be one of"):
            ENVS[env_id]().static_schedule(4, spacing="log")
    else:
        with pytest.raises(ValueError, match="one step per scale"):
            gym.make(env_id, num_steps=8, reward="classifier")
        with pytest.raises(ValueError, match="top_k must be in"):
            ENVS[env_id]().static_schedule(4, top_k=0)


def test_render_shows_the_current_images(env_id):
    n = steps(env_id, 3)
    env = gym.make(env_id, num_steps=n, reward="classifier", render_mode="rgb_array", render_scale=4)
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (32, 32, 3)
    for _ in range(n):
        env.step(np.zeros(num_params(env_id), np.float32))
    final = env.render()
    expected = (
        (env.unwrapped.core.process.decode(env.unwrapped.core.state)[0, 0] * 255).round().numpy().astype(np.uint8)
    )
    np.testing.assert_array_equal(final[::4, ::4, 0], expected)
    assert not np.array_equal(frame, final)


def test_hand_designed_samples_are_the_digits_asked_for(env_id):
    """The shipped generator works: the shipped classifier recognises most hand-designed samples.

    Diffusion and flow score about 99 %, the small VAR about 86 % (README, Results).
    """
    from adagen_env.models.classifier import load_classifier

    process = ENVS[env_id]()
    labels = torch.arange(100) % 10
    images = sample(process, labels, seed=0)
    accuracy = (load_classifier()(images).argmax(-1) == labels).float().mean().item()
    assert accuracy > 0.8, accuracy


# ---------------------------------------------------------------- VAR specifics


def test_var_generates_one_scale_per_step_coarse_to_fine():
    env = gym.make_vec("AdaGen/VAR-Digits-v0", num_envs=3, reward="classifier")
    env.reset(seed=1)
    for scale in env.unwrapped.core.process.scales:
        obs, *_ = env.step(np.zeros((3, 4), np.float32))
        state = env.unwrapped.core.state
        assert state.maps[-1].shape == (3, scale * scale)
        assert state.maps[-1].min() >= 0 and state.maps[-1].max() <= 16
        # the observed image is the newest map, upsampled: constant over each s x s block
        image = obs["image"].reshape(3, 8, 8)
        block = 8 // scale
        np.testing.assert_array_equal(image, np.repeat(np.repeat(image[:, ::block, ::block], block, 1), block, 2))


def test_top_k_of_one_makes_var_sampling_greedy():
    process = VARProcess()
    greedy = process.static_schedule(4, top_k=1)
    a = sample(process, torch.arange(10), greedy, seed=0)
    b = sample(process, torch.arange(10), greedy, seed=1)
    torch.testing.assert_close(a, b)
    assert not torch.equal(sample(process, torch.arange(10), seed=0), sample(process, torch.arange(10), seed=1))


def test_top_k_top_p_filter_keeps_the_most_likely_levels_per_sample():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))[None, None].repeat(3, 2, 1)
    kept = filter_top_k_top_p(logits, keep=torch.tensor([0.5, 1.0, 0.01]), top_p=torch.tensor([1.0, 0.7, 1.0]))
    finite = torch.isfinite(kept)
    assert finite[0].tolist() == [[True, True, False, False]] * 2  # top-2 of 4
    assert finite[1].tolist() == [[True, True, False, False]] * 2  # 0.5 + 0.3 reach 0.7
    assert finite[2].tolist() == [[True, False, False, False]] * 2  # at least one level survives
    torch.testing.assert_close(kept[finite], logits[finite])
