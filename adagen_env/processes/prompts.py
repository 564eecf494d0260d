"""The prompts of a text-to-image pipeline, encoded once: what its model is conditioned on, and what
the policy sees of each prompt.

A text-to-image process treats its prompts as its labels: label i is ``texts[i]``. The model gets
the text encoder's hidden states, exactly as the pipeline's own ``encode_prompt`` makes them (so the
zero action is the pipeline's own output), and the unguided pass of classifier-free guidance gets
the empty prompt's, as the pipeline does without a negative prompt. The policy sees ``summary`` (at
the end of its ``features``):
the mean of the hidden states over the prompt's own tokens (padding left out), scaled to unit
length so that its observation space is bounded whatever the encoder. A unit vector carries no
label number, so a policy trained on some prompts acts on any other prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

ENCODE_CHUNK = 64  # prompts per call of the text encoder


@dataclass(frozen=True)
class Prompts:
    """``embeds`` (P, L, D): the text encoder's hidden states of each prompt, in the pipeline's dtype and
    on its device; ``null`` (L, D): the empty prompt's; ``summary`` (P, D) float32 unit vectors."""

    texts: tuple[str, ...]
    embeds: torch.Tensor
    null: torch.Tensor
    summary: torch.Tensor

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def dim(self) -> int:
        return self.summary.shape[1]

    @classmethod
    @torch.no_grad()
    def encode(cls, pipeline: Any, texts: Sequence[str]) -> Prompts:
        """``texts`` encoded by ``pipeline.encode_prompt`` (the Stable Diffusion family's), in chunks;
        one line for no prompts, an empty one, or a pipeline that cannot encode text."""
        texts = check_texts(texts)
        if not callable(getattr(pipeline, "encode_prompt", None)) or getattr(pipeline, "tokenizer", None) is None:
            raise ValueError(
                f"{type(pipeline).__name__} cannot encode prompts (it needs a tokenizer and encode_prompt, as "
                "StableDiffusionPipeline has)"
            )
        device = pipeline.unet.device
        embeds, summaries, null = [], [], None
        for start in range(0, len(texts), ENCODE_CHUNK):
            chunk = list(texts[start : start + ENCODE_CHUNK])
            conditional, unconditional = pipeline.encode_prompt(chunk, device, 1, True)
            null = unconditional[0] if null is None else null
            tokenizer = pipeline.tokenizer
            mask = tokenizer(
                chunk, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
            ).attention_mask.to(device)
            mask = mask[:, : conditional.shape[1], None].float()
            mean = (conditional.float() * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            embeds.append(conditional)
            summaries.append(torch.nn.functional.normalize(mean, dim=1))
        return cls(texts, torch.cat(embeds), null, torch.cat(summaries))


def check_texts(texts: Sequence[str] | str) -> tuple[str, ...]:
    """Prompts as a tuple of non-empty strings; one line otherwise."""
    if isinstance(texts, str):
        texts = [texts]
    texts = tuple(texts)
    if not texts:
        raise ValueError("give at least one prompt")
    bad = [t for t in texts if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ValueError(f"prompts must be non-empty strings; got {bad[:3]!r}")
    return texts
