"""The reward-quality agreement: signed rank correlations, +1 when more reward means better images."""

import math

import pytest

from adagen_env.evaluation.agreement import ranks, reward_agreement, spearman


def test_ranks_share_ties_and_spearman_matches_known_values():
    assert ranks([3.0, 1.0, 2.0, 1.0]) == [4.0, 1.5, 3.0, 1.5]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)  # 1 - 6 * 4 / (5 * 24)
    assert math.isnan(spearman([1, 2], [1, 2])) and math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="one length"):
        spearman([1, 2, 3], [1, 2])


def test_a_reward_that_climbs_while_fd_worsens_disagrees():
    rewards = [0.1, 0.2, 0.3, 0.4]
    scores = [
        {"a_fd": fd, "a_kid": fd / 10, "a_precision": p, "a_recall": 1 - p}
        for fd, p in ((4.0, 0.9), (3.0, 0.8), (2.0, 0.7), (1.0, 0.6))
    ]
    agreement = reward_agreement(rewards, scores, ["a"])
    assert agreement["a_fd"] == pytest.approx(1.0) and agreement["a_kid"] == pytest.approx(1.0)  # FD falls: agrees
    assert agreement["a_precision"] == pytest.approx(-1.0) and agreement["a_recall"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one score dict per reward"):
        reward_agreement(rewards, scores[:2], ["a"])
