"""A diffusers denoiser and scheduler as a process: per-sample time steps and guidance for your own model.

Supported: class-conditional DiT (``DiTTransformer2DModel`` or ``Transformer2DModel`` with
``num_embeds_ada_norm``; a learned-sigma output, twice the input channels, keeps its first half
as ``DiTPipeline`` does), ``UNet2DModel``, unconditional or class-conditional (``num_class_embeds``,
or ``class_embed_type="timestep"`` with ``num_classes``), and the text-to-image
``UNet2DConditionModel`` of the Stable Diffusion family (1.x, 2.x: no added embeddings), whose
labels are prompts (:mod:`adagen_env.processes.prompts`); latents decode through an
``AutoencoderKL``. Schedulers: ``DDIMScheduler`` (eta 0), ``DPMSolverMultistepScheduler``
(DPM-Solver++, order 1 or 2, midpoint) and ``FlowMatchEulerDiscreteScheduler`` (a model that
predicts the velocity of a rectified flow).

Why the solvers are reimplemented: a diffusers scheduler keeps one step index for the whole
batch, but here every sample has its own time. So the process takes only the scheduler's
``alphas_cumprod`` (or sigmas), its times for ``num_steps`` (the pipeline's own schedule) and
its settings, and steps each sample with the DDIM update below,
:func:`adagen_env.processes.solvers.dpm_solver_pp` or :func:`adagen_env.processes.solvers.euler`; tests check each
against the scheduler's ``step``.

Times: DDIM and DPM-Solver++ use the scheduler's integer training timesteps, -1 (``END``) being
the clean end, with the scheduler's final ``alphas_cumprod`` (1, or that of timestep 0); flow
matching uses the scheduler's sigma, from 1 (noise) to its last sigma (0), and gives the model
sigma x ``num_train_timesteps``. ``time_step`` is the fraction of the remaining distance to the
end that a step covers (rounded to a whole timestep on the integer time line), moving by at
least one training timestep, as in :mod:`adagen_env.processes.continuous`. ``guidance`` w
(``cond + w (cond - uncond)``, a diffusers ``guidance_scale`` of 1 + w) exists only when the model is
class-conditional or text-conditional and the pipeline guides (``guidance_scale > 1``): there is no
null class otherwise, and a guidance floor would not give the unguided pipeline at the zero action. The
zero action is the pipeline's own timesteps and guidance scale.

Classes: the env's labels are 0..``num_classes``-1; ``class_ids`` maps them to the model's own
class ids (your four image folders to four of a DiT's 1,000 ImageNet classes), so that the env
draws, the policy sees and the reward scores only your classes. An unconditional model has one
class, label 0. A text-to-image model's labels are its prompts (``prompts``), and the policy sees
each prompt's embedding instead of its label. ``config_sha256`` identifies the pipeline for a policy
trained on it.

Memory: ``micro_batch`` runs the model and the VAE on at most that many samples at a time (a
guided call on twice that), for batches whose activations would not fit at once; the images are
the same.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from adagen_env.processes.base import layer_norm_bound, to_rgb
from adagen_env.processes.continuous import next_times
from adagen_env.processes.prompts import Prompts
from adagen_env.processes.schedules import StepParameter
from adagen_env.processes.solvers import dpm_solver_pp, euler, guided, per_sample
from adagen_env.runtime.files import one_line

END = -1  # the clean end of the time line, one below timestep 0
SUPPORTED_MODELS = ("DiTTransformer2DModel", "Transformer2DModel", "UNet2DModel", "UNet2DConditionModel")
SUPPORTED_SCHEDULERS = ("DDIMScheduler", "DPMSolverMultistepScheduler", "FlowMatchEulerDiscreteScheduler")
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")
TIME_STEP = StepParameter("time_step", "sigmoid", action_scale=2.0, floor=1e-4)
GUIDANCE = StepParameter("guidance", "softplus", action_scale=2.0)


def _diffusers():
    try:
        import diffusers
    except ImportError as e:
        raise ImportError("the diffusers adapter needs diffusers: pip install 'adagen[diffusers]'") from e
    return diffusers


@dataclass
class DiffusersState:
    x: torch.Tensor  # (B, C, H, W) latents (or pixels) in the model's dtype
    t: torch.Tensor  # (B,) int64 timesteps (END once finished), or float64 sigmas for flow matching
    labels: torch.Tensor  # (B,)
    step: int = 0
    cond: torch.Tensor | None = None  # (B, C, H, W) model output at (x, t); None after the last step
    uncond: torch.Tensor | None = None  # the same with the null class, when guided
    hidden: torch.Tensor | None = None  # (B, width) mean of the model's last norm over positions
    memory: dict[str, torch.Tensor] = field(default_factory=dict)  # DPM-Solver++(2M)'s previous estimate


def x0_and_eps(
    output: torch.Tensor, x: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor, prediction_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean estimate and noise (float64) from a model output, as diffusers' schedulers read it."""
    output, x = output.double(), x.double()
    a, s = per_sample(alpha, x), per_sample(sigma, x)
    if prediction_type == "epsilon":
        return (x - s * output) / a, output
    if prediction_type == "sample":
        return output, (x - a * output) / s
    return a * x - s * output, a * output + s * x  # v_prediction


