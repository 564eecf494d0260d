"""Reproduce the evaluation's feature networks beyond the CNN classifier and the MLP autoencoder.

Run ``python -m adagen_env.training.train_feature_networks`` (a few minutes on one CPU core): it
trains, on the digits' train split only, the MLP classifier, the convolutional autoencoder and
the contrastive encoder, reports what each learnt on the held-out split, and writes their
weights to ``adagen_env/weights``. The functions train the same networks on any images, for
``adagen features``. Each network has its own seed, architecture and objective: the point of an
ensemble is that no two share a blind spot.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.models.checkpoints import save_model
from adagen_env.models.contrastive import ContrastiveConfig, ContrastiveEncoder
from adagen_env.models.conv_autoencoder import ConvAutoencoder, ConvAutoencoderConfig
from adagen_env.models.feature_networks import NETWORKS
from adagen_env.models.mlp_classifier import MLPClassifier, MLPClassifierConfig
from adagen_env.training.loop import fit
from adagen_env.training.train_classifier import accuracy, fit_classifier, random_shift

MLP_EPOCHS = 60
AUTOENCODER_STEPS = 3000
CONTRASTIVE_STEPS = 3000
BATCH_SIZE = 128
CONTRASTIVE_BATCH = 256
TEMPERATURE = 0.2  # NT-Xent temperature (SimCLR's range for small batches)
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
# every network its own seed, so that no two of them share an initialisation or batch order
SEEDS = {"mlp_classifier": 1, "conv_autoencoder": 2, "contrastive": 3}


def train_mlp_classifier(train: ImageDataset, epochs: int = MLP_EPOCHS, seed: int = SEEDS["mlp_classifier"]):
    """The MLP classifier of ``train``'s classes (any size, grey or RGB), in eval mode."""
    config = MLPClassifierConfig(num_pixels=train.to_float()[0].numel(), num_classes=train.num_classes)
    return fit_classifier(lambda: MLPClassifier(config), train, epochs, seed, log=False)


def train_conv_autoencoder(
    train: ImageDataset, steps: int = AUTOENCODER_STEPS, seed: int = SEEDS["conv_autoencoder"]
) -> ConvAutoencoder:
    """The convolutional autoencoder of ``train``'s images (even sizes), in eval mode; shows a progress bar."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = train.to_float()
    model = ConvAutoencoder(ConvAutoencoderConfig(channels=train.channels, height=x.shape[2], width=x.shape[3]))

    def batch_loss() -> torch.Tensor:
        batch = x[torch.randint(len(x), (BATCH_SIZE,), generator=generator)]
        return F.binary_cross_entropy_with_logits(model(batch), batch)

    model.train()
    fit(model, batch_loss, steps, LEARNING_RATE, WEIGHT_DECAY, max(1, min(100, steps // 10)), desc="conv autoencoder")
    return model.eval()


def contrastive_view(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random view of each image: a shift, a contrast and brightness change, noise, an erased patch."""
    n, _, h, w = x.shape
    x = random_shift(x, generator)
    contrast = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=generator)
    brightness = 0.2 * (torch.rand(n, 1, 1, 1, generator=generator) - 0.5)
    x = (x - 0.5) * contrast + 0.5 + brightness + 0.05 * torch.randn(x.shape, generator=generator)
    size = max(1, h // 4), max(1, w // 4)
    top = torch.randint(0, h - size[0] + 1, (n,), generator=generator)
    left = torch.randint(0, w - size[1] + 1, (n,), generator=generator)
    rows, cols = torch.arange(h), torch.arange(w)
    inside_rows = (rows >= top[:, None]) & (rows < top[:, None] + size[0])
    inside_cols = (cols >= left[:, None]) & (cols < left[:, None] + size[1])
    erase = (inside_rows[:, :, None] & inside_cols[:, None, :])[:, None]
    erase &= torch.rand(n, 1, 1, 1, generator=generator) < 0.5  # half the views keep every pixel
    return x.masked_fill(erase, 0.0).clamp(0, 1)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner out of the other 2N - 2 views."""
    z = F.normalize(torch.cat([a, b]), dim=1)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    n = len(a)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(similarity, partner)


def train_contrastive(
    train: ImageDataset, steps: int = CONTRASTIVE_STEPS, seed: int = SEEDS["contrastive"]
) -> ContrastiveEncoder:
    """The contrastive encoder of ``train``'s images (no labels used), in eval mode; shows a progress bar."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = train.to_float()
    model = ContrastiveEncoder(ContrastiveConfig(channels=train.channels))
    batch_size = min(CONTRASTIVE_BATCH, len(x))

    def batch_loss() -> torch.Tensor:
        batch = x[torch.randperm(len(x), generator=generator)[:batch_size]]
        return nt_xent(model(contrastive_view(batch, generator)), model(contrastive_view(batch, generator)))

    model.train()
    fit(model, batch_loss, steps, LEARNING_RATE, WEIGHT_DECAY, max(1, min(100, steps // 10)), desc="contrastive")
    return model.eval()


@torch.no_grad()
def nearest_neighbour_accuracy(model: torch.nn.Module, train: ImageDataset, test: ImageDataset) -> float:
    """Share of ``test`` images whose nearest ``train`` image in feature space has their class:
    how much class structure a label-free network's features hold."""
    a, b = model.features(train.to_float()), model.features(test.to_float())
    nearest = torch.cdist(b, a).argmin(dim=1)
    return (train.label_tensor()[nearest] == test.label_tensor()).double().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every training length (tests: 0.01)")
    parser.add_argument("--out-dir", default=str(NETWORKS["contrastive"].weights.parent))
    args = parser.parse_args()
    torch.set_num_threads(1)  # deterministic, and fastest for networks this small
    train, heldout = load_digits("train"), load_digits("heldout")
    scaled = lambda n: max(1, round(n * args.scale))  # noqa: E731
    runs = {
        "mlp_classifier": lambda: train_mlp_classifier(train, scaled(MLP_EPOCHS)),
        "conv_autoencoder": lambda: train_conv_autoencoder(train, scaled(AUTOENCODER_STEPS)),
        "contrastive": lambda: train_contrastive(train, scaled(CONTRASTIVE_STEPS)),
    }
    for name, run in runs.items():
        start = time.time()
        model = run()
        seconds = time.time() - start
        if name == "mlp_classifier":
            score = f"held-out accuracy {accuracy(model, heldout.to_float(), heldout.label_tensor()):.4f}"
        else:
            score = (
                f"held-out 1-NN class accuracy of its features {nearest_neighbour_accuracy(model, train, heldout):.4f}"
            )
        out = Path(args.out_dir) / NETWORKS[name].weights.name
        save_model(model, out)
        print(f"{name}: {score}; wrote {out} ({out.stat().st_size / 1024:.0f} KiB) in {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
