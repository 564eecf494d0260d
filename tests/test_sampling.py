"""The plain sampler and the hand-designed schedule, without the RL environment."""

import numpy as np
import pytest
import torch

from adagen_env.processes.sampling import hand_designed_schedule, sample

P = 4  # mask ratio, re-mask temperature, sampling temperature, guidance
GUIDANCE = 3  # column of the guidance scale


def check_images(images: torch.Tensor, batch: int) -> None:
    assert images.shape == (batch, 1, 8, 8)
    assert images.dtype == torch.float32
    assert torch.all((images >= 0) & (images <= 1))
    torch.testing.assert_close(images * 16, torch.round(images * 16), rtol=0, atol=1e-5)  # grey levels


def test_default_schedule_is_the_hand_designed_one(process):
    labels = torch.arange(6)
    default = sample(process, labels, num_steps=4, seed=3)
    check_images(default, 6)
    explicit = sample(process, labels, schedule=hand_designed_schedule(process, 4, 6), seed=3)
    torch.testing.assert_close(default, explicit, rtol=0, atol=0)


def test_a_shared_schedule_equals_the_same_schedule_per_sample(process):
    labels = [0, 3, 5, 7, 9]
    schedule = process.static_schedule(6, mask_curve="linear", guidance=1.0)
    assert schedule.shape == (6, P)
    shared = sample(process, labels, schedule=schedule, seed=1)
    check_images(shared, 5)
    per_sample = sample(process, labels, schedule=schedule[:, None].expand(-1, 5, -1).clone(), seed=1)
    check_images(per_sample, 5)
    torch.testing.assert_close(shared, per_sample, rtol=0, atol=0)
    # a numpy schedule is accepted too
    torch.testing.assert_close(sample(process, labels, schedule=schedule.numpy(), seed=1), shared, rtol=0, atol=0)


def test_per_sample_schedules_apply_to_their_own_sample(process):
    labels = torch.arange(8) % 10
    a = process.static_schedule(5, mask_curve="cosine", guidance=0.5)
    b = process.static_schedule(5, mask_curve="square", remask_temperature=3.0, temperature=0.7, guidance=4.0)
    mixed = torch.stack([a] * 4 + [b] * 4, dim=1)  # (T, B, P): samples 0-3 follow a, 4-7 follow b
    assert mixed.shape == (5, 8, P)
    images = sample(process, labels, schedule=mixed, seed=2)
    check_images(images, 8)
    only_a = sample(process, labels, schedule=a, seed=2)
    only_b = sample(process, labels, schedule=b, seed=2)
    torch.testing.assert_close(images[:4], only_a[:4], rtol=0, atol=0)
    torch.testing.assert_close(images[4:], only_b[4:], rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(8, P + 1), (8, 3, P), (8, 5, P + 1), (P,), (8, 4, P, 1), (8, 1, P)])
def test_wrong_schedule_shape_raises(process, shape):
    with pytest.raises(ValueError, match="schedule"):
        sample(process, torch.arange(4), schedule=torch.full(shape, 0.5))


@pytest.mark.parametrize("num_steps", [1, 2, 4, 8, 16])
def test_hand_designed_schedule_is_the_baseline_above_its_floor(process, num_steps):
    schedule = hand_designed_schedule(process, num_steps, 3)
    baseline = process.baseline(num_steps)
    assert schedule.shape == (num_steps, 3, P)
    assert torch.equal(schedule[:, 0], schedule[:, 1]) and torch.equal(schedule[:, 0], schedule[:, 2])
    for i, parameter in enumerate(process.parameters):
        values, target = schedule[:, 0, i], baseline[:, i]
        above = target > parameter.floor
        if parameter.activation == "sigmoid":
            above &= target < 1 - parameter.floor
        torch.testing.assert_close(values[above], target[above], rtol=0, atol=1e-5)
        # at or below the floor the schedule stays just above zero, near the floor
        assert torch.all(values[~above] > 0)
        assert torch.all(values[~above] <= 2 * parameter.floor)
    # the first guidance and the last mask ratio / re-mask temperature sit at their floors
    assert baseline[0, GUIDANCE] == 0 and baseline[-1, 1] == 0
    if num_steps > 1:
        assert (baseline[:, 0] > process.parameters[0].floor).sum() == num_steps - 1


def test_baseline_is_the_documented_cosine_schedule(process):
    t = torch.arange(8, dtype=torch.float64)
    done = (t + 1) / 8
    expected = torch.stack(
        [torch.cos(np.pi / 2 * done), 1 - done, torch.ones(8, dtype=torch.float64), 2.0 * t / 8], dim=-1
    ).float()
    torch.testing.assert_close(process.baseline(8), expected, rtol=0, atol=1e-6)


def test_same_seed_same_images(process):
    labels = torch.arange(10)
    torch.testing.assert_close(sample(process, labels, seed=4), sample(process, labels, seed=4), rtol=0, atol=0)


def test_samples_are_not_degenerate(process):
    labels = torch.arange(10).repeat(2)
    images = sample(process, labels, seed=0)
    check_images(images, 20)
    assert torch.all(images.flatten(1).max(dim=1).values > 0), "an all-black digit"
    assert not torch.equal(images, sample(process, labels, seed=1)), "the seed changes nothing"


def test_guidance_changes_the_images(process):
    labels = torch.arange(10).repeat(2)
    weak = process.static_schedule(8, guidance=0.0)
    strong = weak.clone()
    strong[:, GUIDANCE] = 3.0
    weak[:, GUIDANCE] = 0.0
    a = sample(process, labels, schedule=weak, seed=0)
    b = sample(process, labels, schedule=strong, seed=0)
    check_images(a, 20)
    check_images(b, 20)
    assert not torch.equal(a, b)
