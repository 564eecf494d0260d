"""A baseline other than the hand-designed schedule: the zero action then gives that schedule."""

import pytest
import torch

from adagen_env import (
    EpisodeSpec,
    ScheduleCore,
    ScheduleVectorEnv,
    best_static_schedule,
    make_process,
    policy_generator,
    sample,
)


def within_range(process, values: torch.Tensor) -> torch.Tensor:
    """Schedule values as the env applies them: below a parameter's floor (a guidance of 0, say) they
    start from the floor, as for the hand-designed schedule; a sigmoid parameter stays below 1 - floor."""
    floors = torch.tensor([p.floor for p in process.parameters])
    ceilings = torch.tensor([1 - p.floor if p.activation == "sigmoid" else float("inf") for p in process.parameters])
    return torch.maximum(torch.minimum(values, ceilings), floors)


@pytest.mark.parametrize("name, steps", [("diffusion-digits", 6), ("maskgit-digits", 4)])
def test_the_zero_action_gives_the_baseline_schedule(name, steps):
    process = make_process(name)
    best = best_static_schedule(name, process, steps)[1]
    labels = torch.arange(10)
    core = ScheduleCore(process, 10, EpisodeSpec(num_steps=steps, reward=None, baseline=best))
    core.reset(labels=labels, seed=4)
    applied = []
    for _ in range(steps):
        _, _, _, parameters = core.step(torch.zeros(10, core.num_parameters))
        applied.append(torch.stack([parameters[p.name] for p in process.parameters], dim=-1))
    expected = within_range(process, best)
    torch.testing.assert_close(torch.stack(applied), expected[:, None].expand(-1, 10, -1), rtol=1e-5, atol=1e-5)
    zero = policy_generator(
        process,
        lambda obs: torch.zeros(len(obs["label"]), core.num_parameters),
        EpisodeSpec(num_steps=steps, baseline=best),
    )
    torch.testing.assert_close(zero(labels, 4), sample(process, labels, best, seed=4), rtol=0, atol=1e-3)


def test_a_baseline_of_the_wrong_shape_or_with_nan_is_one_clear_error():
    with pytest.raises(ValueError, match=r"baseline must be finite parameter values of shape \(6, 2\)"):
        ScheduleVectorEnv(num_envs=2, process="diffusion-digits", num_steps=6, reward=None, baseline=torch.zeros(5, 2))
    with pytest.raises(ValueError, match="baseline must be finite"):
        ScheduleVectorEnv(
            num_envs=2,
            process="diffusion-digits",
            num_steps=2,
            reward=None,
            baseline=torch.tensor([[0.5, float("nan")], [0.5, 1.0]]),
        )


def test_the_single_env_takes_a_baseline_too():
    from adagen_env.envs import ScheduleEnv

    process = make_process("diffusion-digits")
    best = best_static_schedule("diffusion-digits", process, 6)[1]
    env = ScheduleEnv(process=process, num_steps=6, reward=None, baseline=best)
    env.reset(seed=0)
    _, _, _, _, info = env.step(torch.zeros(2).numpy())
    torch.testing.assert_close(
        torch.tensor([float(info["parameters"][p.name]) for p in process.parameters]),
        within_range(process, best)[0],
        rtol=1e-5,
        atol=1e-5,
    )


def test_a_baseline_by_name_resolves_to_its_values():
    env = ScheduleVectorEnv(num_envs=2, process="diffusion-digits", num_steps=6, reward=None, baseline="best-static")
    best = best_static_schedule("diffusion-digits", make_process("diffusion-digits"), 6)[1]
    assert torch.equal(env.episode.baseline_tensor(), best.float())
    assert (
        ScheduleVectorEnv(
            num_envs=2, process="flow-digits", num_steps=4, reward=None, baseline="hand-designed"
        ).episode.baseline
        is None
    )
    with pytest.raises(ValueError, match="unknown baseline 'fastest'; choose one of hand-designed, best-static"):
        ScheduleVectorEnv(num_envs=2, process="diffusion-digits", num_steps=6, reward=None, baseline="fastest")
    with pytest.raises(ValueError, match="no grid search has picked one for diffusion-digits at 5 steps"):
        ScheduleVectorEnv(num_envs=2, process="diffusion-digits", num_steps=5, reward=None, baseline="best-static")
