"""Sample-quality metrics in six feature spaces, against a fixed real reference.

Frechet distance (FD, the FID formula), kernel distance (KID: unbiased MMD^2 with a cubic
polynomial kernel), improved precision and recall (Kynkaenniemi et al., 2019) and label
accuracy of class-conditional samples. One feature space can be gamed or be blind to a flaw,
and two networks of one architecture differing only in seed already disagree, so every metric
is reported in an ensemble of five independently trained networks that differ in architecture
and objective (:mod:`adagen_env.models.feature_networks`: a CNN and an MLP classifier, an MLP
denoising and a convolutional autoencoder, a contrastive encoder), and in the raw pixels.

We do not use torchmetrics, torch-fidelity or clean-fid: they are built around running
Inception themselves on 3x299x299 uint8 images, which is meaningless for 8x8 digits, and
torchmetrics has no precision/recall for generative models. With 32-64-d features the maths
is a few lines of torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.models.feature_networks import NETWORKS

SHIPPED_IMAGE_SHAPE = (1, 8, 8)  # (C, H, W) of the digits the shipped feature networks know
DEFAULT_NUM_SAMPLES = 2000  # generated images per evaluation, everywhere
NETWORK_SPACES = tuple(NETWORKS)  # the learned feature spaces, in report order
SPACES = (*NETWORK_SPACES, "pixels")  # every feature space of Evaluator, in report order
CLASSIC_SPACES = ("classifier", "encoder", "pixels")  # the three spaces of results written before the ensemble
SPACE_METRICS = ("fd", "kid", "kid_std", "precision", "recall")  # reported per space as f"{space}_{metric}"
NEAREST_NEIGHBOURS = 3  # k of precision/recall
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000  # as torch-fidelity; Evaluator caps it at both set sizes
_BATCH_SIZE = 1024  # images per network pass
_CHUNK_SIZE = 1024  # rows per cdist or kernel block, bounding memory at chunk x N values


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two (N, F) feature sets.

    ``||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr(sqrtm(S_a S_b))``, in float64. The trace
    term needs only the eigenvalues of ``S_a S_b``, never a general (complex) matrix sqrt: with
    F features it takes those of ``sqrt(S_a) S_b sqrt(S_a)`` (symmetric PSD, same eigenvalues);
    with fewer samples than features (3,072 pixels of a 32x32 RGB image), the square roots of
    those eigenvalues are the singular values of ``A B^T / sqrt((N_a - 1)(N_b - 1))`` for the
    centred sets A and B, an N_a x N_b matrix: the same number, much cheaper.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"expected two (N, F) feature sets with N >= 2, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.double(), b.double()
    mean_a, mean_b = a.mean(0), b.mean(0)
    if min(len(a), len(b)) < a.shape[1]:
        centred_a, centred_b = a - mean_a, b - mean_b
        scale_a, scale_b = len(a) - 1, len(b) - 1
        trace_a, trace_b = centred_a.square().sum() / scale_a, centred_b.square().sum() / scale_b
        trace_sqrt = torch.linalg.svdvals(centred_a @ centred_b.T).sum() / math.sqrt(scale_a * scale_b)
    else:
        cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
        trace_a, trace_b = cov_a.trace(), cov_b.trace()
        eigval, eigvec = torch.linalg.eigh(cov_a)
        sqrt_a = eigvec @ torch.diag(eigval.clamp(min=0).sqrt()) @ eigvec.T
        middle = sqrt_a @ cov_b @ sqrt_a
        trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    fd = (mean_a - mean_b).square().sum() + trace_a + trace_b - 2 * trace_sqrt
    return max(fd.item(), 0.0)  # rounding can leave a tiny negative for identical sets


def _kth_neighbour_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row (index 0 of topk is itself)."""
    return torch.cat([torch.cdist(c, x).topk(k + 1, dim=1, largest=False).values[:, k] for c in x.split(_CHUNK_SIZE)])


def _inside_manifold(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor) -> float:
    """Fraction of queries within radius of at least one point."""
    inside = [(torch.cdist(c, points) <= radii).any(dim=1) for c in queries.split(_CHUNK_SIZE)]
    return torch.cat(inside).double().mean().item()


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = NEAREST_NEIGHBOURS) -> tuple[float, float]:
    """Improved precision and recall (Kynkaenniemi et al., 2019) of (N, F) feature sets.

    Each set's manifold is the union of balls around its points with radius the distance to
    the k-th nearest neighbour in the same set. Precision: share of fake points inside the
    real manifold (fidelity). Recall: share of real points inside the fake one (coverage).
    """
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected two (N, F) feature sets, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"need more than k={k} points in each set, got {len(real)} and {len(fake)}")
    real = real.double()
    return _precision_recall(real, _kth_neighbour_radii(real, k), fake, k)


