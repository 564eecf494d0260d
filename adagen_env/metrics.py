"""Sample-quality metrics in the digit classifier's 64-d feature space.

Frechet distance (FD, the FID formula on our own features), improved precision and recall
(Kynkaenniemi et al., 2019) and label accuracy of class-conditional samples, all measured
against the fixed held-out digits.

We do not use torchmetrics, torch-fidelity or clean-fid: they are built around running
Inception themselves on 3x299x299 uint8 images, which is meaningless for 8x8 digits, and
torchmetrics has no precision/recall for generative models. With 64-d features the maths
is a few lines of torch.
"""
from __future__ import annotations

import torch

from adagen_env.datasets import ImageDataset, load_digits
from adagen_env.models.classifier import DigitClassifier, load_classifier

DEFAULT_NUM_SAMPLES = 2000  # generated images per evaluation, everywhere
_BATCH_SIZE = 1024  # images per classifier pass
_CHUNK_SIZE = 1024  # rows per cdist block, bounding memory at chunk x N distances


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two (N, F) feature sets.

    ``||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr(sqrtm(S_a S_b))``, in float64. The
    trace term uses the eigenvalues of ``sqrt(S_a) S_b sqrt(S_a)``, which is symmetric PSD
    and has the same eigenvalues as ``S_a S_b``, so no general (complex) matrix sqrt is needed.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"expected two (N, F) feature sets with N >= 2, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.double(), b.double()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    eigval, eigvec = torch.linalg.eigh(cov_a)
    sqrt_a = eigvec @ torch.diag(eigval.clamp(min=0).sqrt()) @ eigvec.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    fd = (mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return max(fd.item(), 0.0)  # rounding can leave a tiny negative for identical sets


def _kth_neighbour_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row (index 0 of topk is itself)."""
    return torch.cat(
        [torch.cdist(c, x).topk(k + 1, dim=1, largest=False).values[:, k] for c in x.split(_CHUNK_SIZE)]
    )


def _inside_manifold(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor) -> float:
    """Fraction of queries within radius of at least one point."""
    inside = [(torch.cdist(c, points) <= radii).any(dim=1) for c in queries.split(_CHUNK_SIZE)]
    return torch.cat(inside).double().mean().item()


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaenniemi et al., 2019) of (N, F) feature sets.

    Each set's manifold is the union of balls around its points with radius the distance to
    the k-th nearest neighbour in the same set. Precision: share of fake points inside the
    real manifold (fidelity). Recall: share of real points inside the fake one (coverage).
    """
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected two (N, F) feature sets, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"need more than k={k} points in each set, got {len(real)} and {len(fake)}")
    real, fake = real.double(), fake.double()
    precision = _inside_manifold(fake, real, _kth_neighbour_radii(real, k))
    recall = _inside_manifold(real, fake, _kth_neighbour_radii(fake, k))
    return precision, recall


class Evaluator:
    """Scores generated images against a fixed real reference, whose features are computed once."""

    def __init__(
        self,
        reference: ImageDataset | None = None,
        device: str | torch.device = "cpu",
        classifier: DigitClassifier | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.classifier = load_classifier(self.device) if classifier is None else classifier
        self.reference = load_digits("heldout") if reference is None else reference
        self.reference_features = self.features(self.reference.to_float())

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 64) classifier features of (N, 1, 8, 8) float images in [0, 1], on the evaluator's device."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (1, 8, 8) or len(images) == 0:
            raise ValueError(f"expected images of shape (N, 1, 8, 8) with N >= 1, got {tuple(images.shape)}")
        if not images.is_floating_point():
            raise ValueError(f"expected float images in [0, 1], got {images.dtype}; divide grey levels by levels - 1")
        with torch.inference_mode():
            return torch.cat([self.classifier.features(b.to(self.device)) for b in images.split(_BATCH_SIZE)])

    def evaluate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
        """FD, precision and recall against the reference, and the share of images classified as the
        asked-for ``labels`` (NaN without labels)."""
        feats = self.features(images)
        if labels is None:
            accuracy = float("nan")
        else:
            if labels.shape != (len(images),):
                raise ValueError(f"expected labels of shape ({len(images)},), got {tuple(labels.shape)}")
            with torch.inference_mode():
                predicted = self.classifier.head(feats).argmax(dim=1)
            accuracy = (predicted == labels.to(self.device)).double().mean().item()
        precision, recall = precision_recall(self.reference_features, feats)
        return {
            "fd": frechet_distance(self.reference_features, feats),
            "precision": precision,
            "recall": recall,
            "accuracy": accuracy,
            "n": float(len(images)),
        }


def noise_floor(evaluator: Evaluator, real: ImageDataset | None = None) -> dict[str, float]:
    """What two disjoint real sets score against each other: the best a generator can hope for.

    ``real`` defaults to the digits' train split (1,297 images), the largest real set disjoint
    from the held-out reference. FD is biased upwards at small N, so this floor, taken at
    1,297 images, is only roughly comparable with scores at DEFAULT_NUM_SAMPLES.
    """
    real = load_digits("train") if real is None else real
    scores = evaluator.evaluate(real.to_float())
    return {key: scores[key] for key in ("fd", "precision", "recall", "n")}
