"""Next-scale autoregression (VAR) as a process: one decision per scale, every sample its own parameters.

One step generates the whole token map of the next scale: guided logits
``cond + w * (cond - uncond)``, divided by the temperature, restricted to the top-k grey levels
and then to the smallest set holding probability top-p, sampled. The hand-designed schedule
follows the method (docs/method.md) scaled to our vocabulary: guidance ramping linearly from 0 to 1.5 over the
scales, top-k 900 of VAR's 4,096 codes (4 of our 17 grey levels), top-p 0.96, temperature 1.

``reset`` and ``step`` run the conditional forward pass of the current maps and keep it in the
state: it gives both the policy's features (the mean hidden state over the next scale's
positions) and the next step's conditional logits, so ``features`` only reads the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from adagen_env.models.checkpoints import frozen_copy
from adagen_env.models.var import NextScaleTransformer, load_var
from adagen_env.processes.base import ForwardOnDemand, gumbel, layer_norm_bound, to_rgb
from adagen_env.processes.schedules import StepParameter
from adagen_env.processes.solvers import guided

GUIDANCE_SCALE = 1.5  # the end point of the hand-designed ramp over scales
TOP_K = 4  # VAR's 900 of 4,096 codes is 22 % of the vocabulary: 4 of 17 grey levels
TOP_P = 0.96
NAMED_SCHEDULES = {
    "hand-designed": {},
    "no-guidance": {"guidance": 0.0},
    "no-top-k": {"top_k": None},
    "cool-sampling": {"temperature": 0.7},
}


@dataclass
class VARState:
    maps: list[torch.Tensor]  # generated token maps, coarse to fine, (B, s*s) each
    labels: torch.Tensor
    step: int = 0
    cond_logits: torch.Tensor | None = None  # (B, next block, V) of the current maps, set by reset/step
    hidden: torch.Tensor | None = None  # (B, next block, width)


class VARProcess(ForwardOnDemand):
    named_schedules = NAMED_SCHEDULES
    parameters = (
        StepParameter("guidance", "softplus", action_scale=2.0),
        StepParameter("top_k", "sigmoid", action_scale=2.0),  # the fraction of the vocabulary kept
        StepParameter("top_p", "sigmoid", action_scale=2.0),
        StepParameter("temperature", "softplus", action_scale=1.0),
    )

    def __init__(self, model: NextScaleTransformer | None = None, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = frozen_copy(model, self.device) if model is not None else load_var(str(self.device))
        config = self.model.config
        self.scales, self.vocab_size = config.scales, config.vocab_size
        self.num_classes, self.null_class = config.num_classes, config.null_class
        self.image_shape = (config.scales[-1], config.scales[-1])
        self.image_channels = 1
        self.feature_dim = config.width
        self.default_num_steps = len(self.scales)
        self.offsets = np.cumsum([0, *config.block_sizes]).tolist()

    def check_num_steps(self, num_steps: int) -> None:
        if num_steps != len(self.scales):
            raise ValueError(f"num_steps must be {len(self.scales)}: one step per scale {self.scales}, got {num_steps}")

    def nfe(self, num_steps: int) -> int:
        return num_steps

    def static_schedule(
        self,
        num_steps: int,
        guidance: float = GUIDANCE_SCALE,
        top_k: int | None = TOP_K,
        top_p: float = TOP_P,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """A family of static schedules (T, 4); ``top_k=None`` keeps every level. Defaults: hand-designed."""
        self.check_num_steps(num_steps)
        if top_k is not None and not 1 <= top_k <= self.vocab_size:
            raise ValueError(f"top_k must be in 1..{self.vocab_size} or None, got {top_k}")
        ramp = torch.arange(num_steps, dtype=torch.float64) / max(num_steps - 1, 1)
        keep = 1.0 if top_k is None else top_k / self.vocab_size
        constant = torch.ones(num_steps, dtype=torch.float64)
        return torch.stack([guidance * ramp, keep * constant, top_p * constant, temperature * constant], dim=-1).float()

    def baseline(self, num_steps: int) -> torch.Tensor:
        return self.static_schedule(num_steps)

    def reset(self, labels: torch.Tensor, generator: torch.Generator) -> VARState:
        return self._with_forward(VARState([], labels.to(self.device)))

    @torch.no_grad()
    def _with_forward(self, state: VARState) -> VARState:
        # after the last scale there is no next block: the last block's stands in (no decision uses it)
        logits, hidden = self.model(state.maps, state.labels)
        block = self._block(min(state.step, len(self.scales) - 1))
        state.cond_logits, state.hidden = logits[:, block], hidden[:, block]
        return state

    def _block(self, k: int) -> slice:
        return slice(self.offsets[k], self.offsets[k + 1])

    @torch.no_grad()
    def step(
        self, state: VARState, values: dict[str, torch.Tensor], num_steps: int, generator: torch.Generator
    ) -> VARState:
        guidance, keep = values["guidance"].to(self.device), values["top_k"].to(self.device)
        top_p, temperature = values["top_p"].to(self.device), values["temperature"].to(self.device)
        uncond, _ = self.model(state.maps, torch.full_like(state.labels, self.null_class))
        logits = guided(state.cond_logits, uncond[:, self._block(state.step)], guidance) / temperature[:, None, None]
        logits = filter_top_k_top_p(logits, keep, top_p)
        tokens = torch.argmax(F.log_softmax(logits, dim=-1) + gumbel(logits.shape, generator, self.device), dim=-1)
        grown = VARState([*state.maps, tokens], state.labels, state.step + 1)
        return grown if state.step + 1 >= num_steps else self._with_forward(grown)

    def features(self, state: VARState) -> torch.Tensor:
        return self._forwarded(state).hidden.mean(dim=1)

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        bound = layer_norm_bound(self.model.norm)  # features are means of LayerNorm outputs
        n = self.image_shape[0] * self.image_shape[1]
        return {
            "features": gym.spaces.Box(-bound, bound, (self.feature_dim,), np.float32),
            "image": gym.spaces.Box(0.0, 1.0, (n,), np.float32),
        }

    def _latest_image(self, state: VARState) -> torch.Tensor:
        """The finest generated map upsampled to full size (B, 1, H, W) in [0, 1]; black before the first."""
        if not state.maps:
            return torch.zeros(len(state.labels), 1, *self.image_shape, device=self.device)
        s = self.scales[len(state.maps) - 1]
        grey = state.maps[-1].float().view(-1, 1, s, s) / (self.vocab_size - 1)
        return F.interpolate(grey, size=self.image_shape, mode="nearest")

    def observation(self, state: VARState) -> dict[str, torch.Tensor]:
        return {"image": self._latest_image(state).flatten(1)}

    def decode(self, state: VARState) -> torch.Tensor:
        return self._latest_image(state)

    def preview(self, state: VARState) -> torch.Tensor:
        return to_rgb(self._latest_image(state))


def filter_top_k_top_p(logits: torch.Tensor, keep: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Per sample: keep the ``round(keep * V)`` (at least 1) most likely levels, then the smallest set
    holding probability ``top_p`` (at least 1); the rest get -inf. ``logits`` (B, N, V), ``keep``/``top_p`` (B,)."""
    vocab = logits.shape[-1]
    k = (keep * vocab).round().clamp(1, vocab).long()
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    rank = torch.arange(vocab, device=logits.device)
    removed = rank >= k[:, None, None]
    probs = F.softmax(sorted_logits.masked_fill(removed, -torch.inf), dim=-1)
    before = probs.cumsum(dim=-1) - probs  # probability of the more likely levels
    removed = removed | (before > top_p[:, None, None])
    return torch.full_like(logits, -torch.inf).scatter(-1, order, sorted_logits.masked_fill(removed, -torch.inf))
