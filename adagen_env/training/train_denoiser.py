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
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.models.checkpoints import save_model
from adagen_env.models.denoiser import Denoiser, DenoiserConfig, weights_path
from adagen_env.processes import diffusion, flow
from adagen_env.runtime.signals import StopRequest
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


def training_pair(
    paradigm: str, x: torch.Tensor, generator: torch.Generator, target: str = "native"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clean images (B, num_pixels) in [-1, 1] -> model input, time, target (``"clean"``: the images themselves)."""
    noise = torch.randn(x.shape, generator=generator)
    u = torch.rand(len(x), generator=generator)
    if paradigm == "diffusion":
        t = T_MIN + (1 - T_MIN) * u
        return diffusion.noised(x, noise, t), t, x if target == "clean" else noise
    return flow.noised(x, noise, u), u, x if target == "clean" else x - noise


def train_denoiser(
    paradigm: str,
    data: ImageDataset,
    steps: int = STEPS,
    seed: int = SEED,
    batch_size: int = BATCH_SIZE,
    device: str | torch.device = "cpu",
    target: str = "native",
    resume: dict[str, Any] | None = None,
    on_checkpoint: Callable[[Denoiser, dict[str, Any]], None] | None = None,
    checkpoint_every: int = 0,
) -> Denoiser:
    """A denoiser for ``paradigm`` ("diffusion" or "flow") trained on ``data`` (any size, grey or RGB):
    the exponential moving average of its weights, frozen. Shows a progress bar.

    Every ``checkpoint_every`` steps (0: never), and when Ctrl-C or SIGTERM stops the run (between
    two steps; the ``KeyboardInterrupt`` is raised again after), ``on_checkpoint(ema, training)``
    gets the average so far and the state the run resumes from exactly (``resume=training``).
    """
    if paradigm not in PARADIGMS:
        raise ValueError(f"paradigm must be one of {sorted(PARADIGMS)}, not {paradigm!r}")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    images, labels = data.to_float().flatten(1) * 2 - 1, data.label_tensor()
    config = DenoiserConfig(image_shape=(data.channels, *data.image_shape), num_classes=data.num_classes, target=target)
    model = Denoiser(config)
    ema = copy.deepcopy(model).requires_grad_(False)
    if resume is not None:
        model.load_state_dict(resume["model"])
        ema.load_state_dict(resume["ema"])
        generator.set_state(resume["generator"])
    model.to(device), ema.to(device)

    def batch_loss() -> torch.Tensor:
        idx = torch.randint(len(images), (batch_size,), generator=generator)
        y = torch.where(torch.rand(batch_size, generator=generator) < CLASS_DROPOUT, config.null_class, labels[idx])
        inputs, t, wanted = training_pair(paradigm, images[idx], generator, target)
        prediction, _ = model(inputs.to(device), t.to(device), y.to(device))
        return F.mse_loss(prediction, wanted.to(device))

    latest: dict[str, Callable[[], dict[str, Any]]] = {}

    def checkpoint() -> None:
        training = {
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "generator": generator.get_state(),
            "fit": latest["state"](),
            "steps": steps,
            "seed": seed,
            "batch_size": batch_size,
        }
        on_checkpoint(copy.deepcopy(ema).eval().cpu(), training)

    def on_step(step: int, state: Callable[[], dict[str, Any]]) -> None:
        latest["state"] = state
        if on_checkpoint is not None and checkpoint_every and step % checkpoint_every == 0 and step < steps:
            checkpoint()

    # short runs average over their last tenth or so (1 - 10 / steps), long ones as the shipped weights
    ema_decay = min(EMA_DECAY, max(0.0, 1 - 10 / steps))
    warmup = min(WARMUP_STEPS, max(1, steps // 10))
    with StopRequest() as stop:
        try:
            fit(
                model,
                batch_loss,
                steps,
                LEARNING_RATE,
                WEIGHT_DECAY,
                warmup,
                paradigm,
                ema,
                ema_decay,
                resume=None if resume is None else resume["fit"],
                on_step=on_step,
                stop=stop,
            )
        except KeyboardInterrupt:
            if on_checkpoint is not None and "state" in latest:
                checkpoint()
            raise
    return ema.eval().cpu()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paradigm", choices=sorted(PARADIGMS), required=True)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", default=None, help="default: the shipped weights file of the paradigm")
    args = parser.parse_args()
    out = args.out or weights_path(PARADIGMS[args.paradigm])
    start = time.time()
    model = train_denoiser(args.paradigm, load_digits("train"), args.steps)
    save_model(model, out, {"paradigm": args.paradigm})
    print(f"wrote {out} after {args.steps} steps in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