def ddim_step(x: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, alpha_cumprod_next: torch.Tensor) -> torch.Tensor:
    """DDIM with eta 0, per sample: ``sqrt(a') x0 + sqrt(1 - a') eps``. Written in this form (not as
    first-order DPM-Solver++) because DDIMScheduler clips ``x0`` but keeps the model's ``eps``."""
    x_next = per_sample(alpha_cumprod_next.sqrt(), x0) * x0 + per_sample((1 - alpha_cumprod_next).sqrt(), eps) * eps
    return x_next.to(x.dtype)


class DiffusersProcess:
    """A diffusers model + scheduler as a :class:`~adagen_env.processes.base.Process` for ``num_steps`` decisions
    (the pipeline's schedule depends on the step count, so a process follows one).

    ``guidance_scale`` is the pipeline's (DiTPipeline: 4.0; > 1 guides). ``class_ids`` are the
    model's class ids of the env's labels 0..C-1 (default: the model's classes 0..``num_classes``-1);
    ``num_classes`` defaults to the model's own (a DiT's ``num_embeds_ada_norm``; a UNet's
    ``num_class_embeds``, needed for ``class_embed_type="timestep"``), and more classes than the
    model has, or any for an unconditional model, are refused. ``null_class`` is needed only to
    guide a class-conditional UNet (a DiT's is ``num_embeds_ada_norm``, 1000 for ImageNet, as in
    DiTPipeline). A ``UNet2DConditionModel`` takes ``prompts`` instead (:class:`Prompts`, encoded by
    the pipeline's text encoder); it guides with the empty prompt. ``micro_batch``: model calls and
    decodes on at most that many samples at once. The model and the VAE are put in eval mode (a DiT in
    train mode drops labels at random) and never copied.
    """

    pipeline_class: str | None = None  # the pipeline's class name (set by from_pipeline)
    source: str | None = None  # the folder or hub id the pipeline was loaded from (set by from_pipeline)

    def __init__(
        self,
        model: nn.Module,
        scheduler: Any,
        num_steps: int,
        vae: nn.Module | None = None,
        guidance_scale: float = 1.0,
        num_classes: int | None = None,
        null_class: int | None = None,
        class_ids: Sequence[int] | None = None,
        prompts: Prompts | None = None,
        micro_batch: int | None = None,
    ):
        diffusers = _diffusers()
        config = getattr(model, "config", None)
        self.prompts = None
        if isinstance(model, diffusers.UNet2DConditionModel):
            _check_text_model(config, prompts, num_classes, class_ids)
            self.kind, self.class_conditional, self.prompts = "text", False, prompts
            model_classes = None
            self.feature_norm = model.conv_norm_out
        elif prompts is not None:
            raise ValueError(f"prompts are for a text-to-image UNet2DConditionModel, not a {type(model).__name__}")
        elif isinstance(model, (diffusers.DiTTransformer2DModel, diffusers.Transformer2DModel)):
            if config.norm_type != "ada_norm_zero" or config.patch_size is None or not config.num_embeds_ada_norm:
                raise ValueError(
                    "a Transformer2DModel is supported only as a class-conditional DiT "
                    "(norm_type='ada_norm_zero', patch_size and num_embeds_ada_norm set)"
                )
            self.kind, self.class_conditional = "dit", True
            model_classes = null_class = config.num_embeds_ada_norm
            self.feature_norm = model.norm_out
        elif isinstance(model, diffusers.UNet2DModel):
            self.kind, self.class_conditional = "unet", model.class_embedding is not None
            if config.class_embed_type not in (None, "timestep"):
                raise ValueError(
                    f"UNet2DModel class_embed_type={config.class_embed_type!r} is not supported; "
                    "supported: None (num_class_embeds) or 'timestep' (with num_classes)"
                )
            model_classes = config.num_class_embeds
            if self.class_conditional and model_classes is None and num_classes is None and class_ids is None:
                raise ValueError(
                    "a class-conditional UNet2DModel with class_embed_type='timestep' needs num_classes=..."
                )
            self.feature_norm = model.conv_norm_out
        else:
            raise ValueError(f"model must be one of {list(SUPPORTED_MODELS)}, not {type(model).__name__}")
        self.model, self.vae = model.eval(), None if vae is None else vae.eval()
        self.device, self.dtype = model.device, model.dtype
        self.micro_batch = _check_micro_batch(micro_batch)
        self.class_ids = None if self.prompts is not None else self._class_ids(num_classes, class_ids, model_classes)
        self.num_classes = (
            len(self.prompts) if self.prompts is not None else 1 if self.class_ids is None else len(self.class_ids)
        )
        self.observes_label = self.prompts is None  # a prompt's number means nothing to a policy: its embedding does
        # the model's class id by env label, for indexing on the model's device
        self.model_labels = None if self.class_ids is None else torch.tensor(self.class_ids, device=self.device)
        self.guidance_scale = float(guidance_scale)
        guides = (self.class_conditional or self.prompts is not None) and self.guidance_scale > 1
        if guides and self.class_conditional and null_class is None:
            raise ValueError(
                "guidance_scale > 1 needs the null class of the model (null_class=...); or pass guidance_scale=1"
            )
        self.null_class = null_class if guides and self.class_conditional else None
        self.guides = guides
        if self.null_class is not None and self.null_class in self.class_ids:
            raise ValueError(
                f"the classes include the null class {self.null_class} (the unguided pass's); pass num_classes="
                f"{self.null_class} or class_ids without it"
            )
        self.parameters = (TIME_STEP, GUIDANCE) if guides else (TIME_STEP,)
        self.channels = config.in_channels
        size = config.sample_size
        self.latent_shape = (self.channels, *((size, size) if isinstance(size, int) else size))
        scale = 1 if vae is None else 2 ** (len(vae.config.block_out_channels) - 1)
        self.image_shape = (self.latent_shape[1] * scale, self.latent_shape[2] * scale)
        self.image_channels = self.channels if vae is None else vae.config.out_channels
        self.hidden_bound = _norm_bound(self.feature_norm)
        # the last norm's mean, the sample's own time, and a prompt's embedding
        self.feature_dim = len(self.hidden_bound) + 1 + (0 if self.prompts is None else self.prompts.dim)
        self._set_scheduler(diffusers, scheduler, num_steps)
        self.default_num_steps = self.num_steps = num_steps
        self.named_schedules = {"hand-designed": {}}
        self.config_sha256 = config_sha256(model, scheduler, vae)  # from_pipeline adds a text encoder's

    def _class_ids(
        self, num_classes: int | None, class_ids: Sequence[int] | None, model_classes: int | None
    ) -> tuple[int, ...] | None:
        """The model's class id of each env label (``None``: unconditional, one label); one line for
        classes the model does not have."""
        if not self.class_conditional:
            if class_ids is not None or num_classes not in (None, 1):
                given = f"class_ids={list(class_ids)}" if class_ids is not None else f"num_classes={num_classes}"
                raise ValueError(
                    f"this {type(self.model).__name__} is unconditional: it makes one class, so {given} has no "
                    "meaning; score it against your images as one class (ImageDataset.as_one_class())"
                )
            return None
        if class_ids is None:
            count = num_classes or model_classes
            if model_classes is not None and count > model_classes:
                raise ValueError(f"num_classes={count}, but the model has {model_classes} classes")
            return tuple(range(count))
        ids = tuple(int(i) for i in class_ids)
        if not ids or (num_classes is not None and num_classes != len(ids)):
            raise ValueError(f"class_ids must give one model class per label; got {list(ids)} for {num_classes}")
        limit = model_classes if model_classes is not None else num_classes
        outside = [i for i in ids if i < 0 or (limit is not None and i >= limit)]
        if outside:
            raise ValueError(f"class_ids {outside} are not classes of the model (0..{limit - 1})")
        return ids

    def _set_scheduler(self, diffusers, scheduler: Any, num_steps: int) -> None:
        """Read the pipeline's timesteps and the scheduler's settings; refuse what the solvers here do not do."""
        config = scheduler.config
        if not isinstance(scheduler, tuple(getattr(diffusers, name) for name in SUPPORTED_SCHEDULERS)):
            raise ValueError(f"scheduler must be one of {list(SUPPORTED_SCHEDULERS)}, not {type(scheduler).__name__}")
        self.num_train_timesteps = config.num_train_timesteps
        if isinstance(scheduler, diffusers.FlowMatchEulerDiscreteScheduler):
            self._set_flow_matching(scheduler, num_steps)
            return
        if config.prediction_type not in PREDICTION_TYPES or config.thresholding:
            raise ValueError(
                f"supported: prediction_type in {list(PREDICTION_TYPES)} without thresholding, "
                f"not {config.prediction_type!r} (thresholding={config.thresholding})"
            )
        copy = type(scheduler).from_config(config)  # set_timesteps changes a scheduler: leave the pipeline's alone
        copy.set_timesteps(num_steps)
        timesteps = copy.timesteps.long().tolist()
        if any(a <= b for a, b in zip(timesteps, timesteps[1:])):
            raise ValueError(f"{type(scheduler).__name__} repeats timesteps at num_steps={num_steps}; use fewer steps")
        alphas_cumprod = scheduler.alphas_cumprod.double()
        if isinstance(scheduler, diffusers.DDIMScheduler):
            self.solver = "ddim"
            # DDIMScheduler steps to t - T // num_steps, which is its next timestep only with some spacings
            ratio = config.num_train_timesteps // num_steps
            targets = [t - ratio for t in timesteps]
            if targets[:-1] != timesteps[1:] or targets[-1] >= 0:
                raise ValueError(
                    f"DDIMScheduler(timestep_spacing={config.timestep_spacing!r}) does not step to its own next "
                    f"timesteps at num_steps={num_steps}; supported: timestep_spacing='leading'"
                )
            final = float(scheduler.final_alpha_cumprod)
            self.clip = config.clip_sample_range if config.clip_sample else None
        else:
            unsupported = [
                f"{key}={config[key]!r}"
                for key, ok in (
                    ("algorithm_type", config.algorithm_type == "dpmsolver++"),
                    ("solver_order", config.solver_order in (1, 2)),
                    ("solver_type", config.solver_type == "midpoint"),
                    ("variance_type", config.variance_type is None),
                    *(
                        (key, not config.get(key))
                        for key in (
                            "use_karras_sigmas",
                            "use_lu_lambdas",
                            "use_exponential_sigmas",
                            "use_beta_sigmas",
                            "use_flow_sigmas",
                        )
                    ),
                )
                if not ok
            ]
            if unsupported:
                raise ValueError(
                    f"DPMSolverMultistepScheduler: supported is dpmsolver++ of order 1 or 2, midpoint, on the "
                    f"training timesteps; not {', '.join(unsupported)}"
                )
            self.solver = "dpm-solver++"
            final = 1.0 if config.final_sigmas_type == "zero" else float(alphas_cumprod[0])
            final_first_order = (
                config.euler_at_final
                or (config.lower_order_final and num_steps < 15)
                or config.final_sigmas_type == "zero"
            )
            # whether step k may be second order (the first step is first order anyway: no previous estimate)
            self.second_order = [
                config.solver_order == 2 and not (k == num_steps - 1 and final_first_order) for k in range(num_steps)
            ]
        self.times, self.t_end, self.min_gap, self.noise_time = timesteps, END, 1.0, config.num_train_timesteps - 1
        self.prediction_type = config.prediction_type
        # alphas_cumprod by time + 1, so that END (-1) reads the final value
        self.alphas_cumprod = torch.cat([torch.tensor([final], dtype=torch.float64), alphas_cumprod]).to(self.device)

    def _set_flow_matching(self, scheduler: Any, num_steps: int) -> None:
        """The scheduler's sigmas for ``num_steps`` (any shift or sigma spacing); refuse what needs more."""
        config = scheduler.config
        unsupported = [
            f"{key}={config.get(key)!r}"
            for key in ("use_dynamic_shifting", "invert_sigmas", "stochastic_sampling")
            if config.get(key)
        ]
        if unsupported:
            raise ValueError(
                f"FlowMatchEulerDiscreteScheduler: supported is the deterministic Euler step on a fixed "
                f"shift; not {', '.join(unsupported)}"
            )
        copy = type(scheduler).from_config(config)
        copy.set_timesteps(num_steps)
        sigmas = copy.sigmas.double().tolist()
        gaps = [a - b for a, b in zip(sigmas, sigmas[1:])]
        if min(gaps) <= 0:
            raise ValueError(
                f"FlowMatchEulerDiscreteScheduler repeats sigmas at num_steps={num_steps}; use fewer steps"
            )
        self.solver = "euler"
        # one training timestep, or the pipeline's own smallest step if smaller (a strong shift)
        self.times, self.t_end, self.noise_time = sigmas[:-1], sigmas[-1], 1.0
        self.min_gap = min(1 / self.num_train_timesteps, min(gaps))

    # ------------------------------------------------------------------ schedules

    def check_num_steps(self, num_steps: int) -> None:
        if num_steps != self.num_steps:
            raise ValueError(
                f"this DiffusersProcess follows the pipeline's {self.num_steps}-step schedule; "
                f"build one with num_steps={num_steps} instead"
            )

    def nfe(self, num_steps: int) -> int:
        """One (guided, batched) model evaluation per decision."""
        return num_steps

    def static_schedule(self, num_steps: int, guidance: float | None = None) -> torch.Tensor:
        """The pipeline's timesteps as fractions of the remaining distance, with a constant guidance (T, P)."""
        self.check_num_steps(num_steps)
        times = torch.tensor([*self.times, self.t_end], dtype=torch.float64)
        fraction = (times[:-1] - times[1:]) / (times[:-1] - self.t_end)
        if len(self.parameters) == 1:
            return fraction[:, None].float()
        guidance = self.guidance_scale - 1 if guidance is None else guidance
        return torch.stack([fraction, torch.full_like(fraction, guidance)], dim=-1).float()

    def baseline(self, num_steps: int) -> torch.Tensor:
        return self.static_schedule(num_steps)

    # ------------------------------------------------------------------ model calls

    def reset(self, labels: torch.Tensor, generator: torch.Generator) -> DiffusersState:
        # the pipelines' initial noise: randn_tensor with one generator is torch.randn on its device
        x = torch.randn((len(labels), *self.latent_shape), generator=generator, device=self.device, dtype=self.dtype)
        dtype = torch.float64 if self.solver == "euler" else torch.long
        t = torch.full((len(labels),), self.times[0], dtype=dtype, device=self.device)
        return self._with_forward(DiffusersState(x, t, labels.to(self.device)))

    @torch.no_grad()
    def _with_forward(self, state: DiffusersState) -> DiffusersState:
        """The state with the model's outputs at (x, t), as the pipelines batch them (cond, then uncond),
        ``micro_batch`` samples at a time."""
        parts = [self._forward(state.x[c], state.t[c], state.labels[c]) for c in self._chunks(len(state.x))]
        state.cond = torch.cat([cond for cond, _, _ in parts])
        state.uncond = torch.cat([uncond for _, uncond, _ in parts]) if self.guides else None
        state.hidden = torch.cat([hidden for _, _, hidden in parts])
        return state

    def _forward(
        self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """One model call on a batch: the conditional output, the unconditional one (when guided), and
        the mean of the model's last norm (the policy's features)."""
        batch = len(x)
        if self.solver == "euler":  # flow-matching models take sigma x num_train_timesteps, as the scheduler's
            t = (t * self.num_train_timesteps).float()
        if self.guides:
            x, t = torch.cat([x, x]), torch.cat([t, t])
        condition: dict[str, torch.Tensor] = {}
        if self.prompts is not None:
            embeds = self.prompts.embeds[labels]
            if self.guides:
                embeds = torch.cat([embeds, self.prompts.null.expand_as(embeds)])
            condition["encoder_hidden_states"] = embeds
        elif self.model_labels is not None:
            model_labels = self.model_labels[labels]
            if self.guides:
                model_labels = torch.cat([model_labels, torch.full_like(model_labels, self.null_class)])
            condition["class_labels"] = model_labels
        hidden = []
        hook = self.feature_norm.register_forward_hook(lambda module, inputs, output: hidden.append(output))
        try:
            if self.kind == "dit":
                output = self.model(x, timestep=t, **condition).sample
            else:
                output = self.model(x, t, **condition).sample
        finally:
            hook.remove()
        output = output[:, : self.channels]  # a learned sigma (twice the channels) is not used, as in DiTPipeline
        norm = hidden[-1][:batch].float()
        features = norm.mean(dim=1) if self.kind == "dit" else norm.mean(dim=(2, 3))  # over tokens / pixels
        return output[:batch], (output[batch:] if self.guides else None), features

    def _chunks(self, batch: int) -> list[slice]:
        """The slices of a batch that one model call or decode takes (all of it without ``micro_batch``)."""
        size = self.micro_batch or max(batch, 1)
        return [slice(start, start + size) for start in range(0, batch, size)]

    @torch.no_grad()
    def step(
        self, state: DiffusersState, values: dict[str, torch.Tensor], num_steps: int, generator: torch.Generator
    ) -> DiffusersState:
        output = state.cond
        if self.guides:
            output = guided(state.cond, state.uncond, values["guidance"].to(self.device, self.dtype))
        remaining = num_steps - state.step
        t_next = next_times(
            state.t.double(), values["time_step"].to(self.device), remaining, self.times[0], self.t_end, self.min_gap
        )
        if self.solver == "euler":
            x, memory = euler(None, state.x, state.t, t_next, output, {}, remaining == 1)
            return self._next(state, x.to(self.dtype), t_next, memory, num_steps)
        t_next = t_next.round().long()
        a, a_next = self.alphas_cumprod[state.t + 1], self.alphas_cumprod[t_next + 1]
        alpha, sigma = a.sqrt(), (1 - a).sqrt()
        x0, eps = x0_and_eps(output, state.x, alpha, sigma, self.prediction_type)
        memory = {}
        if self.solver == "ddim":
            if self.clip is not None:
                x0 = x0.clamp(-self.clip, self.clip)
            x = ddim_step(state.x, x0, eps, a_next)
        else:
            second = self.second_order[state.step]
            x, memory = dpm_solver_pp(
                state.x, x0, alpha, sigma, a_next.sqrt(), (1 - a_next).sqrt(), state.memory, second
            )
        return self._next(state, x, t_next, memory, num_steps)

    def _next(
        self,
        state: DiffusersState,
        x: torch.Tensor,
        t_next: torch.Tensor,
        memory: dict[str, torch.Tensor],
        num_steps: int,
    ) -> DiffusersState:
        next_state = DiffusersState(x, t_next, state.labels, state.step + 1, hidden=state.hidden, memory=memory)
        # the pipelines make no model call after the last step; nor does this (the observation keeps the last features)
        return next_state if next_state.step >= num_steps else self._with_forward(next_state)

    # ------------------------------------------------------------------ what the env shows

    def features(self, state: DiffusersState) -> torch.Tensor:
        """The last norm's mean, the sample's time, and a text-to-image sample's prompt embedding."""
        parts = [state.hidden, self._time(state)]
        if self.prompts is not None:
            parts.append(self.prompts.summary[state.labels])  # the labels and prompts live on the model's device
        return torch.cat(parts, dim=1)

    def _time(self, state: DiffusersState) -> torch.Tensor:
        """Each sample's time in [0, 1]: 0 at the clean end, 1 at pure noise (the last training timestep)."""
        return ((state.t - self.t_end) / (self.noise_time - self.t_end)).float()[:, None]

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        # a prompt's embedding is a unit vector: bounded by 1 (with slack for float rounding)
        prompt_bound = np.full(0 if self.prompts is None else self.prompts.dim, 1.0 + 1e-4)
        bound = np.concatenate([self.hidden_bound, [1.0], prompt_bound]).astype(np.float32)
        return {
            "features": gym.spaces.Box(-bound, bound, (self.feature_dim,), np.float32),
            "time": gym.spaces.Box(0.0, 1.0, (1,), np.float32),
        }

    def observation(self, state: DiffusersState) -> dict[str, torch.Tensor]:
        return {"time": self._time(state)}

    @torch.no_grad()
    def decode(self, state: DiffusersState) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1], as the pipelines make them (latents through the VAE, as DiTPipeline)."""
        if self.vae is None:
            return (state.x / 2 + 0.5).clamp(0, 1)
        scaling = self.vae.config.scaling_factor
        images = [self.vae.decode(state.x[c] / scaling).sample for c in self._chunks(len(state.x))]
        return (torch.cat(images) / 2 + 0.5).clamp(0, 1)

    def preview(self, state: DiffusersState) -> torch.Tensor:
        return to_rgb(self.decode(state))

    # ------------------------------------------------------------------ from a pipeline

    @classmethod
    def from_pipeline(
        cls,
        pipeline: Any,
        num_steps: int | None = None,
        guidance_scale: float | None = None,
        num_classes: int | None = None,
        null_class: int | None = None,
        class_ids: Sequence[int] | None = None,
        prompts: Sequence[str] | Prompts | None = None,
        micro_batch: int | None = None,
    ) -> DiffusersProcess:
        """The process of a diffusers pipeline (its ``transformer`` or ``unet``, ``scheduler`` and ``vae``);
        ``num_steps`` and ``guidance_scale`` default to the pipeline's own defaults. A text-to-image
        pipeline takes ``prompts`` (texts, encoded here by its text encoder, or :class:`Prompts`), its labels."""
        model = getattr(pipeline, "transformer", None)
        if model is None:
            model = getattr(pipeline, "unet", None)
        if model is None or not hasattr(pipeline, "scheduler"):
            raise ValueError(
                f"pipeline must have a transformer or a unet, and a scheduler; {type(pipeline).__name__} has not"
            )
        defaults = inspect.signature(type(pipeline).__call__).parameters
        if num_steps is None:
            num_steps = defaults["num_inference_steps"].default
        if guidance_scale is None:
            guidance_scale = defaults["guidance_scale"].default if "guidance_scale" in defaults else 1.0
        text_encoder = getattr(pipeline, "text_encoder", None)
        if prompts is not None and not isinstance(prompts, Prompts):
            if not is_text_pipeline(pipeline):
                raise ValueError(f"prompts are for a text-to-image pipeline; {type(pipeline).__name__} takes none")
            prompts = Prompts.encode(pipeline, prompts)
        process = cls(
            model,
            pipeline.scheduler,
            num_steps,
            getattr(pipeline, "vae", None),
            guidance_scale,
            num_classes,
            null_class,
            class_ids,
            prompts,
            micro_batch,
        )
        if process.prompts is not None:  # another text encoder gives the same prompts other meanings
            process.config_sha256 = config_sha256(model, pipeline.scheduler, process.vae, text_encoder)
        process.pipeline_class, process.source = type(pipeline).__name__, pipeline.name_or_path or None
        return process


def config_sha256(*modules: Any) -> str:
    """A hash of the public configs of a pipeline's model, scheduler and VAE (with their classes):
    what tells a policy that a pipeline is the one it was trained on. Weights are not hashed: a
    large model's would take minutes, and a fine-tuned copy keeps its config."""
    configs = [None if module is None else [type(module).__name__, _public_config(module)] for module in modules]
    return hashlib.sha256(json.dumps(configs, sort_keys=True, default=str).encode()).hexdigest()


