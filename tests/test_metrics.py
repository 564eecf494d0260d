"""FD, KID and precision/recall against closed forms and toy cases; the shipped networks and Evaluator."""

import math

import numpy as np
import pytest
import torch

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.evaluation.metrics import (
    SPACE_METRICS,
    SPACES,
    Evaluator,
    equal_size_precision_recall,
    frechet_distance,
    kid,
    noise_floor,
    precision_recall,
)
from adagen_env.models.classifier import load_classifier
from adagen_env.models.encoder import WEIGHTS_PATH as ENCODER_PATH
from adagen_env.models.encoder import load_encoder

OLD_KEYS = ("fd", "precision", "recall", "accuracy", "n")


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


def test_fd_of_a_unit_shift_in_every_dimension_is_the_dimension():
    # identity covariances: FD = ||mu_a - mu_b||^2 = d * 1^2
    a = torch.randn(20000, 8, generator=_gen(12))
    b = torch.randn(20000, 8, generator=_gen(13)) + 1.0
    assert frechet_distance(a, b) == pytest.approx(8.0, rel=0.02)


def test_fd_rejects_mismatched_features():
    with pytest.raises(ValueError):
        frechet_distance(torch.zeros(10, 3), torch.zeros(10, 4))


def test_precision_recall_of_identical_sets_is_one():
    x = torch.randn(300, 8, generator=_gen(5))
    assert precision_recall(x, x) == (1.0, 1.0)


def test_precision_recall_high_for_same_distribution():
    precision, recall = precision_recall(
        torch.randn(2000, 2, generator=_gen(6)), torch.randn(2000, 2, generator=_gen(7))
    )
    assert precision > 0.9 and recall > 0.9


def test_mode_collapse_keeps_precision_but_loses_recall():
    centres = 20 * torch.randn(10, 2, generator=_gen(8))
    real = centres.repeat_interleave(200, 0) + torch.randn(2000, 2, generator=_gen(9))
    fake = centres[0] + torch.randn(2000, 2, generator=_gen(10))  # only one of the ten modes
    precision, recall = precision_recall(real, fake)
    assert precision > 0.9 and recall < 0.2


def test_precision_recall_of_far_apart_sets_is_zero():
    real = torch.randn(300, 4, generator=_gen(14))
    assert precision_recall(real, 1000 + torch.randn(300, 4, generator=_gen(15))) == (0.0, 0.0)


def test_half_of_the_modes_gives_half_the_recall_and_full_precision():
    centres = 100 * torch.randn(10, 2, generator=_gen(16))
    real = centres.repeat_interleave(200, 0) + torch.randn(2000, 2, generator=_gen(17))
    fake = centres[:5].repeat_interleave(200, 0) + torch.randn(1000, 2, generator=_gen(18))
    precision, recall = precision_recall(real, fake)
    assert precision > 0.9 and recall == pytest.approx(0.5, abs=0.05)


def test_equal_size_precision_recall_averages_chunks_the_size_of_the_real_set():
    real, fake = torch.randn(300, 2, generator=_gen(30)), torch.randn(1000, 2, generator=_gen(31))
    chunks = [precision_recall(real, fake[i : i + 300]) for i in (0, 300, 600)]  # the last 100 are left out
    expected = (sum(p for p, _ in chunks) / 3, sum(r for _, r in chunks) / 3)
    assert equal_size_precision_recall(real, fake) == pytest.approx(expected)


def test_equal_size_precision_recall_cuts_a_larger_real_set():
    real, fake = torch.randn(1000, 2, generator=_gen(34)), torch.randn(100, 2, generator=_gen(35))
    precision, recall = equal_size_precision_recall(real, fake)
    assert 0.8 < precision <= 1 and 0.8 < recall <= 1
    with pytest.raises(ValueError, match="more than k=3 points"):
        equal_size_precision_recall(real, fake[:3])


def test_precision_recall_needs_more_than_k_points():
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(torch.zeros(3, 2), torch.zeros(10, 2), k=3)


