"""A tiny class-conditional next-scale transformer (VAR's generator) over grey-level token maps.

An image is a pyramid of token maps, coarse to fine: the map at scale s is the image
area-averaged to s x s and quantised to the grey levels; the finest scale is the image
itself. (VAR quantises residuals with a multi-scale VQ-VAE; on 8x8 grey images the
quantised pyramid plays that role and needs no autoencoder.)

The transformer predicts every token of scale k at once from all coarser scales, with
block-causal attention, as VAR does: the input block of scale 1 is the class embedding, the
input block of scale k > 1 is scale k-1's token embeddings upsampled to k's size; a position
of block k attends to blocks 1..k. ``null_class`` stands for "no class" (classifier-free
guidance). One teacher-forced forward pass gives the logits of all scales for training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from adagen_env.models.batching import by_rows
from adagen_env.models.checkpoints import load_frozen

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "weights" / "var_digits.pt"


@dataclass(frozen=True)
class VARConfig:
    scales: tuple[int, ...] = (1, 2, 4, 8)
    vocab_size: int = 17  # grey levels 0..16
    num_classes: int = 10
    width: int = 64
    depth: int = 4
    heads: int = 4

    @property
    def null_class(self) -> int:
        return self.num_classes

    @property
    def block_sizes(self) -> list[int]:
        return [s * s for s in self.scales]


def token_pyramid(images: torch.Tensor, scales: tuple[int, ...], levels: int) -> list[torch.Tensor]:
    """Images (B, 1, H, W) in [0, 1] -> one (B, s*s) long token map per scale s."""
    return [
        (F.adaptive_avg_pool2d(images, s) * (levels - 1)).round().long().clamp(0, levels - 1).flatten(1) for s in scales
    ]


class NextScaleTransformer(nn.Module):
    def __init__(self, config: VARConfig = VARConfig()):
        super().__init__()
        self.config = config
        c = config
        total = sum(c.block_sizes)
        self.token_embedding = nn.Embedding(c.vocab_size, c.width)
        self.class_embedding = nn.Embedding(c.num_classes + 1, c.width)
        self.position_embedding = nn.Parameter(torch.randn(1, total, c.width) * 0.02)
        self.scale_embedding = nn.Embedding(len(c.scales), c.width)
        layer = nn.TransformerEncoderLayer(
            c.width, c.heads, 4 * c.width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self.head = nn.Linear(c.width, c.vocab_size)
        block_of = torch.cat([torch.full((n,), k) for k, n in enumerate(c.block_sizes)])
        self.register_buffer("block_of", block_of, persistent=False)
        # True = may not attend: a position sees its own and coarser blocks only
        self.register_buffer("attention_mask", block_of[:, None] < block_of[None, :], persistent=False)

    def forward(self, maps: list[torch.Tensor], labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token maps of the first k-1 scales and labels -> logits of scales 1..k (B, n_1+..+n_k, V), hidden states.

        With all scales given (teacher forcing) the finest map is not needed as input, so
        ``maps`` may hold k-1 or k maps; the output covers blocks 1..len(maps)+1 capped at all.
        """
        c = self.config
        num_blocks = min(len(maps) + 1, len(c.scales))
        inputs = [self.class_embedding(labels)[:, None]]
        for k in range(1, num_blocks):
            previous = self.token_embedding(maps[k - 1])  # (B, s*s, D)
            s_prev, s = c.scales[k - 1], c.scales[k]
            grid = previous.transpose(1, 2).reshape(len(labels), c.width, s_prev, s_prev)
            inputs.append(F.interpolate(grid, size=(s, s), mode="nearest").flatten(2).transpose(1, 2))
        x = torch.cat(inputs, dim=1)
        n = x.shape[1]
        x = x + self.position_embedding[:, :n] + self.scale_embedding(self.block_of[:n])
        hidden = self.norm(by_rows(lambda rows: self.blocks(rows, mask=self.attention_mask[:n, :n]), x))
        return self.head(hidden), hidden


def load_var(device: str = "cpu", path: str = str(WEIGHTS_PATH)) -> NextScaleTransformer:
    """The shipped generator, frozen and in eval mode (shared by every env on the device)."""
    return load_frozen(NextScaleTransformer, VARConfig, path, device)
