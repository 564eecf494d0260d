"""Paired comparisons of two generators: FD, KID, precision and recall differences with intervals in
every space of the ensemble, and a verdict, as data, that says "better" only where every space
agrees on FD and KID and neither precision nor recall falls anywhere."""

import pytest
import torch

from adagen_env.data.datasets import load_digits
from adagen_env.evaluation.comparison import (
    Comparison,
    Interval,
    SpaceComparison,
    Verdict,
    compare_images,
    paired_fd_interval,
    t_interval,
    t_quantile,
)
from adagen_env.evaluation.metrics import Evaluator


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator()


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    return load_digits("train").to_float()[:1000]


def noisy(images: torch.Tensor, scale: float, seed: int = 0) -> torch.Tensor:
    return (images + scale * torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))).clamp(0, 1)


def test_a_set_against_itself_is_level_with_zero_differences(evaluator, real):
    comparison = compare_images(evaluator, real, real, "a", "b")
    assert [s.space for s in comparison.spaces] == list(evaluator.spaces)
    assert len(comparison.spaces) == 6  # five networks and pixels
    for s in comparison.spaces:
        assert s.fd == Interval(0.0, 0.0, 0.0) and s.precision.value == 0.0 and s.recall.value == 0.0
        assert s.kid.value == 0.0
        assert s.verdict == Verdict.LEVEL
    assert comparison.verdict == Verdict.LEVEL
    assert comparison.sentence() == "a and b are level in every space"
    assert comparison.agreement()["kid"] == {"better": 0.0, "worse": 0.0, "level": 1.0}


def test_real_digits_beat_dimmed_digits_in_every_space(evaluator, real):
    comparison = compare_images(evaluator, real, 0.6 * real, "real", "dimmed")
    for s in comparison.spaces:
        assert s.fd.low <= s.fd.value <= s.fd.high < 0, s
        assert s.kid.high < 0, s
    assert comparison.agreement()["fd"]["better"] == comparison.agreement()["kid"]["better"] == 1.0
    assert comparison.verdict == Verdict.BETTER
    assert comparison.sentence().startswith("real beats dimmed in every space")
    assert compare_images(evaluator, 0.6 * real, real, "dimmed", "real").verdict == Verdict.WORSE


def test_noise_that_buys_pixel_recall_is_not_called_worse_in_every_way(evaluator, real):
    # far worse FD everywhere, but heavy pixel noise spreads the set over more of the real pixel manifold
    comparison = compare_images(evaluator, noisy(real, 0.3), real, "noisy", "real")
    pixels = comparison.spaces[-1]
    assert all(s.fd.sign > 0 for s in comparison.spaces) and pixels.recall.sign > 0
    assert comparison.verdict == Verdict.MIXED


def test_the_fd_interval_is_seeded_and_narrows_with_more_pairs(evaluator, real):
    reference = evaluator.reference_features_in("classifier")
    a, b = evaluator.space_features(real, "classifier"), evaluator.space_features(noisy(real, 0.1, 1), "classifier")
    first = paired_fd_interval(reference, a, b, resamples=50, seed=3)
    assert first == paired_fd_interval(reference, a, b, resamples=50, seed=3)
    small = paired_fd_interval(reference, a[:100], b[:100], resamples=50, seed=3)
    assert first.high - first.low < small.high - small.low


def intervals(*signs: int) -> list[Interval]:
    return [Interval(float(s), s - 0.5 if s else -1.0, s + 0.5 if s else 1.0) for s in signs]


def comparison(fd: list[int], precision: list[int], recall: list[int], kid: list[int] | None = None) -> Comparison:
    spaces = ("classifier", "encoder", "pixels")
    kids = [None] * 3 if kid is None else intervals(*kid)
    return Comparison(
        "learned",
        "static",
        tuple(
            SpaceComparison(space, f, p, r, k)
            for space, f, p, r, k in zip(spaces, intervals(*fd), intervals(*precision), intervals(*recall), kids)
        ),
    )