def is_text_pipeline(pipeline: Any) -> bool:
    """Whether ``pipeline`` is text-to-image (a UNet2DConditionModel): its labels are prompts."""
    return type(getattr(pipeline, "unet", None)).__name__ == "UNet2DConditionModel"


def _public_config(module: Any) -> dict[str, Any]:
    """A diffusers module's config (a dict), or a transformers model's (``to_dict``), without private keys."""
    config = module.config
    config = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    return {k: v for k, v in config.items() if not k.startswith("_") and k != "transformers_version"}


def pipeline_labels(pipeline: Any) -> dict[str, int]:
    """The pipeline's class names and their ids (DiTPipeline's ``labels``, from ``id2label``); empty if it has none."""
    return dict(getattr(pipeline, "labels", None) or {})


def load_pipeline(path: str, device: str | torch.device = "cpu") -> Any:
    """A saved pipeline: a ``save_pretrained`` folder, or a hub id already in the local cache (nothing is
    downloaded: ``local_files_only``); one line if it cannot be loaded."""
    diffusers = _diffusers()
    logging = diffusers.utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()  # its notes on optional packages, and a bar per load, are not the user's concern
    logging.disable_progress_bar()
    try:
        pipeline = diffusers.DiffusionPipeline.from_pretrained(path, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - a missing folder, a hub id not cached, a broken config: one line each
        raise ValueError(
            f"{path}: not a diffusers pipeline (a save_pretrained folder, or a hub id in the local cache): "
            f"{one_line(str(e)) or type(e).__name__}"
        ) from e
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


def _check_text_model(
    config: Any, prompts: Prompts | None, num_classes: int | None, class_ids: Sequence[int] | None
) -> None:
    """A text-to-image UNet as Stable Diffusion 1.x/2.x have it, with prompts and no classes; one line otherwise."""
    extras = [
        f"{key}={config.get(key)!r}"
        for key in ("addition_embed_type", "class_embed_type", "time_cond_proj_dim", "encoder_hid_dim_type")
        if config.get(key) is not None
    ]
    if config.get("num_class_embeds") is not None:
        extras.append(f"num_class_embeds={config.num_class_embeds}")
    if extras:
        raise ValueError(
            "supported UNet2DConditionModels take only text (Stable Diffusion 1.x and 2.x), not "
            f"{', '.join(extras)} (SDXL's added embeddings, LCM's guidance embedding, classes)"
        )
    if prompts is None:
        raise ValueError("a text-to-image UNet2DConditionModel needs prompts=... (its labels are prompts)")
    if class_ids is not None or num_classes not in (None, len(prompts)):
        raise ValueError("a text-to-image model's labels are its prompts: pass prompts, not classes")


def _check_micro_batch(micro_batch: int | None) -> int | None:
    if micro_batch is not None and (isinstance(micro_batch, bool) or not isinstance(micro_batch, int)):
        raise ValueError(f"micro_batch must be a whole number of samples, not {micro_batch!r}")
    if micro_batch is not None and micro_batch < 1:
        raise ValueError(f"micro_batch must be at least 1 sample, not {micro_batch}")
    return micro_batch


def _norm_bound(norm: nn.Module) -> np.ndarray:
    """An exact bound on the mean over positions of a LayerNorm's or a GroupNorm's output, per feature.

    A group of k channels is normalised as one vector, so its k channel means sum to 0 with squares
    summing to at most k: each lies within sqrt(k - 1), as a LayerNorm's entries within sqrt(width - 1).
    """
    if isinstance(norm, nn.LayerNorm):
        if norm.elementwise_affine:
            return layer_norm_bound(norm)
        return np.full(norm.normalized_shape[0], np.sqrt(norm.normalized_shape[0] - 1) + 1e-3)
    if isinstance(norm, nn.GroupNorm):
        width = np.sqrt(norm.num_channels // norm.num_groups - 1)
        if not norm.affine:
            return np.full(norm.num_channels, width + 1e-3)
        return (width * norm.weight.abs() + norm.bias.abs() + 1e-3).detach().cpu().numpy()
    raise ValueError(f"no feature bound for {type(norm).__name__}")
