"""Tiny class-conditional discriminators for the adversarial reward, trained online on CPU: one
on pixels, and a projected one on a frozen feature network's maps.

Spectral norm on every layer keeps it Lipschitz, so its logits (and the reward built from
them) change smoothly while the policy moves. The class enters by projection (Miyato and
Koyama, 2018): ``logit = linear(h) + <embed(y), h>``, which asks "is this a real image *of
class y*", not just "is this a real image".
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

NEGATIVE_SLOPE = 0.2


MIN_WIDTH = 16  # the fewest channels of a pixel discriminator's layer, at its largest feature maps
LAST_SIDE = 4  # the pixel discriminator downsamples until its feature maps are about this small


def pixel_widths(image_shape: tuple[int, int], width: int = 32, min_width: int = MIN_WIDTH) -> tuple[int, ...]:
    """The channels of a pixel discriminator for images of ``image_shape`` (H, W): its first
    convolution's, then one per stride-2 block.

    Blocks halve the feature maps until the smaller side is about ``LAST_SIDE`` (at least one block:
    8x8 -> 1, 16 -> 2, 32 -> 3, 64 -> 4, 128 -> 5, 256 -> 6), so the depth grows with log2 of the
    size. Channels double with each block up to ``2 * width`` at the last one (the projection's
    width at every size), and halve toward the large maps down to ``min_width``: the cost of the
    full-resolution layers stays small. At 8x8 it is ``(width, 2 * width)``, the 3-convolution
    discriminator the digits always had.
    """
    blocks = max(1, int(math.log2(max(1, min(image_shape)))) - int(math.log2(LAST_SIDE)))
    return tuple(max(min(width, min_width), (2 * width) >> (blocks - i)) for i in range(blocks + 1))


def class_projection(num_classes: int, width: int, class_embeddings: torch.Tensor | None) -> nn.Module:
    """The class's projection vector (Miyato and Koyama, 2018): a learned embedding per class, or,
    given ``class_embeddings`` (num_classes, D) (e.g. one caption embedding per class), a linear map
    of the class's embedding to ``width``; spectral-normed either way."""
    if class_embeddings is None:
        return spectral_norm(nn.Embedding(num_classes, width))
    return EmbeddingProjection(class_embeddings, width)


class EmbeddingProjection(nn.Module):
    """``Linear(D, width)(class_embeddings[labels])``: the projection of given (frozen) class embeddings.
    The embeddings are a buffer, so they travel with the discriminator's ``state_dict``."""

    def __init__(self, class_embeddings: torch.Tensor, width: int) -> None:
        super().__init__()
        if class_embeddings.ndim != 2:
            raise ValueError(
                f"class_embeddings must be (num_classes, D), one embedding per class; got shape "
                f"{tuple(class_embeddings.shape)}"
            )
        self.register_buffer("class_embeddings", class_embeddings.detach().float().clone())
        self.linear = spectral_norm(nn.Linear(class_embeddings.shape[1], width, bias=False))

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.linear(self.class_embeddings[labels])


