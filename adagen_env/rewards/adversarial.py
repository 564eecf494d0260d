"""Reward = a discriminator's probability that a finished image is a real image of its class.

The discriminator is trained online, inside the scorer, on the samples it has just scored, so
the reward moves with the policy and any agent gets it through the plain env API (docs/method.md,
"Adversarial reward"). Finished samples are buffered; every ``update_every`` of them it takes
``steps`` Adam steps of the non-saturating logistic loss against class-matched real images of
the *train* split (the held-out split stays reserved for evaluation), then clears the buffer.

A discriminator trained on 1,297 real images can memorise them, and then its reward stops
measuring what the policy's samples look like. ``stats`` holds the diagnostics of that (the
held-out logit, the overfitting gap, ADA's r_t), and the constructor's options are the remedies
of the GAN literature, each off by default (docs/method.md, "Discriminator overfitting"):
augmentation of the discriminator's inputs (DiffAugment, or ADA's adaptive probability), the R1
penalty, LeCam regularisation, a replay buffer of past fakes, a bootstrap ensemble, and the
shaping of the logit into a reward. ``rewards.SCORERS`` names presets of them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.models.discriminator import Discriminator, ProjectedDiscriminator, pixel_widths
from adagen_env.models.projection_features import load_projection_features
from adagen_env.rewards.augment import augment as augmented
from adagen_env.runtime.distributed import average_gradients

UPDATE_EVERY = 256  # finished samples between discriminator updates
STEPS = 5  # discriminator steps per update
LR = 1e-4
BETAS = (0.5, 0.999)
BATCH_SIZE = 256  # fake (and as many real) images per step
# on raw pixels, heads on the frozen projection features, or on a VAE's latents (adagen_env.rewards.latent)
DISCRIMINATORS = ("pixel", "projected", "latent")
LEGACY_WIDTHS = [32, 64]  # the pixel discriminator of checkpoints from before its depth grew with the size
AUGMENTS = (None, "diffaug", "ada")  # none; every augmentation always (DiffAugment); with ADA's adaptive probability
SHAPINGS = ("prob", "logd", "class-norm")  # sigmoid; log sigmoid, clipped; sigmoid of the class-standardised logit
ADA_TARGET = 0.6  # ADA raises p while E[sign(D(real))] is above this (Karras et al. 2020)
# real images over which ADA's p can move from 0 to 1: ADA's 500k are for runs of millions of images, ours
# see about 1,300 per update (5 steps of 256), 130k in a 100-update run, so p can cross its range in 20 updates
ADA_IMAGES = 25_600
LECAM_DECAY = 0.99  # decay of LeCam's moving averages of the real and fake logits (Tseng et al. 2021)
REPLAY_CAPACITY = 4096  # past fakes the replay buffer keeps, newest last (first in, first out)
LOGD_FLOOR = -10.0  # shaping="logd": log D is clipped from below here, so rewards lie in [-10, 0]
CLASS_NORM_DECAY = 0.9  # shaping="class-norm": per-update decay of the per-class fake-logit mean and variance


class AdversarialScorer:
    """Per-sample reward in (0, 1) (``shaping="logd"``: [-10, 0]) that trains its own discriminator on what it scores.

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

    Remedies against a discriminator that memorises its real images, all off by default (the
    plain scorer is as it always was, bit for bit):

    - ``augment``: ``"diffaug"`` augments the real and the fake inputs of every training step
      (:mod:`adagen_env.rewards.augment`); ``"ada"`` augments each image with probability p, raised
      or lowered after each update as r_t is above or below ``ADA_TARGET``. Scoring sees the
      images as they are.
    - ``r1``: gamma of the R1 penalty gamma/2 E||grad_x D(x_real)||^2 (pixel discriminator only:
      the projected one's frozen features run without gradients).
    - ``lecam``: lambda of LeCam's E[relu(D(real) - a_fake)^2] + E[relu(a_real - D(fake))^2], the
      a's moving averages of the logits (the authors' code's form).
    - ``replay``: the share of each step's fakes drawn from the last ``REPLAY_CAPACITY`` fakes of
      earlier updates.
    - ``ensemble``: K discriminators from seeds ``seed``, ``seed + 1``, ...; each trains on its own
      bootstrap resample of the update's fakes and its own real draws. The reward is the mean of
      their probabilities.
    - ``shaping``: the reward from the logits: ``"prob"`` sigmoid; ``"logd"`` log of it, clipped
      below at ``LOGD_FLOOR``; ``"class-norm"`` the sigmoid of the logit standardised by a moving
      per-class mean and standard deviation of the fake logits, updated after each update.

    ``stats`` holds the latest update's loss, mean real / fake logits (the last step's batch), the
    number of updates, and the overfitting diagnostics: ``heldout_logit``, the mean logit on
    ``validation`` (real images it never trains on; default, with the digits' own train split as
    ``real``, the held-out split; used for nothing else; NaN without), ``overfit_gap`` =
    ``real_logit - heldout_logit``, ``ada_rt`` = E[sign(D(real))] over every real logit of the
    update (ADA's r_t) and, with ``augment="ada"``, ``ada_p``. ``state_dict`` / ``load_state_dict``
    let a training checkpoint resume it exactly.

    Scaling (docs/scaling.md): the pixel discriminator's depth grows with the image size
    (:func:`~adagen_env.models.discriminator.pixel_widths`: stride-2 blocks down to about 4x4;
    ``widths`` overrides it; 8x8 gives the 3-convolution discriminator the digits always had), and
    the state records it, so a saved scorer loads into the same shape (a state from before records
    nothing and loads into that 3-convolution one). ``discriminator="latent"`` scores a diffusers
    pipeline's VAE latents instead of images: build it with
    :func:`adagen_env.rewards.latent.latent_scorer`, which encodes the real images once.
    ``micro_batch`` scores and trains in chunks of that many inputs (gradients accumulated over
    them), so large images fit in memory; the result is the unchunked one up to float rounding.
    ``class_embeddings`` (num_classes, D), e.g. one caption embedding per class: the projection
    uses ``Linear(D, width)(class_embeddings[labels])`` instead of a learned embedding per class.
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
        validation: ImageDataset | None = None,
        augment: str | None = None,
        r1: float = 0.0,
        lecam: float = 0.0,
        replay: float = 0.0,
        ensemble: int = 1,
        shaping: str = "prob",
        micro_batch: int | None = None,
        class_embeddings: torch.Tensor | None = None,
        widths: tuple[int, ...] | None = None,
    ):
        if discriminator not in DISCRIMINATORS:
            raise ValueError(f"discriminator must be one of {DISCRIMINATORS}, not {discriminator!r}")
        if update_every < 1 or steps < 1 or batch_size < 1:
            raise ValueError(
                f"update_every, steps and batch_size must be at least 1, got {update_every}, {steps}, {batch_size}"
            )
        if augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, not {augment!r}")
        if shaping not in SHAPINGS:
            raise ValueError(f"shaping must be one of {SHAPINGS}, not {shaping!r}")
        if not (r1 >= 0 and lecam >= 0 and 0 <= replay < 1):
            raise ValueError(f"need r1 >= 0, lecam >= 0 and 0 <= replay < 1; got {r1}, {lecam}, {replay}")
        if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
            raise ValueError(f"ensemble must be a whole number of discriminators, at least 1; got {ensemble!r}")
        if micro_batch is not None and (
            isinstance(micro_batch, bool) or not isinstance(micro_batch, int) or micro_batch < 1
        ):
            raise ValueError(f"micro_batch must be a whole number of inputs, at least 1 (or None), got {micro_batch!r}")
        if widths is not None and discriminator == "projected":
            raise ValueError("widths are the pixel or latent discriminator's; the projected one's heads have their own")
        if r1 and discriminator == "projected":
            raise ValueError(
                "r1 needs gradients in the images; the projected discriminator's frozen features have none"
            )
        if discriminator == "latent" and not hasattr(real, "latents"):
            raise ValueError(
                "the latent discriminator scores a VAE's latents: build it with "
                "adagen_env.rewards.latent.latent_scorer(process, real), which encodes your images"
            )
        if real is None:  # the digits: their held-out split tells memorising from learning (never trained on)
            real = load_digits("train")
            validation = load_digits("heldout") if validation is None else validation
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
            validation=validation,
            augment=augment,
            r1=r1,
            lecam=lecam,
            replay=replay,
            ensemble=ensemble,
            shaping=shaping,
            micro_batch=micro_batch,
            class_embeddings=class_embeddings,
            widths=None if widths is None else tuple(widths),
        )
        names = {"pixel": "adversarial", "projected": "adversarial-projected", "latent": "adversarial-latent"}
        self.name = names[discriminator]  # as in SCORERS
        self.kind = discriminator
        self.scores = "latents" if discriminator == "latent" else "images"  # what the env passes to __call__
        self.micro_batch = micro_batch
        self.device = torch.device(device)
        self.update_every, self.steps, self.batch_size = update_every, steps, batch_size
        self.augment, self.r1, self.lecam, self.replay, self.shaping = augment, r1, lecam, replay, shaping
        self.num_classes = real.num_classes
        self.image_shape = real.image_shape  # the env checks that its process makes images of this size
        self.image_channels = real.channels  # ... and of these channels
        if class_embeddings is not None and (class_embeddings.ndim != 2 or len(class_embeddings) != self.num_classes):
            raise ValueError(
                f"class_embeddings must be (num_classes, D) = ({self.num_classes}, D), one embedding per class; "
                f"got shape {tuple(class_embeddings.shape)}"
            )

        # real images sorted by class, so a class-matched draw is an offset into its block
        labels = real.label_tensor()
        order = torch.argsort(labels, stable=True)
        self.real_images = real.to_float()[order].to(self.device)
        self.real_labels = labels[order].to(self.device)
        self.input_shape = tuple(self.real_images.shape[1:])  # (C, H, W) of what it scores: images, or latents
        if discriminator == "latent":
            self.latent_shape = self.input_shape  # the env checks that its process's latents have this shape
        self.class_count = torch.bincount(labels, minlength=self.num_classes)
        self.class_start = torch.cumsum(self.class_count, 0) - self.class_count
        if (self.class_count == 0).any():
            missing = torch.nonzero(self.class_count == 0)[:, 0].tolist()
            raise ValueError(f"the real images hold no examples of classes {missing}; every class needs some")
        if validation is not None and validation.to_float().shape[1:] != self.real_images.shape[1:]:
            raise ValueError("the validation images must have the real images' size and channels")
        self.validation = (
            None
            if validation is None
            else (validation.to_float().to(self.device), validation.label_tensor().to(self.device))
        )

        self.generator = torch.Generator().manual_seed(seed)
        self._build(widths, class_embeddings)
        self.fake_images: list[torch.Tensor] = []
        self.fake_labels: list[torch.Tensor] = []
        nan = float("nan")  # no update yet
        # remedies' state: ADA's probability, LeCam's (real, fake) logit averages per member, the replay
        # buffer, the per-class fake-logit mean and variance per member (and how often each class was seen)
        self.ada_p = 0.0
        self.lecam_average = torch.full((ensemble, 2), nan)
        self.replay_images = torch.empty(0, *self.real_images.shape[1:], device=self.device)
        self.replay_labels = torch.empty(0, dtype=torch.long, device=self.device)
        self.class_mean = torch.zeros(ensemble, self.num_classes, device=self.device)
        self.class_var = torch.ones(ensemble, self.num_classes, device=self.device)
        self.class_seen = torch.zeros(self.num_classes, dtype=torch.long)
        self.stats: dict[str, float] = {
            "loss": nan,
            "real_logit": nan,
            "fake_logit": nan,
            "updates": 0,
            "heldout_logit": nan,
            "overfit_gap": nan,
            "ada_rt": nan,
            **({"ada_p": self.ada_p} if augment == "ada" else {}),
        }

    def _build(self, widths: tuple[int, ...] | None, class_embeddings: torch.Tensor | None) -> None:
        """The discriminators (seeded ``seed``, ``seed + 1``, ...) and their optimizers, and ``architecture``."""
        if self.kind != "projected" and widths is None:
            widths = pixel_widths(self.input_shape[1:])
        self.widths, self.class_embeddings = (None if widths is None else tuple(widths)), class_embeddings
        # what a saved state records, so that it loads into the same shape
        self.architecture = {
            "discriminator": self.kind,
            "widths": None if widths is None else list(widths),
            "embedding_dim": None if class_embeddings is None else int(class_embeddings.shape[1]),
        }
        config = self.config
        self.discriminators = [self._discriminator(config["seed"] + k) for k in range(config["ensemble"])]
        self.optimizers = [
            torch.optim.Adam([p for p in d.parameters() if p.requires_grad], lr=config["lr"], betas=config["betas"])
            for d in self.discriminators
        ]

    def _discriminator(self, seed: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
            torch.default_generator.manual_seed(seed)  # the CPU's only: torch.manual_seed would reseed every GPU too
            embeddings = self.class_embeddings
            if self.kind != "projected":
                inputs = "latents" if self.kind == "latent" else "images"
                d = Discriminator(
                    self.num_classes,
                    channels=self.input_shape[0],
                    widths=self.widths,
                    inputs=inputs,
                    class_embeddings=embeddings,
                )
                return d.to(self.device).eval()
            features = load_projection_features(self.device)
            d = ProjectedDiscriminator(features, self.num_classes, self.input_shape, class_embeddings=embeddings)
            return d.to(self.device).eval()

    @property
    def discriminator(self) -> nn.Module:
        """The (first) discriminator."""
        return self.discriminators[0]

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.optimizers[0]

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
        expected = self.input_shape
        if tuple(images.shape[-3:]) != expected:
            what = "latents" if self.scores == "latents" else "images"
            raise ValueError(f"expected {what} of shape (C, H, W) = {expected}, got {tuple(images.shape[-3:])}")
        labels = labels.to(self.device)
        logits = self.logits(images.detach().to(self.device), labels)
        if self.shaping == "class-norm":
            logits = (logits - self.class_mean[:, labels]) / self.class_var[:, labels].sqrt().clamp(min=1e-3)
        if self.shaping == "logd":  # log of the members' mean probability, in log space for precision
            rewards = (torch.logsumexp(F.logsigmoid(logits), 0) - math.log(len(logits))).clamp(min=LOGD_FLOOR)
        else:
            rewards = torch.sigmoid(logits).mean(0)
        return rewards.to(images.device)

    @torch.no_grad()
    def logits(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Every member's logits (ensemble, B) of images on this scorer's device (in ``micro_batch`` chunks)."""
        return torch.stack([self._chunked(d, images, labels) for d in self.discriminators])

    def _chunked(self, discriminator: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        m = self.micro_batch
        if m is None or len(images) <= m:
            return discriminator(images, labels)
        return torch.cat([discriminator(images[i : i + m], labels[i : i + m]) for i in range(0, len(images), m)])

    def update(self) -> None:
        """``steps`` discriminator steps on the buffered fakes vs class-matched reals; clears the buffer."""
        fake_images, fake_labels = torch.cat(self.fake_images), torch.cat(self.fake_labels)
        self.fake_images, self.fake_labels = [], []
        n = min(self.batch_size, len(fake_images))
        for d in self.discriminators:
            d.train()
        with torch.enable_grad():  # the env may step under no_grad (our PPO's rollouts do)
            stats = self._train_steps(fake_images, fake_labels, n)
        for d in self.discriminators:
            d.eval()  # before the held-out logit: a forward pass in training mode moves spectral norm's estimate
        heldout = self.heldout_logit()
        self.stats = {
            **stats,
            "updates": self.stats["updates"] + 1,
            "heldout_logit": heldout,
            "overfit_gap": stats["real_logit"] - heldout,
            **({"ada_p": self.ada_p} if self.augment == "ada" else {}),
        }
        if self.replay:
            self.replay_images = torch.cat([self.replay_images, fake_images])[-REPLAY_CAPACITY:]
            self.replay_labels = torch.cat([self.replay_labels, fake_labels])[-REPLAY_CAPACITY:]
        if self.shaping == "class-norm":
            self._update_class_stats(self.logits(fake_images, fake_labels), fake_labels)

    def _train_steps(self, fake_images: torch.Tensor, fake_labels: torch.Tensor, n: int) -> dict[str, float]:
        """Every member's steps (and ADA's adjustment of p); the update's loss, logits and r_t."""
        losses, real_means, fake_means, signs = [], [], [], []
        for k, (discriminator, optimizer) in enumerate(zip(self.discriminators, self.optimizers)):
            images, labels_k = fake_images, fake_labels
            if len(self.discriminators) > 1:  # each member's own bootstrap resample of the update's fakes
                resample = torch.randint(len(fake_images), (len(fake_images),), generator=self.generator)
                images, labels_k = fake_images[resample.to(self.device)], fake_labels[resample.to(self.device)]
            for _ in range(self.steps):
                fakes, labels = self.draw_fakes(images, labels_k, n)
                reals = self.sample_real(labels)
                if self.augment is not None:
                    probability = 1.0 if self.augment == "diffaug" else self.ada_p
                    reals, fakes = (
                        augmented(reals, probability, self.generator),
                        augmented(fakes, probability, self.generator),
                    )
                if self.micro_batch is not None and 2 * n > self.micro_batch:
                    optimizer.zero_grad()
                    real_logits, fake_logits, loss = self._accumulate(discriminator, reals, fakes, labels, k)
                    average_gradients(discriminator.parameters())
                    optimizer.step()
                    signs.append(torch.sign(real_logits))
                    continue
                if self.r1:
                    reals = reals.detach().requires_grad_(True)
                logits = discriminator(torch.cat([reals, fakes]), torch.cat([labels, labels]))
                real_logits, fake_logits = logits[:n], logits[n:]
                loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
                if self.r1:
                    loss = loss + self.r1_penalty(real_logits, reals)
                if self.lecam:
                    loss = loss + self.lecam * self.lecam_penalty(k, real_logits, fake_logits)
                optimizer.zero_grad()
                loss.backward()
                average_gradients(discriminator.parameters())  # under torchrun: every rank's samples count
                optimizer.step()
                signs.append(torch.sign(real_logits.detach()))
            losses.append(loss.item())
            real_means.append(real_logits.mean().item())
            fake_means.append(fake_logits.mean().item())
        rt = torch.cat(signs).mean().item()
        if self.augment == "ada":  # ADA: more augmentation while the discriminator is too sure of the reals
            step = self.steps * n / ADA_IMAGES
            self.ada_p = min(max(self.ada_p + (step if rt > ADA_TARGET else -step), 0.0), 1.0)
        return {
            "loss": sum(losses) / len(losses),
            "real_logit": sum(real_means) / len(real_means),
            "fake_logit": sum(fake_means) / len(fake_means),
            "ada_rt": rt,
        }

    def _accumulate(
        self, discriminator: nn.Module, reals: torch.Tensor, fakes: torch.Tensor, labels: torch.Tensor, member: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step's gradients in ``micro_batch`` chunks (reals, then fakes), accumulated: the loss, R1 and
        LeCam are sums over samples, so the gradients are the whole batch's. Spectral norm's power
        iteration runs once, at the first chunk (in training mode), as it does for the whole batch; the
        other chunks run in eval mode with the same normalised weights. Returns the detached real and fake
        logits and the loss."""
        n, m = len(reals), self.micro_batch
        chunks = [(real, i, min(i + m, n)) for real in (True, False) for i in range(0, n, m)]
        first = [True]

        def forward(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            discriminator.train(first[0])  # the power iteration once per step
            first[0] = False
            return discriminator(x, y)

        try:
            if self.lecam:  # LeCam's averages move with the whole batch's mean logits before its penalty
                with torch.no_grad():
                    before = [forward((reals if r else fakes)[a:b], labels[a:b]) for r, a, b in chunks]
                half = len(before) // 2
                self.lecam_penalty(member, torch.cat(before[:half]), torch.cat(before[half:]))
                a_real, a_fake = self.lecam_average[member].tolist()
            total, logits = torch.zeros((), device=self.device), []
            for real, a, b in chunks:
                x = (reals if real else fakes)[a:b]
                if real and self.r1:
                    x = x.detach().requires_grad_(True)
                out = forward(x, labels[a:b])
                loss = F.softplus(-out if real else out).sum() / n
                if real and self.r1:
                    loss = loss + self.r1_penalty(out, x) * (b - a) / n
                if self.lecam:
                    gap = F.relu(out - a_fake) if real else F.relu(a_real - out)
                    loss = loss + self.lecam * gap.pow(2).sum() / n
                loss.backward()
                total += loss.detach()
                logits.append(out.detach())
        finally:
            discriminator.train()
        half = len(logits) // 2
        return torch.cat(logits[:half]), torch.cat(logits[half:]), total

    def draw_fakes(self, images: torch.Tensor, labels: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` of the update's fakes, without replacement; with ``replay``, that share of them from the buffer."""
        replayed = round(self.replay * n) if len(self.replay_labels) else 0
        pick = torch.randperm(len(images), generator=self.generator)[: n - replayed].to(self.device)
        if not replayed:
            return images[pick], labels[pick]
        old = torch.randint(len(self.replay_labels), (replayed,), generator=self.generator).to(self.device)
        return torch.cat([images[pick], self.replay_images[old]]), torch.cat([labels[pick], self.replay_labels[old]])

    def r1_penalty(self, real_logits: torch.Tensor, reals: torch.Tensor) -> torch.Tensor:
        """gamma/2 E||grad_x D(x)||^2 over the real inputs as the discriminator saw them (Mescheder et al. 2018)."""
        (grad,) = torch.autograd.grad(real_logits.sum(), reals, create_graph=True)
        return self.r1 / 2 * grad.pow(2).flatten(1).sum(1).mean()

    def lecam_penalty(self, member: int, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """LeCam's regulariser against member's moving averages of the logits, which it then updates."""
        average = self.lecam_average[member]
        current = torch.stack([real_logits.detach().mean(), fake_logits.detach().mean()]).cpu()
        average.copy_(torch.where(average.isnan(), current, LECAM_DECAY * average + (1 - LECAM_DECAY) * current))
        a_real, a_fake = average.tolist()
        return F.relu(real_logits - a_fake).pow(2).mean() + F.relu(a_real - fake_logits).pow(2).mean()

    def _update_class_stats(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Move each seen class's fake-logit mean and variance (per member) toward this update's."""
        for c in labels.unique().tolist():
            mine = logits[:, labels == c]
            decay = CLASS_NORM_DECAY if self.class_seen[c] else 0.0  # the first update sets them
            var = mine.var(dim=1, unbiased=False) if mine.shape[1] > 1 else self.class_var[:, c]
            self.class_mean[:, c] = decay * self.class_mean[:, c] + (1 - decay) * mine.mean(dim=1)
            self.class_var[:, c] = decay * self.class_var[:, c] + (1 - decay) * var
            self.class_seen[c] += 1

    @torch.no_grad()
    def heldout_logit(self) -> float:
        """The mean logit (over the members) on the validation images; NaN without them."""
        if self.validation is None:
            return float("nan")
        return self.logits(*self.validation).mean().item()

    def sample_real(self, labels: torch.Tensor) -> torch.Tensor:
        """One random real training image of each asked class: the real side sees the fakes' class mix."""
        labels = labels.cpu()
        u = torch.rand(len(labels), generator=self.generator, dtype=torch.float64)
        index = self.class_start[labels] + (u * self.class_count[labels]).long()
        return self.real_images[index.to(self.device)]

    def state_dict(self) -> dict:
        """Everything a training checkpoint needs to resume exactly: weights, optimizer, RNG, buffer, stats,
        and the remedies' state (the other ensemble members, ADA's p, LeCam's averages, replay, class stats)."""
        empty = torch.empty(0, dtype=torch.long, device=self.device)
        return {
            "architecture": dict(self.architecture),
            "discriminator": self.discriminator.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "fake_images": torch.cat(self.fake_images) if self.fake_images else empty.float(),
            "fake_labels": torch.cat(self.fake_labels) if self.fake_labels else empty,
            "stats": dict(self.stats),
            "members": [
                {"discriminator": d.state_dict(), "optimizer": o.state_dict()}
                for d, o in zip(self.discriminators[1:], self.optimizers[1:])
            ],
            "ada_p": self.ada_p,
            "lecam_average": self.lecam_average.clone(),
            "replay_images": self.replay_images,
            "replay_labels": self.replay_labels,
            "class_mean": self.class_mean.clone(),
            "class_var": self.class_var.clone(),
            "class_seen": self.class_seen.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        self._load_architecture(state)
        members = state.get("members", [])  # checkpoints from before the remedies hold one discriminator
        if len(members) != len(self.discriminators) - 1:
            raise ValueError(
                f"the checkpoint holds {len(members) + 1} discriminators, this scorer {len(self.discriminators)}"
            )
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
        for d, o, member in zip(self.discriminators[1:], self.optimizers[1:], members):
            d.load_state_dict(member["discriminator"])
            o.load_state_dict(member["optimizer"])
        self.generator.set_state(state["generator"])
        has_fakes = len(state["fake_labels"]) > 0
        self.fake_images = [state["fake_images"].to(self.device)] if has_fakes else []
        self.fake_labels = [state["fake_labels"].to(self.device)] if has_fakes else []
        self.stats = dict(state["stats"])
        if "ada_p" in state:
            self.ada_p = state["ada_p"]
            self.lecam_average = state["lecam_average"].clone()
            self.replay_images = state["replay_images"].to(self.device)
            self.replay_labels = state["replay_labels"].to(self.device)
            self.class_mean = state["class_mean"].to(self.device)
            self.class_var = state["class_var"].to(self.device)
            self.class_seen = state["class_seen"].clone()

    def _load_architecture(self, state: dict) -> None:
        """Rebuild the discriminators in the shape the state records (a state from before records none:
        the 3-convolution pixel discriminator); the weights then load into it."""
        saved = state.get("architecture")
        if saved is None:
            widths = LEGACY_WIDTHS if self.kind == "pixel" else None
            saved = {"discriminator": self.kind, "widths": widths, "embedding_dim": None}
        if saved["discriminator"] != self.kind:
            raise ValueError(f"the state holds a {saved['discriminator']} discriminator, this scorer a {self.kind} one")
        if saved == self.architecture:
            return
        embeddings = None
        if saved["embedding_dim"] is not None:  # a placeholder: the saved embeddings load into it
            key = next(k for k in state["discriminator"] if k.endswith("class_embeddings"))
            embeddings = state["discriminator"][key].to(self.device)
        widths = None if saved["widths"] is None else tuple(saved["widths"])
        self._build(widths, embeddings)
        self.config.update(widths=widths, class_embeddings=embeddings)  # pickling rebuilds this shape

    # spectral-normed (parametrized) modules only serialise through state_dict, so pickling
    # (the single env gets pickled) rebuilds the scorer from its arguments and its state
    def __getstate__(self) -> dict:
        return {"config": self.config, "state": self.state_dict(), "name": self.name}

    def __setstate__(self, saved: dict) -> None:
        self.__init__(**saved["config"])
        self.load_state_dict(saved["state"])
        self.name = saved.get("name", self.name)  # a preset's name, as make_scorer gave it


class ScoringOnly:
    """An :class:`AdversarialScorer` that scores without training: for evaluation envs beside training ones."""

    min_batch_size = 1

    def __init__(self, scorer: AdversarialScorer):
        self.scorer, self.name, self.scores = scorer, scorer.name, scorer.scores
        self.image_shape, self.image_channels = scorer.image_shape, scorer.image_channels
        if scorer.scores == "latents":
            self.latent_shape = scorer.latent_shape

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.scorer.score(images, labels)
