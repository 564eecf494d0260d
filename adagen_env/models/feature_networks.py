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
from adagen_env.models.encoder import DigitAutoencoder, EncoderConfig, load_encoder
from adagen_env.models.mlp_classifier import MLPClassifier, MLPClassifierConfig

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class FeatureNetwork:
    """One learned feature space: how to build its network from a plain config and load the shipped one."""

    architecture: str
    objective: str
    needs_labels: bool
    weights: Path
    build: Callable[[dict], nn.Module]
    config: Callable[[nn.Module], dict]

    def load_shipped(self, device: str | torch.device = "cpu") -> nn.Module:
        """The shipped network (8x8 grey digits), frozen and in eval mode."""
        if self.weights.name == "classifier.pt":
            return load_classifier(device)
        if self.weights.name == "encoder.pt":
            return load_encoder(device, str(self.weights))
        model = load_frozen(lambda config: self.build(asdict(config)), _CONFIGS[self.weights.name], str(self.weights))
        return model.to(device)


def _dataclass_network(model_class: type[nn.Module], config_class: type) -> dict:
    return dict(build=lambda config: model_class(config_class(**config)), config=lambda model: asdict(model.config))


_CONFIGS = {
    "mlp_classifier.pt": MLPClassifierConfig,
    "conv_autoencoder.pt": ConvAutoencoderConfig,
    "contrastive.pt": ContrastiveConfig,
}

NETWORKS: dict[str, FeatureNetwork] = {
    "classifier": FeatureNetwork(
        "CNN",
        "classification",
        True,
        WEIGHTS / "classifier.pt",
        build=lambda config: DigitClassifier(**config),
        config=lambda model: {"num_classes": model.num_classes, "channels": model.channels},
    ),
    "encoder": FeatureNetwork(
        "MLP",
        "denoising reconstruction",
        False,
        WEIGHTS / "encoder.pt",
        **_dataclass_network(DigitAutoencoder, EncoderConfig),
    ),
    "mlp_classifier": FeatureNetwork(
        "MLP",
        "classification",
        True,
        WEIGHTS / "mlp_classifier.pt",
        **_dataclass_network(MLPClassifier, MLPClassifierConfig),
    ),
    "conv_autoencoder": FeatureNetwork(
        "CNN",
        "reconstruction",
        False,
        WEIGHTS / "conv_autoencoder.pt",
        **_dataclass_network(ConvAutoencoder, ConvAutoencoderConfig),
    ),
    "contrastive": FeatureNetwork(
        "CNN",
        "contrastive (SimCLR)",
        False,
        WEIGHTS / "contrastive.pt",
        **_dataclass_network(ContrastiveEncoder, ContrastiveConfig),
    ),
}
