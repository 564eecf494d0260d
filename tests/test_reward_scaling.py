"""A reward that scales (issue 26, part 4): the pixel discriminator's depth grows with the image
size, a latent discriminator scores a VAE's latents without decoding, the scorer works in
micro-batches, and the class projection can take given class embeddings (e.g. of captions).

Tiny random pipelines built from configs; each test takes a few seconds on one CPU thread.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from adagen_env.data.datasets import ImageDataset
from adagen_env.models.discriminator import Discriminator, pixel_widths
from adagen_env.rewards import AdversarialScorer


def images(n: int, size: int, channels: int = 3, classes: int = 2, seed: int = 0) -> ImageDataset:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, size, size, channels), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % classes
    return ImageDataset(pixels.numpy(), labels.numpy(), 256, classes)


def scorer(real: ImageDataset, **kwargs) -> AdversarialScorer:
    return AdversarialScorer(real=real, update_every=16, batch_size=8, steps=2, **kwargs)


def test_depth_grows_with_the_size_and_8x8_keeps_its_three_convolutions():
    assert pixel_widths((8, 8)) == (32, 64)  # the digits' discriminator
    depths = [len(pixel_widths((s, s))) - 1 for s in (16, 32, 64, 128, 256)]
    assert depths == [2, 3, 4, 5, 6]
    for size in (8, 32, 256):  # the last feature map is 4x4 whatever the size
        d = Discriminator(2, channels=3, widths=pixel_widths((size, size)))
        assert d.body(torch.zeros(1, 3, size, size)).shape[-2:] == (4, 4)
    assert max(max(pixel_widths((s, s))) for s in (8, 256, 1024)) == 64  # widths capped
    # the digits' shape: the same modules in the same order as the 3-convolution discriminator always had
    shapes = [tuple(v.shape) for k, v in Discriminator().state_dict().items() if k.endswith("original")]
    assert shapes == [(32, 1, 3, 3), (64, 32, 4, 4), (64, 64, 3, 3), (1, 64), (10, 64)]


def test_the_state_records_the_architecture_and_loads_into_the_same_shape():
    real = images(16, 16)
    s = scorer(real)
    assert s.architecture["widths"] == [16, 32, 64]
    narrow = scorer(real, widths=(8, 16, 32))
    state = narrow.state_dict()
    s.load_state_dict(state)  # rebuilt in the saved shape
    assert s.architecture == narrow.architecture
    x, y = torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 0, 1])
    assert torch.equal(s.score(x, y), narrow.score(x, y))
    assert torch.equal(pickle.loads(pickle.dumps(s)).score(x, y), narrow.score(x, y))
    del state["architecture"]  # a state from before: the 3-convolution discriminator
    legacy = scorer(real, widths=(32, 64))
    legacy_state = legacy.state_dict()
    del legacy_state["architecture"]
    s.load_state_dict(legacy_state)
    assert s.architecture["widths"] == [32, 64]


def test_class_embeddings_project_the_given_embeddings_and_travel_with_the_state():
    real = images(16, 8)
    embeddings = torch.randn(2, 5, generator=torch.Generator().manual_seed(3))
    s = scorer(real, class_embeddings=embeddings)
    assert s.architecture["embedding_dim"] == 5
    x, y = torch.rand(16, 3, 8, 8), torch.arange(16) % 2
    s(x, y)  # scores and trains (an update: 16 samples)
    assert s.stats["updates"] == 1
    # the logit's class term is <Linear(D, width)(embedding of y), h>: same embedding, same logit
    twin = torch.cat([embeddings, embeddings[:1]])  # a third class with class 0's embedding
    three = AdversarialScorer(real=images(18, 8, classes=3), update_every=16, class_embeddings=twin)
    three.load_state_dict(
        {
            **s.state_dict(),
            "discriminator": {
                **s.discriminator.state_dict(),
                "embed.class_embeddings": twin,
            },
        }
    )
    assert torch.equal(three.score(x[:1], torch.tensor([0])), three.score(x[:1], torch.tensor([2])))
    fresh = scorer(real)  # learned embeddings: loading the state brings the given ones back
    fresh.load_state_dict(s.state_dict())
    assert torch.equal(fresh.class_embeddings, embeddings) and torch.equal(fresh.score(x, y), s.score(x, y))
    assert torch.equal(pickle.loads(pickle.dumps(s)).score(x, y), s.score(x, y))
    with pytest.raises(ValueError, match=r"class_embeddings must be \(num_classes, D\) = \(2, D\)"):
        scorer(real, class_embeddings=torch.zeros(3, 5))
