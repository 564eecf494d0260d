"""Reproduce ``adagen_env/weights/{diffusion,flow}_digits.pt``: train a tiny denoiser on the train split.

Run ``python -m adagen_env.training.train_denoiser --paradigm diffusion`` (or ``flow``).
Diffusion: predict the noise of a VP-noised image, t ~ U(T_MIN, 1). Rectified flow: predict
the velocity ``x_1 - noise`` on the straight path, t ~ U(0, 1). The class is dropped to the
null class with probability ``CLASS_DROPOUT`` so that classifier-free guidance has an
unconditional model to use. The shipped weights are an exponential moving average.
"""
import argparse
import copy
import time

import torch
import torch.nn.functional as F

from adagen_env.datasets import load_digits
from adagen_env.models.checkpoints import save_model
from adagen_env.models.denoiser import Denoiser, DenoiserConfig, weights_path
from adagen_env.processes import diffusion, flow
from adagen_env.training.loop import fit

SEED = 0
STEPS = 20_000
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.01
WARMUP_STEPS = 500
CLASS_DROPOUT = 0.1
EMA_DECAY = 0.999
T_MIN = 1e-3  # diffusion's smallest training time (its sampler stops at 0.01)
PARADIGMS = {"diffusion": "diffusion_digits", "flow": "flow_digits"}


def training_pair(paradigm: str, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clean images (B, 64) in [-1, 1] -> model input, time, target."""
    noise = torch.randn(x.shape, generator=generator)
    u = torch.rand(len(x), generator=generator)
    if paradigm == "diffusion":
        t = T_MIN + (1 - T_MIN) * u
        return diffusion.noised(x, noise, t), t, noise
    return flow.noised(x, noise, u), u, x - noise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paradigm", choices=sorted(PARADIGMS), required=True)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", default=None, help="default: the shipped weights file of the paradigm")
    args = parser.parse_args()
    out = args.out or weights_path(PARADIGMS[args.paradigm])

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    data = load_digits("train")
    images, labels = data.to_float().flatten(1) * 2 - 1, data.label_tensor()
    config = DenoiserConfig(num_pixels=images.shape[1], num_classes=data.num_classes)
    model = Denoiser(config)
    ema = copy.deepcopy(model).requires_grad_(False)

    def batch_loss() -> torch.Tensor:
        idx = torch.randint(len(images), (BATCH_SIZE,), generator=generator)
        y = torch.where(torch.rand(BATCH_SIZE, generator=generator) < CLASS_DROPOUT, config.null_class, labels[idx])
        inputs, t, target = training_pair(args.paradigm, images[idx], generator)
        prediction, _ = model(inputs, t, y)
        return F.mse_loss(prediction, target)

    start = time.time()
    fit(model, batch_loss, args.steps, LEARNING_RATE, WEIGHT_DECAY, WARMUP_STEPS, args.paradigm, ema, EMA_DECAY)
    ema.eval()
    save_model(ema, out)
    print(f"wrote {out} after {args.steps} steps in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