def _precision_recall(real: torch.Tensor, real_radii: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    """precision_recall with the real set's radii given, so that a fixed reference computes them once."""
    fake = fake.double()
    precision = _inside_manifold(fake, real, real_radii)
    recall = _inside_manifold(real, fake, _kth_neighbour_radii(fake, k))
    return precision, recall


def equal_size_precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = NEAREST_NEIGHBOURS, real_radii: torch.Tensor | None = None
) -> tuple[float, float]:
    """precision_recall between sets of one size m = min(len(real), len(fake)), so that scores of
    sets of any size stand next to each other and next to the noise floor.

    k-NN balls shrink as a set grows, so a larger fake set covers more of the real one (recall
    rises with N) while each of its points finds the real balls as before. Here the fake set is
    cut into its ``len(fake) // m`` consecutive chunks of m points (class-balanced samples stay
    balanced when m is a multiple of the class count; the remainder is left out) and the scores
    averaged (:func:`chunk_precision_recall` gives them chunk by chunk); a real set larger than m
    is cut to a fixed random subset of m (seed 0).
    """
    scores = chunk_precision_recall(real, fake, k, real_radii)
    return sum(p for p, _ in scores) / len(scores), sum(r for _, r in scores) / len(scores)


def chunk_precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = NEAREST_NEIGHBOURS, real_radii: torch.Tensor | None = None
) -> list[tuple[float, float]]:
    """(precision, recall) of every consecutive chunk of m = min(len(real), len(fake)) fake points
    against m real ones (see :func:`equal_size_precision_recall`): sets of equal size whose scores
    pair up chunk by chunk between two generators sampled with the same labels and noise."""
    m = min(len(real), len(fake))
    if m <= k:
        raise ValueError(f"need more than k={k} points in each set, got {len(real)} and {len(fake)}")
    real = real.double()
    if m < len(real):
        real, real_radii = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:m]], None
    if real_radii is None:
        real_radii = _kth_neighbour_radii(real, k)
    return [_precision_recall(real, real_radii, chunk, k) for chunk in fake.split(m)[: len(fake) // m]]


def chunk_kid(real: torch.Tensor, fake: torch.Tensor) -> list[float]:
    """KID of every consecutive chunk of m = min(len(real), len(fake)) fake points against m real
    ones, each the unbiased MMD^2 of the whole chunk (one subset of all its points): the sets of
    :func:`chunk_precision_recall`, which pair up between generators sampled alike. Pass features
    already scaled as the Evaluator scales them (:meth:`Evaluator.kid_scale_in`)."""
    m = min(len(real), len(fake))
    if m < 2:
        raise ValueError(f"KID needs at least 2 points in each set, got {len(real)} and {len(fake)}")
    real = real.double()
    if m < len(real):
        real = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:m]]
    return [kid(real, chunk, subsets=1, subset_size=m)[0] for chunk in fake.double().split(m)[: len(fake) // m]]


def _polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """KID's kernel k(x, y) = (x.y / d + 1)^3 between the rows of a and b."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def _subset_kernel_sums(a: torch.Tensor, in_a: torch.Tensor, b: torch.Tensor, in_b: torch.Tensor) -> torch.Tensor:
    """For every subset s: the sum of k(a_i, b_j) over i in s's a-part and j in its b-part.

    ``in_a`` (S, N_a) and ``in_b`` (S, N_b) are 0/1 membership masks. Summing through masks turns
    S small kernel matrices into one big one, built in column blocks to bound memory.
    """
    sums = torch.zeros(len(in_a), dtype=a.dtype, device=a.device)
    for start in range(0, len(b), _CHUNK_SIZE):
        block = _polynomial_kernel(a, b[start : start + _CHUNK_SIZE])
        sums += ((in_a @ block) * in_b[:, start : start + _CHUNK_SIZE]).sum(dim=1)
    return sums


def _random_subsets(n: int, subsets: int, size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(subsets, n) 0/1 float64 masks, each of ``size`` indices drawn without replacement."""
    chosen = torch.rand(subsets, n, generator=generator).argsort(dim=1)[:, :size]
    return torch.zeros(subsets, n, dtype=torch.float64).scatter_(1, chosen, 1.0).to(device)


def kid(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel distance (KID, Binkowski et al., 2018) of (N, F) feature sets: mean and std over subsets.

    Each of ``subsets`` draws ``subset_size`` rows of each set without replacement and takes the
    unbiased MMD^2 estimate with the kernel (x.y / F + 1)^3, as torch-fidelity does (std with
    ddof 0). Unbiased: near 0, and possibly negative, for two samples of one distribution, at
    any size, which FD is not. Subsets come from a generator seeded with ``seed``.
    """
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected two (N, F) feature sets, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if subsets < 1:
        raise ValueError(f"KID needs at least 1 subset, got {subsets}")
    if subset_size < 2:
        raise ValueError(f"KID's unbiased estimate needs subsets of at least 2 samples, got subset_size={subset_size}")
    if min(len(real), len(fake)) < subset_size:
        raise ValueError(
            f"KID with subset_size={subset_size} needs at least {subset_size} samples in each set, "
            f"got {len(real)} real and {len(fake)} fake; lower subset_size"
        )
    real, fake = real.double(), fake.double()
    generator = torch.Generator().manual_seed(seed)
    in_real = _random_subsets(len(real), subsets, subset_size, generator, real.device)
    in_fake = _random_subsets(len(fake), subsets, subset_size, generator, real.device)
    m = subset_size

    def within(x: torch.Tensor, in_x: torch.Tensor) -> torch.Tensor:
        """Mean of k over pairs of distinct rows of each subset."""
        diagonal = in_x @ ((x * x).sum(dim=1) / x.shape[1] + 1) ** 3
        return (_subset_kernel_sums(x, in_x, x, in_x) - diagonal) / (m * (m - 1))

    between = _subset_kernel_sums(real, in_real, fake, in_fake) / (m * m)
    mmd = within(real, in_real) + within(fake, in_fake) - 2 * between
    return mmd.mean().item(), mmd.std(correction=0).item()


@dataclass(frozen=True)
class _Reference:
    """One space's reference features and their k-NN radii, computed once per Evaluator."""

    features: torch.Tensor  # (N, F) float64
    radii: torch.Tensor  # (N,) distance to the k-th nearest other reference point
    kid_scale: float  # 1 / the reference's root-mean-square feature value (see Evaluator)


class Evaluator:
    """Scores generated images against a fixed real reference in several feature spaces.

    ``evaluate`` returns one flat dict of floats (so that results average, log and serialise as
    before): for every space in ``spaces``, ``f"{space}_{metric}"`` for the metrics in
    SPACE_METRICS (``classifier_fd``, ``contrastive_kid``, ``pixels_recall``, ...); ``accuracy``
    and ``n``; and, when "classifier" is among ``spaces``, the original keys ``fd``,
    ``precision`` and ``recall``, equal to ``classifier_fd`` and so on. Spaces (SPACES): the
    five learned ones of :data:`~adagen_env.models.feature_networks.NETWORKS` ("classifier",
    "encoder", "mlp_classifier", "conv_autoencoder", "contrastive") and "pixels" (the raw pixel
    values). ``networks`` replaces shipped networks by space name with any modules that have a
    ``features`` method (and, for "classifier", a ``head`` for the accuracy); ``classifier=``
    and ``encoder=`` are short for ``networks={"classifier": ...}`` and so on. The shipped
    networks know 8x8 grey digits only: a ``reference`` of other images (any size, grey or RGB)
    needs networks trained on them (``adagen features``, ``adagen_env.data.user_data``), or only
    the spaces without one (``spaces=("pixels",)``).

    KID uses ``kid_subsets`` subsets of ``kid_subset_size`` samples, capped at the sizes of both
    sets, on features divided by the reference's root-mean-square feature value. The cubic
    kernel is not scale-free: on the classifier's features (x.y/d ~ 18) its cubic term swamps
    the rest, on a small-scale bottleneck it degenerates to a linear kernel (means only). One
    fixed scale per space, set by the reference, makes it weigh the moments alike everywhere.
    FD and precision/recall use the features as they are. Precision/recall compare sets of equal
    size (``equal_size_precision_recall``): 2,000 samples against the 500-image reference are
    scored as four sets of 500, so that they stand next to the noise floor's.
    """

    allowed_spaces: tuple[str, ...] = SPACES  # what ``spaces`` may name (a subclass for choices names its own)

    def __init__(
        self,
        reference: ImageDataset | None = None,
        device: str | torch.device = "cpu",
        classifier: nn.Module | None = None,
        spaces: tuple[str, ...] = SPACES,
        encoder: nn.Module | None = None,
        kid_subsets: int = KID_SUBSETS,
        kid_subset_size: int = KID_SUBSET_SIZE,
        networks: dict[str, nn.Module] | None = None,
    ) -> None:
        spaces = tuple(spaces)
        allowed = self.allowed_spaces
        if not spaces or len(set(spaces)) != len(spaces) or not set(spaces) <= set(allowed):
            raise ValueError(f"spaces must be distinct names from {allowed}, got {spaces}")
        networks = dict(networks or {})
        for space, network in (("classifier", classifier), ("encoder", encoder)):
            if network is not None:
                networks[space] = network
        named = tuple(space for space in allowed if space != "pixels")
        if not set(networks) <= set(named):
            raise ValueError(f"networks are named by space, one of {named}; got {sorted(networks)}")
        if kid_subsets < 1 or kid_subset_size < 2:
            raise ValueError(f"need kid_subsets >= 1 and kid_subset_size >= 2, got {kid_subsets}, {kid_subset_size}")
        self.device = torch.device(device)
        self.spaces = spaces
        self.kid_subsets, self.kid_subset_size = kid_subsets, kid_subset_size
        self.reference = load_digits("heldout") if reference is None else reference
        if len(self.reference) <= NEAREST_NEIGHBOURS:
            raise ValueError(f"the reference needs more than {NEAREST_NEIGHBOURS} images, got {len(self.reference)}")
        self.image_shape = (self.reference.channels, *self.reference.image_shape)  # (C, H, W)
        for space in spaces:
            if space != "pixels" and space not in networks:
                networks[space] = self._shipped(space)
        self.networks = networks
        images = self.reference.to_float()
        self._references = {}
        for space in spaces:
            feats = self.space_features(images, space).double()
            rms = feats.square().mean().sqrt().item()
            radii = _kth_neighbour_radii(feats, NEAREST_NEIGHBOURS)
            self._references[space] = _Reference(feats, radii, 1 / rms if rms > 0 else 1.0)
        # classifier features of the reference, as callers have always read them (None without that space)
        self.reference_features = self._references["classifier"].features.float() if "classifier" in spaces else None

    @property
    def classifier(self) -> nn.Module | None:
        """The classifier of the "classifier" space (and of the label accuracy), if the evaluator has one."""
        return self.networks.get("classifier")

    @property
    def encoder(self) -> nn.Module | None:
        return self.networks.get("encoder")

    def _shipped(self, space: str) -> nn.Module:
        """The shipped feature network of ``space``, where it fits the reference's images."""
        if self.image_shape != SHIPPED_IMAGE_SHAPE:
            c, h, w = self.image_shape
            raise ValueError(
                f"the shipped {space} network knows 8x8 grey digits, not {c}x{h}x{w} images; pass networks= "
                f"trained on your images (adagen features), or leave {space!r} out of spaces"
            )
        return NETWORKS[space].load_shipped(self.device)

    def reference_features_in(self, space: str) -> torch.Tensor:
        """(N, F) float64 features of the reference images in ``space`` (one of ``self.spaces``)."""
        if space not in self._references:
            raise ValueError(f"this evaluator has no space {space!r}; its spaces: {self.spaces}")
        return self._references[space].features

    def _check_images(self, images: torch.Tensor) -> None:
        if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape or len(images) == 0:
            raise ValueError(
                f"expected images of shape (N, {', '.join(map(str, self.image_shape))}) with N >= 1, "
                f"got {tuple(images.shape)}"
            )
        if not images.is_floating_point():
            raise ValueError(f"expected float images in [0, 1], got {images.dtype}; divide grey levels by levels - 1")
        if not torch.isfinite(images).all():
            raise ValueError("images contain NaN or infinite values")

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 64) classifier features of (N, C, H, W) float images in [0, 1], on the evaluator's device."""
        return self.space_features(images, "classifier")

    def space_features(self, images: torch.Tensor, space: str) -> torch.Tensor:
        """(N, F) features of (N, C, H, W) float images in [0, 1] in one of SPACES, on the evaluator's device."""
        self._check_images(images)
        images = images.float()  # the networks' weights are float32
        if space == "pixels":
            return images.flatten(1).to(self.device)
        if space not in self.allowed_spaces:
            raise ValueError(f"unknown feature space {space!r}; expected one of {self.allowed_spaces}")
        if space not in self.networks:  # a space outside ``spaces``: its shipped network, loaded when first asked for
            self.networks[space] = self._shipped(space)
        network = self.networks[space]
        try:
            with torch.inference_mode():
                return torch.cat([network.features(b.to(self.device)) for b in images.split(_BATCH_SIZE)])
        except RuntimeError as e:  # a network built for other images: wrong channels or sizes
            c, h, w = self.image_shape
            raise ValueError(f"the {space} network does not take {c}x{h}x{w} images ({str(e).splitlines()[0]})") from e

    def evaluate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
        """Every space's FD, KID (mean, std), precision and recall against the reference, and the
        share of images classified as the asked-for ``labels`` (NaN without labels); keys in the class doc."""
        self._check_images(images)
        if labels is not None and labels.shape != (len(images),):
            raise ValueError(f"expected labels of shape ({len(images)},), got {tuple(labels.shape)}")
        return self.evaluate_features(self.all_features(images), labels)

    def all_features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The features of ``images`` in every space of the evaluator, by space (and the classifier's,
        for the class accuracy, when the evaluator has a classifier outside its spaces)."""
        features = {space: self.space_features(images, space) for space in self.spaces}
        if self.classifier is not None and "classifier" not in features:
            features["classifier"] = self.space_features(images, "classifier")
        return features

    def evaluate_features(
        self, features: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> dict[str, float]:
        """``evaluate`` from features already computed (:meth:`all_features`), so that a caller that
        keeps them (paired comparisons) computes them once."""
        n = len(next(iter(features.values())))
        if n <= NEAREST_NEIGHBOURS:
            raise ValueError(
                f"need at least {NEAREST_NEIGHBOURS + 1} images for k={NEAREST_NEIGHBOURS} precision/recall, got {n}"
            )
        scores: dict[str, float] = {}
        for space in self.spaces:
            feats, reference = features[space], self._references[space]
            precision, recall = equal_size_precision_recall(reference.features, feats, real_radii=reference.radii)
            subset_size = min(self.kid_subset_size, len(reference.features), len(feats))
            scale = reference.kid_scale
            kid_mean, kid_std = kid(scale * reference.features, scale * feats.double(), self.kid_subsets, subset_size)
            scores.update(
                {
                    f"{space}_fd": frechet_distance(reference.features, feats),
                    f"{space}_kid": kid_mean,
                    f"{space}_kid_std": kid_std,
                    f"{space}_precision": precision,
                    f"{space}_recall": recall,
                }
            )
        if labels is None or self.classifier is None or "classifier" not in features:
            accuracy = float("nan")
        else:
            with torch.inference_mode():
                predicted = self.classifier.head(features["classifier"]).argmax(dim=1)
            accuracy = (predicted == labels.to(self.device)).double().mean().item()
        head = {
            key: scores[f"classifier_{key}"] for key in ("fd", "precision", "recall") if "classifier" in self.spaces
        }
        return {**head, "accuracy": accuracy, "n": float(n), **scores}

    def kid_scale_in(self, space: str) -> float:
        """The factor KID multiplies ``space``'s features by (1 / the reference's RMS feature value)."""
        self.reference_features_in(space)
        return self._references[space].kid_scale

    def reference_radii_in(self, space: str) -> torch.Tensor:
        """The k-NN radii of the reference in ``space``, for :func:`chunk_precision_recall`."""
        self.reference_features_in(space)
        return self._references[space].radii


def noise_floor(evaluator: Evaluator, real: ImageDataset | None = None) -> dict[str, float]:
    """What two disjoint real sets score against each other, in every space: the best a generator can hope for.

    ``real`` defaults to the digits' train split (1,297 images), the largest real set disjoint
    from the held-out reference. Precision/recall are on equal-size sets (two sets of 500) as
    for every generated set. FD is biased upwards at small N (its covariance estimate adds about
    tr(S)/N), so this floor, taken at 1,297 images, sits slightly above what 2,000 real images
    would score; KID is unbiased at any N.

    The real images are scored in a fixed random order (seed 0), as independent draws, like
    generated samples: precision/recall cut a set into consecutive chunks, and real images are
    stored in runs (a folder class by class, the digits writer by writer), so chunks in stored
    order each cover a few classes or writers, and the floor's recall read far too low (0.47 for
    1,024 RGB patches of four classes in pixel space, 0.84 shuffled; 0.785 for the digits'
    classifier space, 0.902 shuffled).
    """
    if real is None:
        if evaluator.image_shape != SHIPPED_IMAGE_SHAPE:
            raise ValueError("noise_floor needs real= images of the evaluator's kind (the digits are 8x8 grey)")
        real = load_digits("train")
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    scores = evaluator.evaluate(real.to_float()[order])
    return {key: value for key, value in scores.items() if key != "accuracy"}
