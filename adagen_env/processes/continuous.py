"""What diffusion and rectified flow share: continuous images, per-sample times, guidance.

Both start from Gaussian noise at ``t_start`` and integrate an ODE to ``t_end``; every sample
carries its own current time. One decision per solver step, two parameters:

- ``time_step`` (sigmoid): the fraction of the remaining time distance this step covers. The
  next time is clamped so that time moves monotonically by at least ``MIN_TIME_GAP`` and leaves
  that much room for every remaining step; the last step always lands on ``t_end``.
- ``guidance`` (softplus): w in ``cond + w * (cond - uncond)``, applied to the model output.

A static schedule is a *spacing* (the remaining distance as a function of progress) plus a
constant guidance; the hand-designed one is uniform spacing (docs/method.md). The subclass supplies
the path (how images are noised), the solver and the time end points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from adagen_env.models.checkpoints import frozen_copy, read_metadata
from adagen_env.models.denoiser import Denoiser, load_denoiser, weights_path
from adagen_env.processes.base import ForwardOnDemand, layer_norm_bound, to_rgb
from adagen_env.processes.refinement import Refinement
from adagen_env.processes.schedules import StepParameter, by_name
from adagen_env.processes.solvers import SOLVERS, guided

MIN_TIME_GAP = 0.01  # time moves by at least this much per decision (docs/method.md)
# Remaining time distance as a function of progress f in [0, 1] (1 at the start, 0 at the end).
SPACINGS = {
    "uniform": lambda f: 1 - f,
    "quadratic": lambda f: (1 - f) ** 2,  # more, smaller steps near the data
    "cubic": lambda f: (1 - f) ** 3,
    "sqrt": lambda f: (1 - f) ** 0.5,  # more, smaller steps near the noise
}


def next_times(
    t: torch.Tensor, fraction: torch.Tensor, remaining_steps: int, t_start: float, t_end: float, min_gap: float
) -> torch.Tensor:
    """Each sample's next time (float64): ``fraction`` of its remaining distance to ``t_end``, moving
    by at least ``min_gap`` and leaving ``min_gap`` for each remaining step; the last step lands on ``t_end``."""
    if remaining_steps <= 1:
        return torch.full_like(t, t_end, dtype=torch.float64)
    direction = 1.0 if t_end > t_start else -1.0
    distance = (t_end - t) * direction
    new_distance = distance * (1 - fraction.double())
    new_distance = torch.minimum(new_distance, distance - min_gap).clamp(min=(remaining_steps - 1) * min_gap)
    return t_end - direction * new_distance


@dataclass
class ContinuousState:
    x: torch.Tensor  # (B, num_pixels) current images, pixels in [-1, 1] at the data end
    t: torch.Tensor  # (B,) float64 current times
    labels: torch.Tensor  # (B,)
    step: int = 0
    cond: torch.Tensor | None = None  # (B, num_pixels) conditional model output at (x, t), set by reset/step
    hidden: torch.Tensor | None = None  # (B, width) its hidden state
    memory: dict[str, torch.Tensor] = field(default_factory=dict)  # what a multistep solver keeps


class ContinuousProcess(ForwardOnDemand):
    """Base of the diffusion and flow processes; subclasses set the class attributes and solvers."""

    parameters = (
        StepParameter("time_step", "sigmoid", action_scale=2.0, floor=1e-4),
        StepParameter("guidance", "softplus", action_scale=2.0),
    )
    paradigm: str  # what a generator file of this process records as its "paradigm"
    weights_name: str  # file stem under adagen_env/weights
    t_start: float
    t_end: float
    guidance_baseline: float
    solvers: tuple[
        str, ...
    ]  # names in adagen_env.processes.solvers.SOLVERS that fit the path; the first is the default
    refinement_fraction = (
        0.1  # share of the time range a Refinement re-noises by default (tuned: benchmarks/refinement.py)
    )

    def __init__(self, model: Denoiser | None = None, device: str | torch.device = "cpu", solver: str | None = None):
        self.device = torch.device(device)
        if model is None:
            self.model = load_denoiser(str(weights_path(self.weights_name)), str(self.device))
        else:
            self.model = frozen_copy(model, self.device)
        solver = solver or self.solvers[0]
        if solver not in self.solvers:
            raise ValueError(f"solver must be one of {list(self.solvers)}, not {solver!r}")
        self.solver = solver
        config = self.model.config
        self.num_classes, self.null_class = config.num_classes, config.null_class
        self.num_pixels = config.num_pixels
        self.image_channels, *image_shape = config.image_shape
        self.image_shape = tuple(image_shape)
        self.feature_dim = config.width + 1  # the hidden state and the sample's own time
        self.default_num_steps = 8
        self.named_schedules = {
            "hand-designed": {},
            **{f"{name}-spacing": {"spacing": name} for name in SPACINGS if name != "uniform"},
            "no-guidance": {"guidance": 0.0},
        }

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu", solver: str | None = None):
        """The process around a generator file written by ``adagen generator`` (or a shipped one);
        a file of the other paradigm is refused by name, before any work."""
        found = read_metadata(path).get("paradigm")
        if found != cls.paradigm:
            what = (
                f"a {found} generator" if found else "no generator of a known paradigm (no 'paradigm' in its metadata)"
            )
            raise ValueError(f"{path} holds {what}, not a {cls.paradigm} one")
        return cls(load_denoiser(str(path)), device, solver)

    def nfe(self, num_steps: int) -> int:
        """Model evaluations (a guided evaluation counts once) for ``num_steps`` decisions."""
        return num_steps * SOLVERS[self.solver][1]

    def check_num_steps(self, num_steps: int) -> None:
        distance = abs(self.t_start - self.t_end)
        if num_steps * MIN_TIME_GAP > distance + 1e-9:
            raise ValueError(
                f"num_steps={num_steps} cannot move time by at least {MIN_TIME_GAP} per step over {distance:g}"
            )

    # ------------------------------------------------------------------ schedules

    def static_schedule(self, num_steps: int, spacing: str = "uniform", guidance: float | None = None) -> torch.Tensor:
        """A family of static schedules (T, 2); the defaults are the hand-designed one."""
        if spacing not in SPACINGS:
            raise ValueError(f"spacing must be one of {sorted(SPACINGS)}, not {spacing!r}")
        self.check_num_steps(num_steps)
        remaining = SPACINGS[spacing](torch.arange(num_steps + 1, dtype=torch.float64) / num_steps)
        fraction = (remaining[:-1] - remaining[1:]) / remaining[:-1]
        guidance = self.guidance_baseline if guidance is None else guidance
        return torch.stack([fraction, torch.full_like(fraction, guidance)], dim=-1).float()

    def baseline(self, num_steps: int) -> torch.Tensor:
        return self.static_schedule(num_steps)

    def next_times(self, state: ContinuousState, fraction: torch.Tensor, num_steps: int) -> torch.Tensor:
        """Each sample's next time: ``fraction`` of its remaining distance, clamped (see module doc)."""
        return next_times(state.t, fraction, num_steps - state.step, self.t_start, self.t_end, MIN_TIME_GAP)

    # ------------------------------------------------------------------ model calls

    def reset(
        self, labels: torch.Tensor, generator: torch.Generator, noise: torch.Tensor | None = None
    ) -> ContinuousState:
        """The start of the ODE: Gaussian noise from ``generator``, or the given ``noise`` (B, num_pixels)
        (the trajectory reward's pool, whose many-step solutions it knows)."""
        if noise is None:
            x = torch.randn(len(labels), self.num_pixels, generator=generator, device=self.device)
        elif tuple(noise.shape) != (len(labels), self.num_pixels):
            raise ValueError(f"noise must have shape {(len(labels), self.num_pixels)}, got {tuple(noise.shape)}")
        else:
            x = noise.to(self.device, torch.float32)
        t = torch.full((len(labels),), self.t_start, dtype=torch.float64, device=self.device)
        return self._with_forward(ContinuousState(x, t, labels.to(self.device)))

    @torch.no_grad()
    def _with_forward(self, state: ContinuousState) -> ContinuousState:
        """The state with the conditional model output at (x, t): the next step's and the observation's."""
        state.cond, state.hidden = self.model_output(state.x, state.t, state.labels)
        return state

    def _guided_model(self, labels: torch.Tensor, guidance: torch.Tensor):
        """``model(x, t)`` -> guided output, for solvers that evaluate the model again within a step."""

        def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            cond, _ = self.model_output(x, t, labels)
            uncond, _ = self.model_output(x, t, torch.full_like(labels, self.null_class))
            return guided(cond, uncond, guidance)

        return model

    @torch.no_grad()
    def step(
        self, state: ContinuousState, values: dict[str, torch.Tensor], num_steps: int, generator: torch.Generator
    ) -> ContinuousState:
        fraction, guidance = values["time_step"].to(self.device), values["guidance"].to(self.device)
        t_next = self.next_times(state, fraction, num_steps)
        uncond, _ = self.model_output(state.x, state.t, torch.full_like(state.labels, self.null_class))
        output = guided(state.cond, uncond, guidance)
        solver, _ = SOLVERS[self.solver]
        last = state.step + 1 >= num_steps
        x, memory = solver(
            self._guided_model(state.labels, guidance), state.x, state.t, t_next, output, state.memory, last
        )
        stepped = ContinuousState(x, t_next, state.labels, state.step + 1, memory=memory)
        return stepped if last else self._with_forward(stepped)

    def model_output(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's output as the solvers take it (noise or velocity) and its hidden state; the
        output of a model that predicts the clean image (``target="clean"``) is turned into it."""
        output, hidden = self.model(x, t.float(), labels)
        if self.model.config.target == "clean":
            output = self.from_clean(x, t, output)
        return output, hidden

    def denoised(self, x: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """The model's estimate of the clean image at (x, t) from its output."""
        raise NotImplementedError

    def from_clean(self, x: torch.Tensor, t: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """The output (noise or velocity) at (x, t) whose clean-image estimate is ``clean``: ``denoised``'s inverse."""
        raise NotImplementedError

    def noised(self, data: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The point of the path at times ``t`` between ``data`` and ``noise``: what the model is trained on."""
        raise NotImplementedError

    # ------------------------------------------------------------------ refinement

    def restart_time(self, refinement: Refinement) -> float:
        """Where a restart re-noises to: ``fraction`` of the way from the data end back to the noise end."""
        return self.t_end + refinement.fraction_for(self) * (self.t_start - self.t_end)

    def refinement_nfe(self, refinement: Refinement) -> int:
        """``refinement.steps`` solver steps; ``ValueError`` when they cannot fit between the restart and the end."""
        distance = abs(self.restart_time(refinement) - self.t_end)
        if refinement.steps * MIN_TIME_GAP > distance + 1e-9:
            raise ValueError(
                f"refinement's {refinement.steps} steps cannot move time by at least {MIN_TIME_GAP} each "
                f"over the {distance:g} it re-noises; raise the fraction or lower the steps"
            )
        return self.nfe(refinement.steps)

    @torch.no_grad()
    def refine(self, state: ContinuousState, refinement: Refinement, generator: torch.Generator) -> ContinuousState:
        """Restart: re-noise every finished image to the restart time with fresh noise and integrate to
        the end again with ``refinement.steps`` steps of the hand-designed schedule and the process's solver."""
        self.refinement_nfe(refinement)
        noise = torch.randn(state.x.shape, generator=generator, device=self.device)
        t = torch.full_like(state.t, self.restart_time(refinement))
        redo = self._with_forward(ContinuousState(self.noised(state.x, noise, t), t, state.labels))
        for values in self.baseline(refinement.steps):
            redo = self.step(redo, by_name(self.parameters, values.expand(len(t), -1)), refinement.steps, generator)
        return redo

    # ------------------------------------------------------------------ what the env shows

    def features(self, state: ContinuousState) -> torch.Tensor:
        # times differ per sample, so the policy sees each sample's own time beside the hidden state
        return torch.cat([self._forwarded(state).hidden, state.t[:, None].float()], dim=1)

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        bound = np.append(layer_norm_bound(self.model.norm), 1.0).astype(np.float32)
        return {
            "features": gym.spaces.Box(-bound, bound, (self.feature_dim,), np.float32),
            "time": gym.spaces.Box(0.0, 1.0, (1,), np.float32),
            "denoised": gym.spaces.Box(0.0, 1.0, (self.num_pixels,), np.float32),
        }

    def observation(self, state: ContinuousState) -> dict[str, torch.Tensor]:
        estimate = self.denoised(state.x, state.t, self._forwarded(state).cond)
        return {"time": state.t[:, None].float(), "denoised": _to_unit(estimate)}

    def decode(self, state: ContinuousState) -> torch.Tensor:
        return _to_unit(state.x).view(-1, self.image_channels, *self.image_shape)

    def preview(self, state: ContinuousState) -> torch.Tensor:
        return to_rgb(self.decode(state))


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    """Pixels in [-1, 1] (the models' range) -> [0, 1], clipped."""
    return ((x + 1) / 2).clamp(0, 1).float()
