"""Paired comparisons of two schedules: FD differences with bootstrap intervals in every space, and
a verdict that says "beats" only where every space agrees."""
import pytest
import torch

from adagen_env.evaluation.comparison import Difference, paired_fd_difference, verdict
from adagen_env.data.datasets import load_digits
from adagen_env.evaluation.metrics import Evaluator


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator()


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    return load_digits("train").to_float()[:400]


def test_a_set_against_itself_is_level_with_zero_difference(evaluator, real):
    differences = paired_fd_difference(evaluator, real, real, resamples=50)
    assert [d.space for d in differences] == list(evaluator.spaces)
    for d in differences:
        assert d.difference == 0.0 and d.low == 0.0 and d.high == 0.0 and d.winner is None
    assert verdict(differences, "a", "b") == "level in every space"


def test_real_digits_beat_noisy_digits_in_every_space(evaluator, real):
    noisy = (real + 0.3 * torch.randn(real.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    differences = paired_fd_difference(evaluator, real, noisy, resamples=50)
    for d in differences:
        assert d.low <= d.difference <= d.high < 0, d
    assert verdict(differences, "real", "noisy") == "real beats noisy in every space"
    assert verdict(paired_fd_difference(evaluator, noisy, real, resamples=50), "noisy", "real") == \
        "real beats noisy in every space"


def test_the_interval_is_seeded_and_narrows_with_more_pairs(evaluator, real):
    noisy = (real + 0.1 * torch.randn(real.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    first = paired_fd_difference(evaluator, real, noisy, resamples=50, seed=3)
    assert first == paired_fd_difference(evaluator, real, noisy, resamples=50, seed=3)
    small = paired_fd_difference(evaluator, real[:100], noisy[:100], resamples=50, seed=3)
    for wide, narrow in zip(small, first):
        assert narrow.high - narrow.low < wide.high - wide.low


def test_mixed_verdict_names_the_spaces():
    differences = [Difference("classifier", -2.0, -3.0, -1.0), Difference("encoder", 1.0, 0.5, 1.5),
                   Difference("pixels", 0.0, -0.1, 0.1)]
    assert verdict(differences, "learned", "static") == (
        "mixed: learned better in classifier; static better in encoder; level in pixels")


def test_unpaired_or_tiny_sets_are_refused(evaluator, real):
    with pytest.raises(ValueError, match="one shape"):
        paired_fd_difference(evaluator, real[:10], real[:20])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_fd_difference(evaluator, real[:1], real[:1])