class Discriminator(nn.Module):
    """conv ``widths[0]`` -> one conv (4x4, stride 2) per further width -> conv -> sum-pooled features -> one logit.

    Takes (B, C, H, W) images in [0, 1] (``inputs="latents"``: any values, e.g. a VAE's latents,
    taken as they are) and labels (B,); global pooling makes any H, W work. ``widths`` default to
    ``(width, 2 * width)``: one downsampling, as for 8x8 images; :func:`pixel_widths` gives the
    widths that bring larger images down to about 4x4. ``class_embeddings`` (num_classes, D): the
    class enters through a linear map of its embedding instead of a learned one
    (:func:`class_projection`).
    """

    def __init__(
        self,
        num_classes: int = 10,
        width: int = 32,
        channels: int = 1,
        widths: tuple[int, ...] | None = None,
        inputs: str = "images",
        class_embeddings: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if inputs not in ("images", "latents"):
            raise ValueError(f"inputs must be 'images' or 'latents', not {inputs!r}")
        widths = (width, 2 * width) if widths is None else tuple(widths)
        if len(widths) < 2:
            raise ValueError(f"widths needs a first convolution's and at least one block's, got {widths}")
        self.widths, self.inputs = widths, inputs
        self.feature_dim = widths[-1]
        layers: list[nn.Module] = [
            spectral_norm(nn.Conv2d(channels, widths[0], 3, padding=1)),
            nn.LeakyReLU(NEGATIVE_SLOPE),
        ]
        for before, after in zip(widths, widths[1:]):  # each halves the maps: 8x8 -> 4x4
            layers += [spectral_norm(nn.Conv2d(before, after, 4, stride=2, padding=1)), nn.LeakyReLU(NEGATIVE_SLOPE)]
        layers += [
            spectral_norm(nn.Conv2d(self.feature_dim, self.feature_dim, 3, padding=1)),
            nn.LeakyReLU(NEGATIVE_SLOPE),
        ]
        self.body = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(self.feature_dim, 1))
        self.embed = class_projection(num_classes, self.feature_dim, class_embeddings)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits (B,): high = looks like a real image of its class."""
        x = 2.0 * images - 1.0 if self.inputs == "images" else images
        h = self.body(x).sum(dim=(2, 3))  # sum pooling, as in SNGAN's discriminators
        return self.linear(h)[:, 0] + (self.embed(labels.long()) * h).sum(dim=1)


class ProjectedDiscriminator(nn.Module):
    """A discriminator on a frozen network's feature maps: one small trainable head per scale.

    Each head (spectral-norm 1x1 conv to ``width`` channels, LeakyReLU, spectral-norm 3x3 conv,
    sum pooling) gives a class-projected logit as in :class:`Discriminator` (``class_embeddings``
    likewise); the logit is their sum. Only the heads train; ``features`` (any module with
    ``feature_maps(images)`` and a ``widths`` tuple) stays frozen, and images it cannot take fail at construction.
    """

    def __init__(
        self,
        features: nn.Module,
        num_classes: int,
        image_shape: tuple[int, int, int],
        width: int = 32,
        class_embeddings: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.features = features.eval().requires_grad_(False)
        try:
            with torch.no_grad():
                self.features.feature_maps(torch.zeros(1, *image_shape, device=next(features.parameters()).device))
        except RuntimeError as e:
            c, h, w = image_shape
            raise ValueError(
                f"the projected discriminator's feature network does not take {c}x{h}x{w} images "
                f"({str(e).splitlines()[0]}); use the pixel discriminator (--reward adversarial)"
            ) from e
        self.heads = nn.ModuleList(
            nn.Sequential(
                spectral_norm(nn.Conv2d(channels, width, 1)),
                nn.LeakyReLU(NEGATIVE_SLOPE),
                spectral_norm(nn.Conv2d(width, width, 3, padding=1)),
                nn.LeakyReLU(NEGATIVE_SLOPE),
            )
            for channels in features.widths
        )
        self.linears = nn.ModuleList(spectral_norm(nn.Linear(width, 1)) for _ in features.widths)
        self.embeds = nn.ModuleList(class_projection(num_classes, width, class_embeddings) for _ in features.widths)

    def train(self, mode: bool = True) -> ProjectedDiscriminator:
        super().train(mode)
        self.features.eval()  # frozen: never in training mode
        return self

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits (B,): high = looks like a real image of its class, at every scale together."""
        with torch.no_grad():
            maps = self.features.feature_maps(images)
        logits = torch.zeros(len(images), device=images.device)
        for feature_map, head, linear, embed in zip(maps, self.heads, self.linears, self.embeds):
            h = head(feature_map).sum(dim=(2, 3))
            logits = logits + linear(h)[:, 0] + (embed(labels.long()) * h).sum(dim=1)
        return logits