@pytest.mark.parametrize(
    "fd, precision, recall, expected",
    [
        ([-1, -1, -1], [0, 0, 0], [1, 0, 0], Verdict.BETTER),
        ([-1, -1, -1], [-1, 0, 0], [0, 0, 0], Verdict.MIXED),  # lower FD everywhere, but less precise somewhere
        ([-1, -1, -1], [-1, 0, -1], [1, 1, 0], Verdict.TRADES_FIDELITY_FOR_DIVERSITY),  # buys recall with precision
        ([1, 1, 0], [1, 1, 0], [-1, 0, -1], Verdict.TRADES_DIVERSITY_FOR_FIDELITY),
        ([1, 1, 1], [0, -1, 0], [0, 0, 0], Verdict.WORSE),
        ([0, 0, 0], [0, 0, 0], [0, 0, 0], Verdict.LEVEL),
        ([-1, 1, 0], [0, 0, 0], [0, 0, 0], Verdict.MIXED),
    ],
)
def test_the_verdict_follows_the_house_rule(fd, precision, recall, expected):
    assert comparison(fd, precision, recall).verdict == expected  # a comparison from before KID was paired
    assert comparison(fd, precision, recall, kid=fd).verdict == expected  # KID agreeing with FD changes nothing


@pytest.mark.parametrize(
    "fd, kid, expected",
    [
        ([-1, -1, -1], [-1, -1, 0], Verdict.MIXED),  # FD lower everywhere, KID level in one space: no winner
        ([-1, -1, -1], [-1, -1, 1], Verdict.MIXED),
        ([1, 1, 1], [1, 0, 1], Verdict.MIXED),
        ([0, 0, 0], [0, 0, -1], Verdict.MIXED),  # KID alone moved
    ],
)
def test_fd_and_kid_must_agree_in_every_space(fd, kid, expected):
    assert comparison(fd, [0, 0, 0], [0, 0, 0], kid).verdict == expected


def test_a_mixed_verdict_names_the_spaces_where_kid_does_not_agree():
    sentence = comparison([-1, -1, -1], [0, 0, 0], [0, 0, 0], kid=[-1, 1, 0]).sentence()
    assert "learned's KID higher in encoder; learned's KID level in pixels" in sentence


def test_the_agreement_counts_the_spaces_per_metric():
    found = comparison([-1, -1, 1], [0, 0, -1], [1, 0, 0], kid=[-1, 0, 0])
    agreement = found.agreement()
    assert agreement["fd"] == {"better": 2 / 3, "worse": 1 / 3, "level": 0.0}
    assert agreement["kid"] == {"better": 1 / 3, "worse": 0.0, "level": 2 / 3}
    assert agreement["precision"]["worse"] == 1 / 3 and agreement["recall"]["better"] == 1 / 3
    assert found.agreement_sentence() == "FD lower in 2/3 spaces (higher in 1/3); KID lower in 1/3 spaces"
    assert "kid" not in comparison([-1, -1, 1], [0, 0, 0], [0, 0, 0]).agreement()


def test_a_mixed_verdict_names_the_spaces_and_a_trade_gives_its_numbers():
    mixed = comparison([-1, 1, 0], [0, 0, 0], [0, 0, 0])
    assert mixed.sentence() == (
        "mixed: learned better FD in classifier; static better FD in encoder; FD level in pixels; "
        "FD lower in 1/3 spaces (higher in 1/3)"
    )
    trade = comparison([-1, -1, -1], [-1, 0, 0], [1, 0, 0], kid=[-1, -1, 0])
    assert trade.sentence() == (
        "learned trades fidelity for diversity against static "
        "(classifier: precision -1 [-1.5, -0.5], recall +1 [+0.5, +1.5]; FD lower in 3/3 spaces; "
        "KID lower in 2/3 spaces)"
    )


def test_a_comparison_round_trips_through_its_dict(evaluator, real):
    found = compare_images(evaluator, real, noisy(real, 0.2), "real", "noisy")
    data = found.to_dict()
    assert data["verdict"] == found.verdict.value and data["sentence"] == found.sentence()
    assert data["agreement"] == found.agreement()
    assert Comparison.from_dict(data) == found
    for space in data["spaces"]:  # a file written before KID was paired reads with no KID
        del space["kid"]
    assert all(s.kid is None for s in Comparison.from_dict(data).spaces)


def test_student_t_quantiles_and_intervals():
    assert t_quantile(1) == 12.706 and t_quantile(30) == 2.042
    assert t_quantile(1000) == pytest.approx(1.9623, abs=1e-3)
    assert t_interval([1.0]).sign == 0  # one value: no interval, never a winner
    interval = t_interval([1.0, 2.0, 3.0])
    assert interval.value == 2.0 and interval.low == pytest.approx(2 - 4.303 / 3**0.5)


def test_unpaired_or_tiny_sets_are_refused(evaluator, real):
    with pytest.raises(ValueError, match="one shape"):
        compare_images(evaluator, real[:10], real[:20])
    reference = evaluator.reference_features_in("pixels")
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_fd_interval(reference, reference[:1], reference[:1])
