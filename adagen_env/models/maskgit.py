"""A tiny class-conditional bidirectional transformer over image tokens (MaskGIT's generator).

Tokens are grey levels ``0 .. vocab_size-1`` plus one extra ``mask_token``; the class enters
as a prepended token, with ``null_class`` standing for "no class" (classifier-free guidance).
The forward pass returns both the logits and the last hidden states, because the schedule
policy observes a summary of the generator's hidden state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from adagen_env.models.batching import by_rows
from adagen_env.models.checkpoints import load_frozen

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "weights" / "maskgit_digits.pt"


@dataclass(frozen=True)
class MaskGITConfig:
    num_tokens: int = 64  # 8x8 image
    vocab_size: int = 17  # grey levels 0..16
    num_classes: int = 10
    width: int = 64
    depth: int = 4
    heads: int = 4

    @property
    def mask_token(self) -> int:
        return self.vocab_size

    @property
    def null_class(self) -> int:
        return self.num_classes


class MaskGITTransformer(nn.Module):
    def __init__(self, config: MaskGITConfig = MaskGITConfig()):
        super().__init__()
        self.config = config
        c = config
        self.token_embedding = nn.Embedding(c.vocab_size + 1, c.width)
        self.class_embedding = nn.Embedding(c.num_classes + 1, c.width)
        self.position_embedding = nn.Parameter(torch.randn(1, c.num_tokens + 1, c.width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            c.width, c.heads, 4 * c.width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self.head = nn.Linear(c.width, c.vocab_size)

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) tokens and (B,) labels -> logits (B, N, vocab_size), hidden states (B, N, width)."""
        x = torch.cat([self.class_embedding(labels)[:, None], self.token_embedding(tokens)], dim=1)
        hidden = self.norm(by_rows(self.blocks, x + self.position_embedding))[:, 1:]
        return self.head(hidden), hidden


def load_maskgit(device: str = "cpu", path: str = str(WEIGHTS_PATH)) -> MaskGITTransformer:
    """The shipped generator, frozen and in eval mode (shared by every env on the device)."""
    return load_frozen(MaskGITTransformer, MaskGITConfig, path, device)