def _naive_kid(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, written out plainly."""
    x, y = x.double(), y.double()
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return (
        (kxx.sum() - kxx.trace()) / (m * (m - 1)) + (kyy.sum() - kyy.trace()) / (n * (n - 1)) - 2 * k(x, y).mean()
    ).item()


def test_kid_matches_the_plain_formula_on_whole_sets():
    x, y = torch.randn(60, 5, generator=_gen(19)), 0.5 + torch.randn(60, 5, generator=_gen(20))
    mean, std = kid(x, y, subsets=3, subset_size=60)  # every subset is the whole set
    assert mean == pytest.approx(_naive_kid(x, y), rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_kid_is_unbiased_on_equal_distributions_and_grows_with_a_shift():
    a, b = torch.randn(1000, 8, generator=_gen(21)), torch.randn(1000, 8, generator=_gen(22))
    same, same_std = kid(a, b, subsets=50, subset_size=500)
    shifted, shifted_std = kid(a, b + 0.3, subsets=50, subset_size=500)
    assert abs(same) < 3 * same_std and abs(same) < 0.02
    assert shifted > 0.2 and shifted > 5 * shifted_std


def test_kid_is_deterministic_and_seeded():
    a, b = torch.randn(200, 4, generator=_gen(23)), torch.randn(300, 4, generator=_gen(24))
    assert kid(a, b, 10, 100) == kid(a, b, 10, 100)
    assert kid(a, b, 10, 100, seed=1) != kid(a, b, 10, 100)


@pytest.mark.parametrize(("subset_size", "message"), [(201, "at least 201 samples"), (1, "at least 2")])
def test_kid_says_how_many_samples_it_needs(subset_size, message):
    with pytest.raises(ValueError, match=message):
        kid(torch.zeros(200, 4), torch.zeros(300, 4), subset_size=subset_size)


def test_classifier_is_frozen_and_not_shared():
    model = load_classifier()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert model.features(torch.zeros(2, 1, 8, 8)).shape == (2, model.feature_dim)
    other = load_classifier("cpu")
    model.train()
    assert other is not model and not other.training


def test_encoder_file_is_small_safe_and_frozen():
    assert ENCODER_PATH.stat().st_size < 2 * 1024 * 1024
    checkpoint = torch.load(ENCODER_PATH, map_location="cpu", weights_only=True)
    assert set(checkpoint) == {"config", "state_dict"}
    model = load_encoder()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert model.features(torch.zeros(2, 1, 8, 8)).shape == (2, model.feature_dim)
    assert load_encoder() is not model


def test_encoder_reconstructs_heldout_digits_far_better_than_the_mean_image():
    train, heldout = load_digits("train").to_float(), load_digits("heldout").to_float()
    with torch.no_grad():
        error = (torch.sigmoid(load_encoder()(heldout)) - heldout).square().mean()
    assert error < 0.25 * (train.mean(0) - heldout).square().mean()


def test_heldout_accuracy_and_self_scores(evaluator):
    heldout = load_digits("heldout")
    scores = evaluator.evaluate(heldout.to_float(), heldout.label_tensor())
    assert scores["accuracy"] >= 0.95
    assert scores["fd"] == pytest.approx(0.0, abs=1e-6)
    assert scores["precision"] == scores["recall"] == 1.0 and scores["n"] == 500
    for space in SPACES:
        assert scores[f"{space}_fd"] == pytest.approx(0.0, abs=1e-6)
        assert scores[f"{space}_precision"] == scores[f"{space}_recall"] == 1.0


def test_evaluator_reports_every_space_and_the_old_keys_unchanged(evaluator):
    images = torch.rand(200, 1, 8, 8, generator=_gen(25)) * load_digits("train").to_float()[:200]
    labels = torch.arange(200) % 10
    scores = evaluator.evaluate(images, labels)
    assert list(scores) == [*OLD_KEYS, *(f"{s}_{m}" for s in SPACES for m in SPACE_METRICS)]
    assert all(isinstance(v, float) for v in scores.values())
    # the old keys are exactly what the classifier-only Evaluator computed
    feats = evaluator.features(images)
    assert scores["fd"] == frechet_distance(evaluator.reference_features, feats) == scores["classifier_fd"]
    assert (scores["precision"], scores["recall"]) == equal_size_precision_recall(evaluator.reference_features, feats)
    assert (scores["precision"], scores["recall"]) == (scores["classifier_precision"], scores["classifier_recall"])
    predicted = load_classifier()(images).argmax(1)
    assert scores["accuracy"] == (predicted == labels).double().mean().item()
    assert scores == evaluator.evaluate(images, labels)  # deterministic, KID subsets included


def test_evaluator_can_restrict_the_spaces():
    scores = Evaluator(spaces=("pixels",)).evaluate(load_digits("heldout").to_float())
    assert list(scores) == ["accuracy", "n", *(f"pixels_{m}" for m in SPACE_METRICS)]
    with pytest.raises(ValueError, match="spaces"):
        Evaluator(spaces=("classifier", "inception"))
    with pytest.raises(ValueError, match="spaces"):
        Evaluator(spaces=())


def test_evaluate_without_labels_and_on_noise(evaluator):
    noise = torch.rand(1000, 1, 8, 8, generator=_gen(11))
    scores = evaluator.evaluate(noise)
    floor = noise_floor(evaluator)
    assert math.isnan(scores["accuracy"])
    for space in SPACES:  # every space tells noise from digits, by every measure
        assert scores[f"{space}_fd"] > 10 * floor[f"{space}_fd"]
        assert scores[f"{space}_kid"] > 0.5 and abs(floor[f"{space}_kid"]) < 0.05
        assert scores[f"{space}_precision"] < 0.5 and scores[f"{space}_recall"] < 0.5


@pytest.mark.parametrize("shape", [(10, 8, 8), (10, 3, 8, 8), (10, 1, 7, 7), (0, 1, 8, 8)])
def test_evaluate_rejects_wrong_shape(evaluator, shape):
    with pytest.raises(ValueError, match="shape"):
        evaluator.evaluate(torch.zeros(shape))


def test_evaluate_rejects_integer_images_and_bad_labels(evaluator):
    with pytest.raises(ValueError, match="float"):
        evaluator.evaluate(load_digits("heldout").tokens().view(-1, 1, 8, 8))
    with pytest.raises(ValueError, match="labels"):
        evaluator.evaluate(torch.rand(10, 1, 8, 8), torch.zeros(9, dtype=torch.long))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_evaluate_rejects_non_finite_images(evaluator, bad):
    images = torch.rand(10, 1, 8, 8)
    images[3, 0, 2, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        evaluator.evaluate(images)


def test_evaluate_says_how_many_images_it_needs(evaluator):
    with pytest.raises(ValueError, match="at least 4 images"):
        evaluator.evaluate(torch.rand(3, 1, 8, 8))


def test_evaluate_takes_double_images(evaluator):
    images, labels = torch.rand(50, 1, 8, 8, generator=_gen(26)), torch.arange(50) % 10
    assert evaluator.evaluate(images.double(), labels) == evaluator.evaluate(images, labels)


def test_noise_floor_is_finite_and_positive(evaluator):
    floor = noise_floor(evaluator)
    # the classifier-space floor the README has always reported: the old numbers, unchanged
    assert floor["fd"] == pytest.approx(2.668, abs=0.001) and floor["n"] == 1297
    # precision/recall on equal-size sets (two sets of 500 training images, in a fixed random order):
    # recall 0.902; the stored order, writer by writer, gave 0.785
    assert floor["precision"] == pytest.approx(0.917, abs=0.001) and floor["recall"] == pytest.approx(0.902, abs=0.001)
    for space in SPACES:
        assert math.isfinite(floor[f"{space}_fd"]) and floor[f"{space}_fd"] > 0
        assert 0.9 < floor[f"{space}_precision"] <= 1 and 0.88 < floor[f"{space}_recall"] <= 1


def test_noise_floor_does_not_depend_on_the_order_real_images_are_stored_in(evaluator):
    train = load_digits("train")
    by_class = np.argsort(train.labels, kind="stable")  # as a folder stores them: class by class
    stored = ImageDataset(train.images[by_class], train.labels[by_class], train.levels, train.num_classes)
    floor = noise_floor(evaluator, stored)
    # in stored order, each set of 500 held four classes and covered under half of the reference
    assert floor["recall"] > 0.88 and floor["pixels_recall"] > 0.88


def test_frechet_distance_with_fewer_samples_than_features_matches_the_covariance_formula():
    """The Gram route (N < F) gives the number of the F x F covariance route."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(20, 50, generator=generator, dtype=torch.float64)
    b = 1.5 * torch.randn(30, 50, generator=generator, dtype=torch.float64) + 0.3
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    eigval, eigvec = torch.linalg.eigh(cov_a)
    sqrt_a = eigvec @ torch.diag(eigval.clamp(min=0).sqrt()) @ eigvec.T
    trace_sqrt = torch.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a).clamp(min=0).sqrt().sum()
    expected = (a.mean(0) - b.mean(0)).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    assert frechet_distance(a, b) == pytest.approx(expected.item(), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
