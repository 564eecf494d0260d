"""Reproduce ``adagen_env/weights/var_digits.pt``: train the tiny next-scale transformer on the train split.

Run ``python -m adagen_env.training.train_var``. Teacher forcing as in VAR: one forward pass
predicts every scale's token map from the true coarser maps, cross-entropy over all tokens;
the class is dropped to the null class with probability ``CLASS_DROPOUT`` so that
classifier-free guidance has an unconditional model to use.
"""

import argparse
import time

import torch
import torch.nn.functional as F

from adagen_env.data.datasets import load_digits
from adagen_env.models.checkpoints import save_model
from adagen_env.models.var import WEIGHTS_PATH, NextScaleTransformer, VARConfig, token_pyramid
from adagen_env.training.loop import fit

SEED = 0
STEPS = 4000
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.01
WARMUP_STEPS = 200
CLASS_DROPOUT = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", default=str(WEIGHTS_PATH))
    args = parser.parse_args()

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    data = load_digits("train")
    config = VARConfig(num_classes=data.num_classes, vocab_size=data.levels)
    pyramid = token_pyramid(data.to_float(), config.scales, data.levels)
    labels = data.label_tensor()
    model = NextScaleTransformer(config)

    def batch_loss() -> torch.Tensor:
        idx = torch.randint(len(labels), (BATCH_SIZE,), generator=generator)
        y = torch.where(torch.rand(BATCH_SIZE, generator=generator) < CLASS_DROPOUT, config.null_class, labels[idx])
        maps = [m[idx] for m in pyramid]
        logits, _ = model(maps[:-1], y)
        return F.cross_entropy(logits.flatten(0, 1), torch.cat(maps, dim=1).flatten())

    start = time.time()
    fit(model, batch_loss, args.steps, LEARNING_RATE, WEIGHT_DECAY, WARMUP_STEPS, desc="var")
    model.eval()
    save_model(model, args.out)
    print(f"wrote {args.out} after {args.steps} steps in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
