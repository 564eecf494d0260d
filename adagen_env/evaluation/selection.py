"""FD in the selection space: what searches and picks may look at, kept apart from the evaluation.

:class:`SelectionEvaluator` scores images as :class:`~adagen_env.evaluation.metrics.Evaluator` does
(``evaluate_generator`` takes either), in one space only, ``"selection"``
(:mod:`adagen_env.models.selection`), which is not among the evaluation's ``SPACES``: it returns
``selection_fd`` (and ``n``), nothing an evaluation space reports. Its reference defaults to the
digits' *train* split, so a choice made with it sees neither the evaluation's networks nor its
held-out reference images.
"""

from __future__ import annotations

import torch
from torch import nn

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.evaluation.metrics import SPACES, frechet_distance
from adagen_env.models.selection import SELECTION_SPACE, load_selection_network

assert SELECTION_SPACE not in SPACES  # the point of the selection space

_BATCH_SIZE = 1024


class SelectionEvaluator:
    """FD in the selection space against ``reference`` (default: the train split), on ``device``.
    ``network`` replaces the shipped selection network (any module with ``features``)."""

    spaces = (SELECTION_SPACE,)

    def __init__(
        self,
        reference: ImageDataset | None = None,
        device: str | torch.device = "cpu",
        network: nn.Module | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.reference = load_digits("train") if reference is None else reference
        self.network = load_selection_network(self.device) if network is None else network
        self.reference_features = self.space_features(self.reference.to_float(), SELECTION_SPACE).double()

    def space_features(self, images: torch.Tensor, space: str = SELECTION_SPACE) -> torch.Tensor:
        if space != SELECTION_SPACE:
            raise ValueError(f"a SelectionEvaluator scores in {SELECTION_SPACE!r} only, not {space!r}")
        if images.ndim != 4 or len(images) == 0 or not images.is_floating_point():
            raise ValueError(f"expected float images (N, C, H, W) with N >= 1, got {tuple(images.shape)}")
        with torch.inference_mode():
            return torch.cat([self.network.features(b.float().to(self.device)) for b in images.split(_BATCH_SIZE)])

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
