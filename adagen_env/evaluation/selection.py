"""The selection space: what searches, picks and ship decisions may look at, kept apart from the evaluation.

The space is the selection network's (:mod:`adagen_env.models.selection`), which is not among the
evaluation's ``SPACES`` and is used by no reward. :class:`SelectionEvaluator` scores FD alone there
(``selection_fd`` and ``n``, nothing an evaluation space reports), as cheaply as a search needs;
:class:`ChoiceEvaluator` is an :class:`~adagen_env.evaluation.metrics.Evaluator` with every metric
there, for decisions that compare candidates by FD, precision and recall. Both default to the
digits' *train* split as their reference, so a choice made with them sees neither the evaluation's
networks nor its held-out reference images."""

from __future__ import annotations

import torch
from torch import nn

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.evaluation.metrics import SPACES, Evaluator, frechet_distance
from adagen_env.models.selection import SELECTION_SPACE, load_selection_network

assert SELECTION_SPACE not in SPACES  # the point of the selection space


class ChoiceEvaluator(Evaluator):
    """Every metric (FD, KID, precision, recall) in the selection space alone, against ``reference``
    (default: the train split): what a decision made on tuning seeds compares candidates with
    (``run_experiment``, ``benchmarks.ship_decision``), the evaluation's networks and held-out images
    unseen. ``network`` replaces the shipped selection network."""

    allowed_spaces = (SELECTION_SPACE,)

    def __init__(
        self,
        reference: ImageDataset | None = None,
        device: str | torch.device = "cpu",
        network: nn.Module | None = None,
    ) -> None:
        super().__init__(
            reference=load_digits("train") if reference is None else reference,
            device=device,
            spaces=(SELECTION_SPACE,),
            networks=None if network is None else {SELECTION_SPACE: network},
        )

    def _shipped(self, space: str) -> nn.Module:
        return load_selection_network(self.device)


class SelectionEvaluator:
    """FD alone in the selection space against ``reference`` (default: the train split), on ``device``:
    what a search queries, cheaply. ``network`` replaces the shipped selection network (any module
    with ``features``)."""

    spaces = (SELECTION_SPACE,)

    def __init__(
        self,
        reference: ImageDataset | None = None,
        device: str | torch.device = "cpu",
        network: nn.Module | None = None,
    ) -> None:
        self._evaluator = ChoiceEvaluator(reference, device, network)
        self.device, self.reference = self._evaluator.device, self._evaluator.reference
        self.reference_features = self._evaluator.reference_features_in(SELECTION_SPACE)

    def space_features(self, images: torch.Tensor, space: str = SELECTION_SPACE) -> torch.Tensor:
        if space != SELECTION_SPACE:
            raise ValueError(f"a SelectionEvaluator scores in {SELECTION_SPACE!r} only, not {space!r}")
        return self._evaluator.space_features(images, space)

    def all_features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {SELECTION_SPACE: self.space_features(images)}

    def evaluate_features(
        self, features: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> dict[str, float]:
        feats = features[SELECTION_SPACE]
        return {f"{SELECTION_SPACE}_fd": frechet_distance(self.reference_features, feats), "n": float(len(feats))}

    def evaluate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
        """``selection_fd`` of ``images`` against the reference, and ``n``."""
        return self.evaluate_features(self.all_features(images), labels)
