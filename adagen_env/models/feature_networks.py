"""The evaluation's learned feature spaces: five independently trained networks, by space name.

One network can be gamed or blind to a flaw, and two of one architecture differing only in seed
already disagree on verdicts, so the evaluation scores in an ensemble that differs in both
architecture and objective: a CNN classifier and an MLP classifier (supervised), an MLP denoising
autoencoder and a convolutional autoencoder (reconstruction, no labels), and a contrastive
encoder (SimCLR-style, neither labels nor reconstruction). All are trained on the digits' train
split only, with different seeds; ``python -m adagen_env.training.train_classifier``,
``...train_encoder`` and ``...train_feature_networks`` reproduce the shipped weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from adagen_env.models.checkpoints import load_frozen
from adagen_env.models.classifier import DigitClassifier, load_classifier
from adagen_env.models.contrastive import ContrastiveConfig, ContrastiveEncoder
from adagen_env.models.conv_autoencoder import ConvAutoencoder, ConvAutoencoderConfig
from adagen_env.models.encoder import DigitAutoencoder, EncoderConfig
from adagen_env.models.mlp_classifier import MLPClassifier, MLPClassifierConfig

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class FeatureNetwork:
    """One learned feature space: how to build its network from a plain config, and load the shipped one."""

    architecture: str
    objective: str
    needs_labels: bool
    weights: Path
    build: Callable[[dict], nn.Module]
    config: Callable[[nn.Module], dict]
    load: Callable[[str | torch.device], nn.Module]  # the shipped network (8x8 grey digits), frozen, in eval mode

    def load_shipped(self, device: str | torch.device = "cpu") -> nn.Module:
        """The shipped network (8x8 grey digits), frozen and in eval mode."""
        return self.load(device)


def _dataclass_network(model_class: type[nn.Module], config_class: type, weights: Path) -> dict:
    """build, config and load of a network whose constructor takes one config dataclass."""
    return dict(
        weights=weights,
        build=lambda config: model_class(config_class(**config)),
        config=lambda model: asdict(model.config),
        load=lambda device: load_frozen(model_class, config_class, str(weights), device),
    )


NETWORKS: dict[str, FeatureNetwork] = {
    "classifier": FeatureNetwork(
        "CNN",
        "classification",
        True,
        WEIGHTS / "classifier.pt",
        build=lambda config: DigitClassifier(**config),
        config=lambda model: {"num_classes": model.num_classes, "channels": model.channels},
        load=load_classifier,
    ),
    "encoder": FeatureNetwork(
        "MLP",
        "denoising reconstruction",
        False,
        **_dataclass_network(DigitAutoencoder, EncoderConfig, WEIGHTS / "encoder.pt"),
    ),
    "mlp_classifier": FeatureNetwork(
        "MLP",
        "classification",
        True,
        **_dataclass_network(MLPClassifier, MLPClassifierConfig, WEIGHTS / "mlp_classifier.pt"),
    ),
    "conv_autoencoder": FeatureNetwork(
        "CNN",
        "reconstruction",
        False,
        **_dataclass_network(ConvAutoencoder, ConvAutoencoderConfig, WEIGHTS / "conv_autoencoder.pt"),
    ),
    "contrastive": FeatureNetwork(
        "CNN",
        "contrastive (SimCLR)",
        False,
        **_dataclass_network(ContrastiveEncoder, ContrastiveConfig, WEIGHTS / "contrastive.pt"),
    ),
}
