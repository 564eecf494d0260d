"""Reproduce ``adagen_env/weights/maskgit_digits.pt``: train the tiny MaskGIT on the train split.

Run ``python -m adagen_env.training.train_maskgit`` (about 10 minutes on 2 CPU cores).
Masked-token training as in MaskGIT: mask a cosine-distributed fraction of the 64 tokens,
predict the masked ones; the class is dropped to the null class with probability
``CLASS_DROPOUT`` so that classifier-free guidance has an unconditional model to use.
"""

import argparse
import math
import time

import torch
import torch.nn.functional as F

from adagen_env.data.datasets import load_digits
from adagen_env.models.checkpoints import save_model
from adagen_env.models.maskgit import WEIGHTS_PATH, MaskGITConfig, MaskGITTransformer
from adagen_env.training.loop import fit

SEED = 0
STEPS = 6000
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.01
WARMUP_STEPS = 200
CLASS_DROPOUT = 0.1


def mask_tokens(tokens: torch.Tensor, mask_token: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask ceil(64 * cos(pi/2 * u)) random positions per sample, u ~ U(0, 1)."""
    b, n = tokens.shape
    ratio = torch.cos(math.pi / 2 * torch.rand(b, generator=generator))
    num_masked = torch.clamp(torch.ceil(ratio * n), 1, n)
    ranks = torch.rand(b, n, generator=generator).argsort(dim=1).argsort(dim=1)
    masked = ranks < num_masked[:, None]
    return torch.where(masked, mask_token, tokens), masked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", default=str(WEIGHTS_PATH))
    args = parser.parse_args()

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    data = load_digits("train")
    tokens, labels = data.tokens(), data.label_tensor()
    config = MaskGITConfig(num_classes=data.num_classes, vocab_size=data.levels)
    model = MaskGITTransformer(config)

    def batch_loss() -> torch.Tensor:
        idx = torch.randint(len(tokens), (BATCH_SIZE,), generator=generator)
        x, y = tokens[idx], labels[idx]
        y = torch.where(torch.rand(BATCH_SIZE, generator=generator) < CLASS_DROPOUT, config.null_class, y)
        inputs, masked = mask_tokens(x, config.mask_token, generator)
        logits, _ = model(inputs, y)
        return F.cross_entropy(logits[masked], x[masked])

    start = time.time()
    fit(model, batch_loss, args.steps, LEARNING_RATE, WEIGHT_DECAY, WARMUP_STEPS, desc="maskgit")
    model.eval()
    save_model(model, args.out)
    print(f"wrote {args.out} after {args.steps} steps in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
