"""Reproduce ``adagen_env/weights/encoder.pt``: train the denoising autoencoder on the train split.

Run ``python -m adagen_env.training.train_encoder`` (well under a minute on one CPU core).
The objective is reconstruction of the clean image from one with a random ``MASK_RATE`` of its
pixels zeroed; it uses neither labels nor the classifier, so the bottleneck is a feature space
independent of the classifier's. Only the train split is seen; held-out error is reported.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.models.checkpoints import save_model
from adagen_env.models.encoder import WEIGHTS_PATH, DigitAutoencoder, EncoderConfig
from adagen_env.training.loop import fit

SEED = 0
STEPS = 4000
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
WARMUP_STEPS = 100
MASK_RATE = 0.2  # masking, not additive noise: the features must stay sensitive to stray pixels


@torch.no_grad()
def reconstruction_error(model: DigitAutoencoder, x: torch.Tensor) -> float:
    """Mean squared error of clean-input reconstructions, in grey-level units of [0, 1]."""
    model.eval()
    return F.mse_loss(torch.sigmoid(model(x)), x).item()


def train_encoder(train: ImageDataset, steps: int = STEPS, seed: int = SEED) -> DigitAutoencoder:
    """The denoising autoencoder on ``train``'s images (any size, grey or RGB), in eval mode; shows a progress bar."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = train.to_float()
    model = DigitAutoencoder(EncoderConfig(num_pixels=x[0].numel()))

    def batch_loss() -> torch.Tensor:
        batch = x[torch.randint(len(x), (BATCH_SIZE,), generator=generator)]
        kept = torch.rand(batch.shape, generator=generator) >= MASK_RATE
        return F.binary_cross_entropy_with_logits(model(batch * kept), batch)

    model.train()
    fit(model, batch_loss, steps, LEARNING_RATE, WEIGHT_DECAY, min(WARMUP_STEPS, max(1, steps // 10)), desc="encoder")
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", default=str(WEIGHTS_PATH))
    args = parser.parse_args()

    torch.set_num_threads(1)  # deterministic and fastest for a model this small
    train, heldout = load_digits("train"), load_digits("heldout")
    start = time.time()
    model = train_encoder(train, args.steps)
    seconds = time.time() - start
    x = train.to_float()
    print(
        f"reconstruction MSE: train {reconstruction_error(model, x):.4f}, "
        f"held-out {reconstruction_error(model, heldout.to_float()):.4f} "
        f"(mean-image baseline {F.mse_loss(x.mean(0).expand_as(heldout.to_float()), heldout.to_float()).item():.4f})"
    )
    save_model(model, args.out)
    size_kib = Path(args.out).stat().st_size / 1024
    print(f"wrote {args.out} ({size_kib:.0f} KiB) after {args.steps} steps in {seconds:.0f} s")


if __name__ == "__main__":
    main()
