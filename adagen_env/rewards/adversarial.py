"""Reward = a discriminator's probability that a finished image is a real image of its class.

The discriminator is trained online, inside the scorer, on the samples it has just scored, so
the reward moves with the policy and any agent gets it through the plain env API (docs/method.md,
"Adversarial reward"). Finished samples are buffered; every ``update_every`` of them it takes
``steps`` Adam steps of the non-saturating logistic loss against class-matched real images of
the *train* split (the held-out split stays reserved for evaluation), then clears the buffer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.models.discriminator import Discriminator, ProjectedDiscriminator
from adagen_env.models.projection_features import load_projection_features
from adagen_env.runtime.distributed import average_gradients

UPDATE_EVERY = 256  # finished samples between discriminator updates
STEPS = 5  # discriminator steps per update
LR = 1e-4
BETAS = (0.5, 0.999)
BATCH_SIZE = 256  # fake (and as many real) images per step
DISCRIMINATORS = ("pixel", "projected")  # on raw pixels, or heads on the frozen projection features


class AdversarialScorer:
    """Per-sample reward in (0, 1) that trains its own discriminator on what it scores.

    ``discriminator="pixel"`` (the default) looks at the images themselves; ``"projected"``
    trains small heads on the feature maps of a frozen network that no metric uses
    (:mod:`adagen_env.models.projection_features`, 8x8 grey digits only), as the method's
    projected discriminator does.

    One scorer object can serve many envs in one process (pass it as ``reward=`` to each): they
    share one discriminator, which then trains on every env's samples. ``scoring_only()`` gives a
    view that scores with the same discriminator without training it, for evaluation envs. Envs
    in other processes (``AsyncVectorEnv``, RLlib's remote runners) get pickled copies, each with
    its own discriminator that sees only its process's samples. Under ``torchrun`` the ranks'
    discriminators average their gradients, so they stay one discriminator trained on the
    samples of every rank (each rank's scorer updates after its own ``update_every`` samples).

    ``stats`` holds the latest update's loss, mean real / fake logits and the number of updates,
    for logging; ``state_dict`` / ``load_state_dict`` let a training checkpoint resume it exactly.
    """

    min_batch_size = 1

    def __init__(
        self,
        device: str | torch.device = "cpu",
        real: ImageDataset | None = None,
        update_every: int = UPDATE_EVERY,
        steps: int = STEPS,
        lr: float = LR,
        betas: tuple[float, float] = BETAS,
        batch_size: int = BATCH_SIZE,
        seed: int = 0,
        discriminator: str = "pixel",
    ):
        if discriminator not in DISCRIMINATORS:
            raise ValueError(f"discriminator must be one of {DISCRIMINATORS}, not {discriminator!r}")
        if update_every < 1 or steps < 1 or batch_size < 1:
            raise ValueError(
                f"update_every, steps and batch_size must be at least 1, got {update_every}, {steps}, {batch_size}"
            )
        real = real if real is not None else load_digits("train")
        # the constructor arguments, so that pickling can rebuild the scorer (see __getstate__)
        self.config = dict(
            device=str(device),
            real=real,
            update_every=update_every,
            steps=steps,
            lr=lr,
            betas=tuple(betas),
            batch_size=batch_size,
            seed=seed,
            discriminator=discriminator,
        )
        self.name = "adversarial" if discriminator == "pixel" else "adversarial-projected"  # as in SCORERS
        self.device = torch.device(device)
        self.update_every, self.steps, self.batch_size = update_every, steps, batch_size
        self.num_classes = real.num_classes
        self.image_shape = real.image_shape  # the env checks that its process makes images of this size
        self.image_channels = real.channels  # ... and of these channels

        # real images sorted by class, so a class-matched draw is an offset into its block
        labels = real.label_tensor()
        order = torch.argsort(labels, stable=True)
        self.real_images = real.to_float()[order].to(self.device)
        self.real_labels = labels[order].to(self.device)
        self.class_count = torch.bincount(labels, minlength=self.num_classes)
        self.class_start = torch.cumsum(self.class_count, 0) - self.class_count
        if (self.class_count == 0).any():
            missing = torch.nonzero(self.class_count == 0)[:, 0].tolist()
            raise ValueError(f"the real images hold no examples of classes {missing}; every class needs some")

        self.generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
            torch.default_generator.manual_seed(seed)  # the CPU's only: torch.manual_seed would reseed every GPU too
            if discriminator == "pixel":
                self.discriminator = Discriminator(self.num_classes, channels=real.channels).to(self.device).eval()
            else:
                features = load_projection_features(self.device)
                self.discriminator = (
                    ProjectedDiscriminator(features, self.num_classes, (real.channels, *real.image_shape))
                    .to(self.device)
                    .eval()
                )
        trainable = [p for p in self.discriminator.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=lr, betas=betas)
        self.fake_images: list[torch.Tensor] = []
        self.fake_labels: list[torch.Tensor] = []
        nan = float("nan")  # no update yet
        self.stats: dict[str, float] = {"loss": nan, "real_logit": nan, "fake_logit": nan, "updates": 0}

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Score with the current discriminator, then buffer the samples (and train on them when due)."""
        rewards = self.score(images, labels)
        self.fake_images.append(images.detach().to(self.device))
        self.fake_labels.append(labels.long().to(self.device))
        if sum(len(x) for x in self.fake_images) >= self.update_every:
            self.update()
        return rewards

    def scoring_only(self) -> ScoringOnly:
        """A view of this scorer that scores with the same discriminator but never trains it."""
        return ScoringOnly(self)

    @torch.no_grad()
    def score(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The reward of each image under the current discriminator, without training on it."""
        labels = labels.long()
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}, got {labels.tolist()}")
        expected = (self.image_channels, *self.image_shape)
        if tuple(images.shape[-3:]) != expected:
            raise ValueError(f"expected images of shape (C, H, W) = {expected}, got {tuple(images.shape[-3:])}")
        logits = self.discriminator(images.detach().to(self.device), labels.to(self.device))
        return torch.sigmoid(logits).to(images.device)

    def update(self) -> None:
        """``steps`` discriminator steps on the buffered fakes vs class-matched reals; clears the buffer."""
        fake_images, fake_labels = torch.cat(self.fake_images), torch.cat(self.fake_labels)
        self.fake_images, self.fake_labels = [], []
        n = min(self.batch_size, len(fake_images))
        self.discriminator.train()
        with torch.enable_grad():  # the env may step under no_grad (our PPO's rollouts do)
            self._train_steps(fake_images, fake_labels, n)
        self.discriminator.eval()

    def _train_steps(self, fake_images: torch.Tensor, fake_labels: torch.Tensor, n: int) -> None:
        for _ in range(self.steps):
            pick = torch.randperm(len(fake_images), generator=self.generator)[:n].to(self.device)
            fakes, labels = fake_images[pick], fake_labels[pick]
            logits = self.discriminator(torch.cat([self.sample_real(labels), fakes]), torch.cat([labels, labels]))
            real_logits, fake_logits = logits[:n], logits[n:]
            loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
            self.optimizer.zero_grad()
            loss.backward()
            average_gradients(self.discriminator.parameters())  # under torchrun: every rank's samples count
            self.optimizer.step()
        self.stats = {
            "loss": loss.item(),
            "real_logit": real_logits.mean().item(),
            "fake_logit": fake_logits.mean().item(),
            "updates": self.stats["updates"] + 1,
        }

    def sample_real(self, labels: torch.Tensor) -> torch.Tensor:
        """One random real training image of each asked class: the real side sees the fakes' class mix."""
        labels = labels.cpu()
        u = torch.rand(len(labels), generator=self.generator, dtype=torch.float64)
        index = self.class_start[labels] + (u * self.class_count[labels]).long()
        return self.real_images[index.to(self.device)]

    def state_dict(self) -> dict:
        """Everything a training checkpoint needs to resume exactly: weights, optimizer, RNG, buffer, stats."""
        empty = torch.empty(0, dtype=torch.long, device=self.device)
        return {
            "discriminator": self.discriminator.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "fake_images": torch.cat(self.fake_images) if self.fake_images else empty.float(),
            "fake_labels": torch.cat(self.fake_labels) if self.fake_labels else empty,
            "stats": dict(self.stats),
        }

    def load_state_dict(self, state: dict) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        has_fakes = len(state["fake_labels"]) > 0
        self.fake_images = [state["fake_images"].to(self.device)] if has_fakes else []
        self.fake_labels = [state["fake_labels"].to(self.device)] if has_fakes else []
        self.stats = dict(state["stats"])

    # spectral-normed (parametrized) modules only serialise through state_dict, so pickling
    # (the single env gets pickled) rebuilds the scorer from its arguments and its state
    def __getstate__(self) -> dict:
        return {"config": self.config, "state": self.state_dict()}

    def __setstate__(self, saved: dict) -> None:
        self.__init__(**saved["config"])
        self.load_state_dict(saved["state"])


class ScoringOnly:
    """An :class:`AdversarialScorer` that scores without training: for evaluation envs beside training ones."""

    min_batch_size = 1

    def __init__(self, scorer: AdversarialScorer):
        self.scorer, self.name = scorer, scorer.name
        self.image_shape, self.image_channels = scorer.image_shape, scorer.image_channels

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.scorer.score(images, labels)
