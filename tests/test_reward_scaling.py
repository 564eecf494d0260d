"""A reward that scales (issue 26, part 4): the pixel discriminator's depth grows with the image
size, a latent discriminator scores a VAE's latents without decoding, the scorer works in
micro-batches, and the class projection can take given class embeddings (e.g. of captions).

Tiny random pipelines built from configs; each test takes a few seconds on one CPU thread.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from adagen_agents.examples.text_to_image import tiny_vae
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


@pytest.mark.parametrize("remedies", [{}, {"r1": 0.1, "lecam": 0.3}])
def test_micro_batched_scoring_and_updates_equal_the_whole_batch(remedies):
    real = images(32, 16)
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(16, 3, 16, 16, generator=g), torch.arange(16) % 2
    whole, chunked = scorer(real, **remedies), scorer(real, micro_batch=3, **remedies)
    torch.testing.assert_close(chunked.score(x, y), whole.score(x, y), rtol=0, atol=1e-6)
    for s in (whole, chunked):
        s(x, y)  # an update: 2 steps of 8 fakes and 8 reals, in chunks of 3
    assert chunked.stats["updates"] == whole.stats["updates"] == 1
    for key in ("loss", "real_logit", "fake_logit", "ada_rt"):
        assert chunked.stats[key] == pytest.approx(whole.stats[key], abs=1e-5)
    for (name, a), b in zip(whole.discriminator.state_dict().items(), chunked.discriminator.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)
    torch.testing.assert_close(chunked.score(x, y), whole.score(x, y), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="micro_batch must be a whole number"):
        scorer(real, micro_batch=0)


# ------------------------------------------------------------------ the latent discriminator


@pytest.fixture(scope="module")
def diffusers():
    return pytest.importorskip("diffusers")


def tiny_process(diffusers, vae: bool = True):
    """A 3-step DDIM process of a tiny random UNet: on 4x8x8 latents of a 16x16 RGB VAE, or on 3x8x8 pixels."""
    from adagen_env.processes.diffusers_adapter import DiffusersProcess

    autoencoder = tiny_vae()  # the CPU example's: 4x8x8 latents of 16x16 RGB images
    torch.manual_seed(2)
    channels = 4 if vae else 3
    unet = diffusers.UNet2DModel(
        sample_size=8,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D",) * 2,
        up_block_types=("UpBlock2D",) * 2,
        norm_num_groups=4,
    ).eval()
    return DiffusersProcess(unet, diffusers.DDIMScheduler(), 3, vae=autoencoder if vae else None)


def test_the_latent_scorer_trains_and_scores_on_latents_without_decoding(diffusers):
    from adagen_env.envs.core import ScheduleCore
    from adagen_env.envs.spec import EpisodeSpec
    from adagen_env.rewards import make_scorer
    from adagen_env.rewards.latent import encode_images

    process = tiny_process(diffusers)
    real = images(32, 16, classes=1)
    s = make_scorer("adversarial-latent", real=real, process=process, update_every=8, batch_size=8, steps=2)
    assert (s.name, s.scores, s.latent_shape) == ("adversarial-latent", "latents", (4, 8, 8))
    # the real side: the images encoded once, as vae.encode(2x - 1)'s mean times the scaling factor
    with torch.no_grad():
        expected = process.vae.encode(real.to_float()[:2] * 2 - 1).latent_dist.mean * process.vae.config.scaling_factor
    torch.testing.assert_close(encode_images(process, real.to_float()[:2]), expected)
    decodes = []
    decode = process.vae.decode
    process.vae.decode = lambda *a, **k: decodes.append(1) or decode(*a, **k)
    core = ScheduleCore(process, 8, EpisodeSpec(reward=s))
    for seed in (0, 1):
        core.reset(seed=seed)
        for _ in range(3):
            _, reward, done, _ = core.step(torch.zeros(8, 1))
    assert done and reward.shape == (8,) and ((0 < reward) & (reward < 1)).all()
    assert s.stats["updates"] == 2 and decodes == []  # trained twice on latents; nothing decoded
    assert torch.equal(
        pickle.loads(pickle.dumps(s)).score(core.state.x, core.labels), s.score(core.state.x, core.labels)
    )
    core.images()  # images still decode when asked for
    assert decodes == [1]


def test_the_latent_reward_is_refused_in_one_line_where_there_are_no_latents(diffusers):
    from adagen_env.envs.core import ScheduleCore
    from adagen_env.envs.spec import EpisodeSpec
    from adagen_env.rewards import make_scorer

    def fails(call, message):
        with pytest.raises(ValueError, match=message) as e:
            call()
        assert "\n" not in str(e.value)

    real = images(8, 16, classes=1)
    fails(
        lambda: make_scorer("adversarial-latent", real=real, process=tiny_process(diffusers, vae=False)),
        "this pipeline has no VAE .*; use --reward adversarial",
    )
    fails(lambda: make_scorer("adversarial-latent", real=real), "it needs a pipeline with a VAE")
    fails(
        lambda: ScheduleCore("AdaGen/Diffusion-Digits-v0", 2, EpisodeSpec(reward="adversarial-latent")),
        "it needs a pipeline with a VAE",
    )
    fails(
        lambda: make_scorer("adversarial-latent", real=images(8, 8, classes=1), process=tiny_process(diffusers)),
        "the real images are 3x8x8, but the pipeline makes 3x16x16 images",
    )
    fails(lambda: AdversarialScorer(real=real, discriminator="latent"), "build it with .*latent_scorer")
    # a latent scorer on a process whose latents have another shape
    s = make_scorer("adversarial-latent", real=real, process=tiny_process(diffusers))
    fails(lambda: ScheduleCore(tiny_process(diffusers, vae=False), 2, EpisodeSpec(reward=s)), "no VAE")


def test_the_cli_refuses_the_latent_reward_without_a_pipeline():
    from adagen_agents.target import Target

    shipped = Target(paradigm=None, process=None)  # neither a generator file nor a pipeline: shipped
    with pytest.raises(ValueError, match="it needs --pipeline DIR"):
        shipped.reward("adversarial-latent")


def test_the_cli_builds_the_latent_reward_of_a_pipeline_and_refuses_it_elsewhere(diffusers, tmp_path):
    """``--reward adversarial-latent`` with a saved latent pipeline gets the latent scorer in the
    process's micro-batches (``--micro-batch``); without a pipeline, or with one without a VAE, one line."""
    from PIL import Image

    from adagen_agents.cli import main
    from adagen_agents.target import make_target

    tiny = tiny_process(diffusers)
    pixels = tiny_process(diffusers, vae=False).model
    diffusers.DDIMPipeline(pixels, diffusers.DDIMScheduler()).save_pretrained(tmp_path / "pixels")
    latent = diffusers.DiTPipeline(
        diffusers.DiTTransformer2DModel(
            num_attention_heads=2,
            attention_head_dim=8,
            in_channels=4,
            out_channels=8,
            num_layers=1,
            sample_size=8,
            patch_size=2,
            num_embeds_ada_norm=1000,
        ),
        tiny.vae,
        diffusers.DDIMScheduler(),
    )
    latent.save_pretrained(tmp_path / "latent")
    data = tmp_path / "data" / "0"
    data.mkdir(parents=True)
    for i in range(8):
        Image.fromarray(images(1, 16, seed=i).images[0]).save(data / f"{i}.png")
    target = make_target(pipeline=str(tmp_path / "latent"), data=str(data.parent), num_steps=2, micro_batch=3)
    scorer = target.reward("adversarial-latent")
    assert (scorer.scores, scorer.micro_batch, scorer.latent_shape) == ("latents", 3, (4, 8, 8))

    def fails(argv: list[str], message: str) -> None:
        with pytest.raises(SystemExit) as exit_info:
            main(argv + ["--reward", "adversarial-latent", "--out", str(tmp_path / "p.pt")])
        assert message in exit_info.value.code and "\n" not in exit_info.value.code, exit_info.value.code

    fails(["train"], "it needs --pipeline DIR")
    fails(["train", "--pipeline", str(tmp_path / "pixels"), "--data", str(tmp_path / "data8")], "no such file")
    for i in range(8):  # 8x8 images for the pixel pipeline
        (tmp_path / "data8" / "0").mkdir(parents=True, exist_ok=True)
        Image.fromarray(images(1, 8, seed=i).images[0]).save(tmp_path / "data8" / "0" / f"{i}.png")
    fails(["train", "--pipeline", str(tmp_path / "pixels"), "--data", str(tmp_path / "data8")], "has no VAE")
