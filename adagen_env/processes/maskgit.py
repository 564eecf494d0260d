"""MaskGIT as a process: iterative parallel decoding of masked tokens, every sample with its own parameters.

One step (docs/method.md): guided logits = cond + w * (cond - uncond); sample every masked token
at the sampling temperature; confidence = log-prob of the sampled token + re-mask temperature
x Gumbel noise; tokens revealed earlier are never masked again; the ``floor(N * ratio)``
least confident new tokens are masked again. The last step reveals everything.

``reset`` and ``step`` run the conditional forward pass of the new tokens and keep it in the
state: it gives both the policy's features and the next step's conditional logits, so
``features`` and ``observation`` only read the state. It also keeps the log-prob each token was
sampled with: ``refine`` (:mod:`adagen_env.processes.refinement`) re-masks the lowest of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from adagen_env.models.checkpoints import frozen_copy
from adagen_env.models.maskgit import MaskGITTransformer, load_maskgit
from adagen_env.processes.base import ForwardOnDemand, gumbel, layer_norm_bound, to_rgb
from adagen_env.processes.refinement import Refinement
from adagen_env.processes.schedules import StepParameter, by_name
from adagen_env.processes.solvers import guided

GUIDANCE_SCALE = 2.0  # the end point of the hand-designed guidance ramp w * t / T
MASK_CURVES = {
    "cosine": lambda f: torch.cos(math.pi / 2 * f),
    "linear": lambda f: 1 - f,
    "square": lambda f: 1 - f**2,
    "sqrt": lambda f: 1 - f.sqrt(),
}
MASK_COLOUR = (200, 40, 40)  # masked positions in renders
# Named members of the static family, for `adagen eval --schedule NAME`.
NAMED_SCHEDULES = {
    "hand-designed": {},
    "linear-mask": {"mask_curve": "linear"},
    "square-mask": {"mask_curve": "square"},
    "greedy-remask": {"remask_temperature": 0.0},
    "no-guidance": {"guidance": 0.0},
    "cool-sampling": {"temperature": 0.7},
}


@dataclass
class MaskGITState:
    tokens: torch.Tensor  # (B, N) long, mask_token where still masked
    labels: torch.Tensor  # (B,) long
    step: int = 0  # steps taken
    cond_logits: torch.Tensor | None = None  # (B, N, V) of the current tokens, set by reset/step
    hidden: torch.Tensor | None = None  # (B, N, width) of the current tokens
    confidence: torch.Tensor | None = None  # (B, N) log-prob each revealed token was sampled with (refinement reads it)


class MaskGITProcess(ForwardOnDemand):
    named_schedules = NAMED_SCHEDULES
    refinement_fraction = 0.125  # share of tokens a Refinement re-masks by default (tuned: benchmarks/refinement.py)
    parameters = (
        StepParameter("mask_ratio", "sigmoid", action_scale=2.0, floor=1e-4),
        StepParameter("remask_temperature", "softplus", action_scale=2.0),
        StepParameter("temperature", "softplus", action_scale=1.0),  # sampling temperature
        StepParameter("guidance", "softplus", action_scale=2.0),
    )

    def __init__(
        self,
        model: MaskGITTransformer | None = None,
        device: str | torch.device = "cpu",
        guidance_scale: float = GUIDANCE_SCALE,
    ):
        self.device = torch.device(device)
        self.model = frozen_copy(model, self.device) if model is not None else load_maskgit(str(self.device))
        config = self.model.config
        self.num_tokens, self.vocab_size, self.mask_token = config.num_tokens, config.vocab_size, config.mask_token
        self.num_classes, self.null_class = config.num_classes, config.null_class
        side = math.isqrt(config.num_tokens)
        self.image_shape = (side, side)
        self.image_channels = 1
        self.feature_dim = config.width
        self.guidance_scale = guidance_scale
        self.default_num_steps = 8

    def check_num_steps(self, num_steps: int) -> None:
        if num_steps > self.num_tokens:
            raise ValueError(f"num_steps={num_steps} exceeds the {self.num_tokens} tokens to reveal")

    def nfe(self, num_steps: int) -> int:
        return num_steps

    def static_schedule(
        self,
        num_steps: int,
        mask_curve: str = "cosine",
        remask_temperature: float = 1.0,
        temperature: float = 1.0,
        guidance: float | None = None,
    ) -> torch.Tensor:
        """A family of static schedules (T, 4); the defaults are the hand-designed one (docs/method.md)."""
        if mask_curve not in MASK_CURVES:
            raise ValueError(f"mask_curve must be one of {sorted(MASK_CURVES)}, not {mask_curve!r}")
        guidance = self.guidance_scale if guidance is None else guidance
        t = torch.arange(num_steps, dtype=torch.float64)
        done = (t + 1) / num_steps
        return torch.stack(
            [
                MASK_CURVES[mask_curve](done),
                remask_temperature * (1 - done),
                torch.full_like(t, temperature),
                guidance * t / num_steps,
            ],
            dim=-1,
        ).float()

    def baseline(self, num_steps: int) -> torch.Tensor:
        return self.static_schedule(num_steps)

    def reset(self, labels: torch.Tensor, generator: torch.Generator) -> MaskGITState:
        tokens = torch.full((len(labels), self.num_tokens), self.mask_token, dtype=torch.long, device=self.device)
        confidence = torch.zeros(tokens.shape, device=self.device)
        return self._with_forward(MaskGITState(tokens, labels.to(self.device), confidence=confidence))

    @torch.no_grad()
    def _with_forward(self, state: MaskGITState) -> MaskGITState:
        state.cond_logits, state.hidden = self.model(state.tokens, state.labels)
        return state

    @torch.no_grad()
    def step(
        self, state: MaskGITState, values: dict[str, torch.Tensor], num_steps: int, generator: torch.Generator
    ) -> MaskGITState:
        ratio, remask_temperature = values["mask_ratio"].to(self.device), values["remask_temperature"].to(self.device)
        temperature, guidance = values["temperature"].to(self.device), values["guidance"].to(self.device)
        tokens, cond = state.tokens, state.cond_logits
        uncond, _ = self.model(tokens, torch.full_like(state.labels, self.null_class))
        logits = guided(cond, uncond, guidance) / temperature[:, None, None]
        log_probs = torch.log_softmax(logits, dim=-1)
        sampled = torch.argmax(log_probs + gumbel(log_probs.shape, generator, self.device), dim=-1)

        masked = tokens == self.mask_token
        new_tokens = torch.where(masked, sampled, tokens)
        sampled_log_prob = torch.gather(log_probs, -1, sampled[..., None])[..., 0]
        kept_confidence = torch.where(masked, sampled_log_prob, state.confidence)
        confidence = sampled_log_prob + remask_temperature[:, None] * gumbel(masked.shape, generator, self.device)
        confidence = torch.where(masked, confidence, torch.inf)

        num_masked = masked.sum(dim=1)
        keep_masked = torch.floor(self.num_tokens * ratio).long().clamp(min=1)
        keep_masked = torch.minimum(keep_masked, num_masked - 1).clamp(min=0)
        last = state.step + 1 >= num_steps
        if last:
            keep_masked = torch.zeros_like(keep_masked)
        ranks = confidence.argsort(dim=1).argsort(dim=1)
        new_tokens = torch.where(ranks < keep_masked[:, None], self.mask_token, new_tokens)
        finished = MaskGITState(new_tokens, state.labels, state.step + 1, confidence=kept_confidence)
        return finished if last else self._with_forward(finished)

    def refinement_nfe(self, refinement: Refinement) -> int:
        """``refinement.steps`` guided calls (the confidences are the sampling's own); ``ValueError`` when
        the fraction re-masks no token or fewer tokens than steps, so that every step reveals one."""
        count = self._remask_count(refinement)
        if count < refinement.steps:
            raise ValueError(
                f"refinement re-masks {count} of {self.num_tokens} tokens (fraction "
                f"{refinement.fraction_for(self):g}), fewer than its {refinement.steps} steps; raise the fraction"
            )
        return self.nfe(refinement.steps)

    def _remask_count(self, refinement: Refinement) -> int:
        return math.floor(self.num_tokens * refinement.fraction_for(self))

    @torch.no_grad()
    def refine(self, state: MaskGITState, refinement: Refinement, generator: torch.Generator) -> MaskGITState:
        """Re-mask each sample's least confident tokens and re-predict them with ``refinement.steps``
        steps of the hand-designed schedule, its mask ratios scaled to the re-masked share."""
        self.refinement_nfe(refinement)
        count, fraction = self._remask_count(refinement), refinement.fraction_for(self)
        ranks = state.confidence.argsort(dim=1, stable=True).argsort(dim=1)
        tokens = torch.where(ranks < count, self.mask_token, state.tokens)
        redo = self._with_forward(MaskGITState(tokens, state.labels, confidence=state.confidence))
        schedule = self.baseline(refinement.steps)
        schedule[:, 0] *= fraction
        for values in schedule:
            redo = self.step(
                redo, by_name(self.parameters, values.expand(len(tokens), -1)), refinement.steps, generator
            )
        return redo

    def features(self, state: MaskGITState) -> torch.Tensor:
        return self._forwarded(state).hidden.mean(dim=1)

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        # Features are token means of LayerNorm outputs, so the LayerNorm's bound holds for them.
        bound = layer_norm_bound(self.model.norm)
        n = self.num_tokens
        return {
            "features": gym.spaces.Box(-bound, bound, (self.feature_dim,), np.float32),
            "tokens": gym.spaces.Box(0.0, 1.0, (n,), np.float32),
            "mask": gym.spaces.Box(0.0, 1.0, (n,), np.float32),
        }

    def observation(self, state: MaskGITState) -> dict[str, torch.Tensor]:
        masked = state.tokens == self.mask_token
        grey = torch.where(masked, 0, state.tokens).float() / (self.vocab_size - 1)
        return {"tokens": grey, "mask": masked.float()}

    def decode(self, state: MaskGITState) -> torch.Tensor:
        grey = torch.where(state.tokens == self.mask_token, 0, state.tokens).float() / (self.vocab_size - 1)
        return grey.view(-1, 1, *self.image_shape)

    def preview(self, state: MaskGITState) -> torch.Tensor:
        rgb = to_rgb(self.decode(state))
        masked = (state.tokens == self.mask_token).view(-1, *self.image_shape)
        rgb[masked] = torch.tensor(MASK_COLOUR, dtype=torch.uint8, device=rgb.device)
        return rgb
