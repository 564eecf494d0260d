"""FD and precision/recall against closed forms and toy cases; the shipped classifier and Evaluator."""
import math

import pytest
import torch

from adagen_env.datasets import load_digits
from adagen_env.metrics import Evaluator, frechet_distance, noise_floor, precision_recall
from adagen_env.models.classifier import load_classifier


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    torch.set_num_threads(1)
    return Evaluator()


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_fd_of_a_set_with_itself_is_zero():
    x = torch.randn(500, 16, generator=_gen(0))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fd_grows_with_mean_shift_and_matches_closed_form():
    a = torch.randn(20000, 4, generator=_gen(1))
    b = torch.randn(20000, 4, generator=_gen(2))
    fds = [frechet_distance(a, b + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert fds == sorted(fds)
    # equal covariances: FD = ||mu_a - mu_b||^2 = 4 * 2.0^2
    assert fds[-1] == pytest.approx(16.0, rel=0.02)


def test_fd_matches_closed_form_for_different_diagonal_covariances():
    # diagonal covariances: FD = ||mu_a - mu_b||^2 + sum_i (sigma_a,i - sigma_b,i)^2 = 4 + 4 * (3 - 1)^2
    a = torch.randn(20000, 4, generator=_gen(3))
    b = 3 * torch.randn(20000, 4, generator=_gen(4)) + torch.tensor([2.0, 0, 0, 0])
    assert frechet_distance(a, b) == pytest.approx(20.0, rel=0.03)


def test_fd_rejects_mismatched_features():
    with pytest.raises(ValueError):
        frechet_distance(torch.zeros(10, 3), torch.zeros(10, 4))


def test_precision_recall_of_identical_sets_is_one():
    x = torch.randn(300, 8, generator=_gen(5))
    assert precision_recall(x, x) == (1.0, 1.0)


def test_precision_recall_high_for_same_distribution():
    precision, recall = precision_recall(torch.randn(2000, 2, generator=_gen(6)), torch.randn(2000, 2, generator=_gen(7)))
    assert precision > 0.9 and recall > 0.9


def test_mode_collapse_keeps_precision_but_loses_recall():
    centres = 20 * torch.randn(10, 2, generator=_gen(8))
    real = centres.repeat_interleave(200, 0) + torch.randn(2000, 2, generator=_gen(9))
    fake = centres[0] + torch.randn(2000, 2, generator=_gen(10))  # only one of the ten modes
    precision, recall = precision_recall(real, fake)
    assert precision > 0.9 and recall < 0.2


def test_precision_recall_needs_more_than_k_points():
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(torch.zeros(3, 2), torch.zeros(10, 2), k=3)


def test_classifier_is_frozen_and_not_shared():
    model = load_classifier()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert model.features(torch.zeros(2, 1, 8, 8)).shape == (2, model.feature_dim)
    other = load_classifier("cpu")
    model.train()
    assert other is not model and not other.training


def test_heldout_accuracy_and_self_scores(evaluator):
    heldout = load_digits("heldout")
    scores = evaluator.evaluate(heldout.to_float(), heldout.label_tensor())
    assert scores["accuracy"] >= 0.95
    assert scores["fd"] == pytest.approx(0.0, abs=1e-6)
    assert scores["precision"] == scores["recall"] == 1.0 and scores["n"] == 500


def test_evaluate_without_labels_and_on_noise(evaluator):
    noise = torch.rand(1000, 1, 8, 8, generator=_gen(11))
    scores = evaluator.evaluate(noise)
    assert math.isnan(scores["accuracy"])
    assert scores["fd"] > 10 * noise_floor(evaluator)["fd"]


@pytest.mark.parametrize("shape", [(10, 8, 8), (10, 3, 8, 8), (10, 1, 7, 7), (0, 1, 8, 8)])
def test_evaluate_rejects_wrong_shape(evaluator, shape):
    with pytest.raises(ValueError, match="shape"):
        evaluator.evaluate(torch.zeros(shape))


def test_evaluate_rejects_integer_images_and_bad_labels(evaluator):
    with pytest.raises(ValueError, match="float"):
        evaluator.evaluate(load_digits("heldout").tokens().view(-1, 1, 8, 8))
    with pytest.raises(ValueError, match="labels"):
        evaluator.evaluate(torch.rand(10, 1, 8, 8), torch.zeros(9, dtype=torch.long))


def test_noise_floor_is_finite_and_positive(evaluator):
    floor = noise_floor(evaluator)
    assert math.isfinite(floor["fd"]) and floor["fd"] > 0
    assert 0 < floor["precision"] <= 1 and 0 < floor["recall"] <= 1 and floor["n"] == 1297
