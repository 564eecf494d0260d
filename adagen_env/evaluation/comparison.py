"""Paired comparison of two generators, and its verdict as data.

Both are sampled with the same labels and the same noise seeds, so sample i of A and sample i of
B form a pair. In every feature space:

- FD(A) - FD(B) with a percentile bootstrap interval over resampled pairs (the same indices for
  both sets). The reference images are fixed, so the interval leaves out their own sampling
  noise: it is a lower bound on the uncertainty against another reference set.
- KID(A) - KID(B), precision(A) - precision(B) and recall(A) - recall(B), paired set by set:
  all three are scored on sets of the reference's size (KID: the unbiased MMD^2 of the whole set
  against the whole reference; precision and recall:
  :func:`~adagen_env.evaluation.metrics.chunk_precision_recall`), set j of A against set j of B,
  with a Student t interval over the sets.

The verdict (:class:`Verdict`) follows the house rule, over the evaluator's ensemble of feature
spaces: A is ``BETTER`` only when FD *and* KID are lower beyond their intervals in every space
(the ensemble agrees: :meth:`Comparison.agreement` gives the share of spaces that do) *and* A is
not dominated in precision and recall: neither is lower beyond its interval in any space. A that
buys recall with precision ``TRADES_FIDELITY_FOR_DIVERSITY`` (the reverse
``TRADES_DIVERSITY_FOR_FIDELITY``); nothing beyond an interval anywhere is ``LEVEL``; anything
else is ``MIXED``. Comparisons read from files written before KID was paired have no KID
interval (``kid`` is ``None``); their verdicts rest on FD, precision and recall as they were.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import torch

from adagen_env.evaluation.metrics import Evaluator, chunk_kid, chunk_precision_recall, frechet_distance

RESAMPLES = 200
CONFIDENCE = 0.95
# two-sided 95 % Student t quantiles by degrees of freedom (1 to 30); beyond, a series around 1.96
_T95 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


@dataclass(frozen=True)
class Interval:
    """An estimate and its 95 % interval; ``sign`` is +1 / -1 when the interval lies above / below 0,
    0 when it holds 0 (or cannot be computed: NaN bounds)."""

    value: float
    low: float
    high: float

    @property
    def sign(self) -> int:
        return 1 if self.low > 0 else -1 if self.high < 0 else 0

    def __str__(self) -> str:
        return f"{self.value:+.3g} [{self.low:+.3g}, {self.high:+.3g}]"


def t_quantile(df: int) -> float:
    """The two-sided 95 % quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        return float("nan")
    if df <= len(_T95):
        return _T95[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def t_interval(values: list[float]) -> Interval:
    """The mean of ``values`` and its 95 % Student t interval (NaN bounds for fewer than 2 values)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return Interval(mean, float("nan"), float("nan"))
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half)


def paired_fd_interval(
    reference: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """FD(A) - FD(B) against ``reference`` for paired feature sets (row i of ``a`` and ``b`` a pair),
    with a percentile bootstrap interval over resampled pairs."""
    if a.shape != b.shape:
        raise ValueError(f"paired sets must have one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) < 2 or resamples < 2 or not 0 < confidence < 1:
        raise ValueError(
            f"need at least 2 pairs, resamples >= 2 and 0 < confidence < 1, got {len(a)}, {resamples}, {confidence}"
        )
    reference, a, b = reference.double().cpu(), a.double().cpu(), b.double().cpu()  # the bootstrap runs on the CPU
    generator = torch.Generator().manual_seed(seed)
    draws = [torch.randint(len(a), (len(a),), generator=generator) for _ in range(resamples)]
    boot = torch.tensor([frechet_distance(reference, a[i]) - frechet_distance(reference, b[i]) for i in draws])
    tail = (1 - confidence) / 2
    low, high = torch.quantile(boot, torch.tensor([tail, 1 - tail], dtype=boot.dtype)).tolist()
    return Interval(frechet_distance(reference, a) - frechet_distance(reference, b), low, high)


class Verdict(str, Enum):
    """What a comparison of A with B says, from A's side."""

    BETTER = "better"
    WORSE = "worse"
    LEVEL = "level"
    MIXED = "mixed"
    TRADES_FIDELITY_FOR_DIVERSITY = "trades fidelity for diversity"
    TRADES_DIVERSITY_FOR_FIDELITY = "trades diversity for fidelity"


@dataclass(frozen=True)
class SpaceComparison:
    """A against B in one feature space: paired differences A - B (FD and KID: lower is better)."""

    space: str
    fd: Interval
    precision: Interval
    recall: Interval
    kid: Interval | None = None  # None: read from a file written before KID was paired

    @property
    def verdict(self) -> Verdict:
        """By FD alone: ``BETTER`` (A's FD lower beyond the interval), ``WORSE`` or ``LEVEL``."""
        return {-1: Verdict.BETTER, 1: Verdict.WORSE, 0: Verdict.LEVEL}[self.fd.sign]


@dataclass(frozen=True)
class Comparison:
    """A against B in every space, and the verdict over all of them (see the module doc)."""

    a: str
    b: str
    spaces: tuple[SpaceComparison, ...]

    @property
    def verdict(self) -> Verdict:
        distance = [s.fd.sign for s in self.spaces] + [s.kid.sign for s in self.spaces if s.kid is not None]
        precision = [s.precision.sign for s in self.spaces]
        recall = [s.recall.sign for s in self.spaces]
        quality = precision + recall
        if all(v < 0 for v in distance) and min(quality) >= 0:
            return Verdict.BETTER
        if all(v > 0 for v in distance) and max(quality) <= 0:
            return Verdict.WORSE
        if min(precision) < 0 and max(recall) > 0 and max(precision) <= 0 and min(recall) >= 0:
            return Verdict.TRADES_FIDELITY_FOR_DIVERSITY
        if max(precision) > 0 and min(recall) < 0 and min(precision) >= 0 and max(recall) <= 0:
            return Verdict.TRADES_DIVERSITY_FOR_FIDELITY
        if not any(distance) and not any(quality):
            return Verdict.LEVEL
        return Verdict.MIXED

    def agreement(self) -> dict[str, dict[str, float]]:
        """For FD, KID, precision and recall: the share of spaces where A's is better, worse, or
        level with B's beyond the interval (FD and KID: lower is better). KID is absent for
        comparisons read from files written before it was paired."""
        shares = {}
        for metric, better_sign in (("fd", -1), ("kid", -1), ("precision", 1), ("recall", 1)):
            signs = [getattr(s, metric).sign for s in self.spaces if getattr(s, metric) is not None]
            if signs:
                n = len(signs)
                shares[metric] = {
                    "better": sum(v == better_sign for v in signs) / n,
                    "worse": sum(v == -better_sign for v in signs) / n,
                    "level": sum(v == 0 for v in signs) / n,
                }
        return shares

    def agreement_sentence(self) -> str:
        """The agreement in words: "FD lower in 5/6 spaces (higher in 1/6); KID lower in ..."."""
        n = len(self.spaces)
        parts = []
        for metric, (good, bad) in (("fd", ("lower", "higher")), ("kid", ("lower", "higher"))):
            share = self.agreement().get(metric)
            if share is None:
                continue
            better, worse = round(share["better"] * n), round(share["worse"] * n)
            parts.append(
                f"{metric.upper()} {good} in {better}/{n} spaces" + (f" ({bad} in {worse}/{n})" if worse else "")
            )
        return "; ".join(parts)

    def spaces_where(self, verdict: Verdict) -> list[str]:
        """The spaces whose FD says ``verdict`` (``BETTER``, ``WORSE`` or ``LEVEL``)."""
        return [s.space for s in self.spaces if s.verdict == verdict]

    def sentence(self) -> str:
        """The verdict in words, with the numbers behind it."""
        verdict, a, b = self.verdict, self.a, self.b
        if verdict == Verdict.BETTER:
            return (
                f"{a} beats {b} in every space ({self.agreement_sentence()}; precision and recall not lower anywhere)"
            )
        if verdict == Verdict.WORSE:
            return (
                f"{b} beats {a} in every space ({self.agreement_sentence()}; precision and recall not higher anywhere)"
            )
        if verdict == Verdict.LEVEL:
            return f"{a} and {b} are level in every space"
        if verdict in (Verdict.TRADES_FIDELITY_FOR_DIVERSITY, Verdict.TRADES_DIVERSITY_FOR_FIDELITY):
            moved = "; ".join(
                f"{s.space}: precision {s.precision}, recall {s.recall}"
                for s in self.spaces
                if s.precision.sign or s.recall.sign
            )
            return f"{a} {verdict.value} against {b} ({moved}; {self.agreement_sentence()})"
        parts = [
            f"{name} better FD in {', '.join(spaces)}"
            for name, spaces in ((a, self.spaces_where(Verdict.BETTER)), (b, self.spaces_where(Verdict.WORSE)))
            if spaces
        ]
        level = self.spaces_where(Verdict.LEVEL)
        if level:
            parts.append(f"FD level in {', '.join(level)}")
        if all(s.kid is not None for s in self.spaces):  # where KID does not side with A
            for word, sign in (("higher", 1), ("level", 0)):
                spaces = [s.space for s in self.spaces if s.kid.sign == sign]
                if spaces:
                    parts.append(f"{a}'s KID {word} in {', '.join(spaces)}")
        moved = [
            f"{s.space} {name} {d}"
            for s in self.spaces
            for name, d in (("precision", s.precision), ("recall", s.recall))
            if d.sign
        ]
        if moved:
            parts.append(f"{a} - {b}: " + ", ".join(moved))
        parts.append(self.agreement_sentence())
        return f"mixed: {'; '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "verdict": self.verdict.value,
            "sentence": self.sentence(),
            "agreement": self.agreement(),
            "spaces": [
                {
                    "space": s.space,
                    "verdict": s.verdict.value,
                    **{m: asdict(getattr(s, m)) for m in ("fd", "kid", "precision", "recall") if getattr(s, m)},
                }
                for s in self.spaces
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        return cls(
            data["a"],
            data["b"],
            tuple(
                SpaceComparison(
                    s["space"],
                    *(Interval(**s[m]) for m in ("fd", "precision", "recall")),
                    Interval(**s["kid"]) if "kid" in s else None,
                )
                for s in data["spaces"]
            ),
        )


def compare_features(
    evaluator: Evaluator,
    a: dict[str, torch.Tensor],
    b: dict[str, torch.Tensor],
    name_a: str,
    name_b: str,
    sets: int = 1,
) -> Comparison:
    """A against B from their features in every space of ``evaluator`` (row i of A and B a pair).

    The rows are ``sets`` runs of equal size (one per noise seed), in order: precision and recall
    are paired set by set within each run, so no set of equal size mixes two seeds.
    """
    spaces = []
    for space in evaluator.spaces:
        reference, radii = evaluator.reference_features_in(space), evaluator.reference_radii_in(space)
        scaled = evaluator.kid_scale_in(space) * reference
        fd = paired_fd_interval(reference, a[space], b[space])
        chunks = []
        for run_a, run_b in zip(a[space].chunk(sets), b[space].chunk(sets)):
            pairs = zip(
                chunk_precision_recall(reference, run_a, real_radii=radii),
                chunk_precision_recall(reference, run_b, real_radii=radii),
                chunk_kid(scaled, evaluator.kid_scale_in(space) * run_a.double()),
                chunk_kid(scaled, evaluator.kid_scale_in(space) * run_b.double()),
            )
            chunks += [(pa - pb, ra - rb, ka - kb) for (pa, ra), (pb, rb), ka, kb in pairs]
        spaces.append(
            SpaceComparison(
                space,
                fd,
                t_interval([c[0] for c in chunks]),
                t_interval([c[1] for c in chunks]),
                t_interval([c[2] for c in chunks]),
            )
        )
    return Comparison(name_a, name_b, tuple(spaces))


def compare_images(
    evaluator: Evaluator,
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    name_a: str = "A",
    name_b: str = "B",
    sets: int = 1,
) -> Comparison:
    """:func:`compare_features` from paired images (image i of A and of B share label and noise)."""
    if images_a.shape != images_b.shape:
        raise ValueError(f"paired sets must have one shape, got {tuple(images_a.shape)} and {tuple(images_b.shape)}")
    return compare_features(
        evaluator, evaluator.all_features(images_a), evaluator.all_features(images_b), name_a, name_b, sets
    )
