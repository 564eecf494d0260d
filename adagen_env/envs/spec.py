"""The episode spec: everything that defines an episode besides the generator, in one typed object.

A knob is one field here, with its help and command-line flag in the field's metadata, and the code
where it acts (mostly :class:`adagen_env.envs.core.ScheduleCore`). Everything else reads the spec:
the envs build it from their keyword arguments (``gym.make(id, num_steps=4, smoothing=0.8)``), our
PPO, the SB3 adapter, the RLlib recipe and AdaGen-Bench build envs from it, policy files store it
(:meth:`EpisodeSpec.to_dict`, :meth:`EpisodeSpec.from_dict`), sampling replays it
(:meth:`EpisodeSpec.for_sampling`), and ``adagen train`` makes one flag per field.

A spec as written may leave things to the process (``num_steps=None``) or name them
(``smoothing="method"``, ``baseline="best-static"``); :meth:`EpisodeSpec.resolve` turns it into
plain values against a process, which is what an env keeps as ``core.spec`` and what files hold.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from adagen_env.processes.autocast import check_autocast
from adagen_env.processes.refinement import Refinement, refinement_nfe

if TYPE_CHECKING:
    from adagen_env.paradigms import Paradigm
    from adagen_env.processes.base import Process

OBSERVATION_MODES = ("dict", "flat")
BASELINE_NAMES = ("hand-designed", "best-static")  # besides the process's named schedules


def _knob(
    default: Any,
    help: str,
    metavar: str,
    flag: str | None = None,
    sampling: bool = False,
    parse: Callable[[str], Any] | None = None,
    const: Any = None,
) -> Any:
    """A spec field. ``help``, ``metavar`` and ``flag`` (default ``--field-name``) make its ``adagen train``
    option; ``sampling``: ``adagen eval``/``sample``/``actions`` take it too, to override a policy's value;
    ``parse`` reads the flag's text (default: the text as it is); ``const``: the value of the bare flag."""
    return field(
        default=default,
        metadata={"help": help, "metavar": metavar, "flag": flag, "sampling": sampling, "parse": parse, "const": const},
    )


def _parse_number_or(word: str, check: Callable[[Any], Any]) -> Callable[[str], Any]:
    """A flag's parser: ``word`` or a number, checked by the knob's own ``check``."""

    def parse(text: str) -> Any:
        if text == word:
            return check(text)
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number or {word}, got {text!r}") from None
        return check(value)

    return parse


def _parse_refine(text: str) -> Refinement:
    steps, _, fraction = text.partition(":")
    try:
        return Refinement(int(steps), float(fraction) if fraction else None)
    except ValueError as error:
        if "refinement" in str(error):
            raise
        raise ValueError(f"expected STEPS or STEPS:FRACTION, got {text!r}") from None


def _parse_choice(check: Callable[[str], Any]) -> Callable[[str], str]:
    """A flag's parser for a word the knob's own ``check`` accepts."""

    def parse(text: str) -> str:
        check(text)
        return text

    return parse


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


@dataclass(frozen=True)
class EpisodeSpec:
    """What one episode is, besides the generator. Every field is checked when the spec is made
    (one ``ValueError`` line); what needs the process (the step count it can run, the baseline's
    shape, whether it has refinement) is checked by :meth:`resolve`."""

    num_steps: int | None = _knob(
        None,
        "generation steps, one decision each (default: the process's own: 8, VAR 4)",
        "N",
        flag="--steps",
        sampling=True,
        parse=_parse_int,
    )
    reward: Any = _knob(
        "adversarial",
        "reward of the finished samples: adversarial (a discriminator trained online against real "
        "images), adversarial-projected, adversarial-latent (a diffusers pipeline's VAE latents, no decode; "
        "docs/scaling.md), the remedies against a memorising discriminator adversarial-diffaug, "
        "adversarial-ada, adversarial-r1, adversarial-lecam, adversarial-replay, adversarial-ensemble, "
        "adversarial-logd, adversarial-classnorm and adversarial-robust (docs/method.md), trajectory (diffusion and "
        "flow: closeness to the 64-step solution from the same noise) and trajectory-adversarial (half each), "
        "fidelity (the trade-off's class probability from a network no metric uses), "
        "or classifier and batch-fd, which use the metric's networks and exist to show reward hacking; None: no "
        "reward (every reward 0), for sampling; or a scorer object "
        "(default: adversarial)",
        "NAME",
        parse=_parse_choice(lambda name: _check_reward(name)),
    )
    smoothing: float | str = _knob(
        0.0,
        "the method's action smoothing: the step's residual is an exponential moving average of the actions, "
        "a factor in [0, 1), or method for the paradigm's own (default: 0, off)",
        "S",
        parse=_parse_number_or("method", lambda v: _check_smoothing(v)),
    )
    tradeoff: float | str | None = _knob(
        None,
        "condition the episode on a fidelity-diversity value l in [0, 1] that the observation shows: random "
        "(drawn per sample, for training; the reward becomes (1 - l) x reward + l x fidelity) or a number (for "
        "sampling: 0 favours diversity, 1 fidelity); the bare flag is random (default: off)",
        "L",
        sampling=True,
        parse=_parse_number_or("random", lambda v: _check_tradeoff(v)),
        const="random",
    )
    baseline: Any = _knob(
        None,
        "the schedule the zero action gives, which actions are residuals around: hand-designed, best-static "
        "(the grid search's pick), a named schedule of the process, or values (num_steps, P) (default: hand-designed)",
        "NAME",
    )
    refine: Refinement | None = _knob(
        None,
        "refine the finished samples with STEPS more steps (STEPS[:FRACTION]): MaskGIT re-masks its least "
        "confident FRACTION of tokens, diffusion and flow re-noise to FRACTION of the time range; counted in the "
        "model calls; VAR has none (default: off)",
        "STEPS[:FRACTION]",
        sampling=True,
        parse=_parse_refine,
    )
    autocast: str | None = _knob(
        None,
        "run the generator's model calls under bf16 autocast, meant for GPUs; observations, images and "
        "rewards stay float32, and a policy trained either way runs either way: off or bf16 (default: off)",
        "{off,bf16}",
        sampling=True,
        parse=_parse_choice(check_autocast),
    )
    observation_mode: str = _knob(
        "dict",
        "observations as a Dict (dict) or as one flat float32 Box (flat, Gymnasium's flatten order) (default: dict)",
        "{dict,flat}",
        parse=_parse_choice(lambda mode: _check_observation_mode(mode)),
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise through the back door, once
        if self.num_steps is not None:
            set_(self, "num_steps", check_int("num_steps", self.num_steps, 1))
        _check_reward(self.reward)
        set_(self, "smoothing", _check_smoothing(self.smoothing))
        set_(self, "tradeoff", _check_tradeoff(self.tradeoff))
        set_(self, "baseline", _check_baseline(self.baseline))
        if isinstance(self.refine, dict):
            set_(self, "refine", Refinement(**self.refine))
        if self.refine is not None and not isinstance(self.refine, Refinement):
            raise ValueError(f"refine must be a Refinement(steps, fraction) or None, got {self.refine!r}")
        check_autocast(self.autocast)
        set_(self, "autocast", None if self.autocast == "off" else self.autocast)
        _check_observation_mode(self.observation_mode)

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, spec: EpisodeSpec | None = None, /, **knobs: Any) -> EpisodeSpec:
        """``spec`` (default: the defaults) with ``knobs`` replaced; an unknown knob is a ``TypeError``
        worded as Python words one (clients such as TorchRL read it) that also names the knobs."""
        unknown = sorted(set(knobs) - KNOBS.keys())
        if unknown:
            raise TypeError(
                f"got an unexpected keyword argument {unknown[0]!r}; the episode's knobs are {', '.join(KNOBS)}"
            )
        spec = cls() if spec is None else spec
        if not isinstance(spec, EpisodeSpec):
            raise TypeError(f"spec must be an EpisodeSpec, got {type(spec).__name__}")
        return dataclasses.replace(spec, **knobs) if knobs else spec

    def replace(self, **knobs: Any) -> EpisodeSpec:
        """This spec with ``knobs`` replaced (checked as on construction)."""
        return EpisodeSpec.build(self, **knobs)

    def resolve(self, process: Process, paradigm: Paradigm | None = None) -> EpisodeSpec:
        """Plain values for ``process``: the step count, the smoothing factor and the baseline's values.

        ``paradigm`` (the registered paradigm the process belongs to) is needed for
        ``smoothing="method"`` and ``baseline="best-static"``. Raises ``ValueError`` (one line) for a step
        count the process cannot run, a baseline of the wrong shape, or a refinement it does not have.
        """
        num_steps = process.default_num_steps if self.num_steps is None else self.num_steps
        process.check_num_steps(num_steps)
        smoothing = self.smoothing
        if smoothing == "method":
            if paradigm is None:
                raise ValueError("smoothing='method' needs the process by its registered name; pass a number instead")
            smoothing = paradigm.smoothing
        if self.refine is not None:
            refinement_nfe(process, self.refine)
        return dataclasses.replace(
            self,
            num_steps=num_steps,
            smoothing=smoothing,
            baseline=_resolve_baseline(self.baseline, process, paradigm, num_steps),
        )

    def for_sampling(self, **overrides: Any) -> EpisodeSpec:
        """The spec a policy trained with this one samples with: the same knobs and no reward.

        ``overrides`` are the sampling knobs (fields marked ``sampling``) given explicitly (``None``:
        keep). ``tradeoff``: a number for a policy trained with one (default 0), refused for any
        other; ``num_steps`` other than the trained count is refused for a policy trained around
        a baseline of its own (the baseline has one row per step).
        """
        not_sampling = set(overrides) - {name for name, f in KNOBS.items() if f.metadata["sampling"]}
        if not_sampling:
            raise TypeError(f"{', '.join(sorted(not_sampling))}: not a sampling knob; a policy samples with its own")
        given = {name: value for name, value in overrides.items() if value is not None}
        if "tradeoff" in given and self.tradeoff is None:
            raise ValueError(
                "tradeoff is for a policy trained with a tradeoff (adagen train --tradeoff); this one was not"
            )
        if given.get("tradeoff") == "random":
            raise ValueError("sampling takes a fixed tradeoff in [0, 1]; 'random' is for training")
        tradeoff = given.pop(
            "tradeoff", None if self.tradeoff is None else 0.0 if self.tradeoff == "random" else self.tradeoff
        )
        steps = given.get("num_steps")
        if (
            steps is not None
            and self.baseline is not None
            and not isinstance(self.baseline, str)
            and steps != len(self.baseline)
        ):
            raise ValueError(
                f"this policy was trained around a baseline of {len(self.baseline)} steps; "
                f"sample it at {len(self.baseline)} steps, not {steps}"
            )
        return dataclasses.replace(self, reward=None, tradeoff=tradeoff, **given)

    # ------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        """Plain data (numbers, strings, lists, dicts, None) for policy files and results; a scorer
        object is written as its ``name`` (``AdversarialScorer`` with your images: ``adversarial``)."""
        out = {}
        for name in KNOBS:
            value = getattr(self, name)
            if name == "reward" and value is not None and not isinstance(value, str):
                value = getattr(value, "name", type(value).__name__)
            elif name == "baseline" and isinstance(value, tuple):
                value = [list(row) for row in value]
            elif name == "refine" and value is not None:
                value = {"steps": value.steps, "fraction": value.fraction}
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = "the spec") -> EpisodeSpec:
        """A spec from :meth:`to_dict`'s data. A knob missing from ``data`` takes its default (what
        files written before the knob existed mean); an unknown key is a one-line ``ValueError``
        naming ``source`` (a file of a newer adagen)."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: the episode spec is not a dict, got {type(data).__name__}")
        unknown = set(data) - KNOBS.keys()
        if unknown:
            raise ValueError(
                f"{source}: unknown episode knob(s) {', '.join(sorted(map(str, unknown)))} "
                f"(written by a newer adagen?); this one knows {', '.join(KNOBS)}"
            )
        try:
            return cls(**data)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: bad episode spec ({error})") from None

    def nfe(self, process: Process) -> int:
        """Model calls per sample of an episode of this (resolved) spec: the steps' and the refinement's."""
        steps = process.default_num_steps if self.num_steps is None else self.num_steps
        return process.nfe(steps) + (0 if self.refine is None else refinement_nfe(process, self.refine))

    def baseline_tensor(self) -> torch.Tensor | None:
        """The baseline's values (num_steps, P) as float32, or ``None`` for the hand-designed schedule."""
        if self.baseline is None:
            return None
        if isinstance(self.baseline, str):
            raise ValueError(f"baseline {self.baseline!r} is a name: resolve the spec against a process first")
        return torch.tensor(self.baseline, dtype=torch.float32)


KNOBS: dict[str, dataclasses.Field] = {f.name: f for f in fields(EpisodeSpec)}
# the knobs that change the decision problem: a policy is refused by an env that differs in one;
# autocast (numerics) and observation_mode (the same observation, packed otherwise) do not
MDP_KNOBS = ("num_steps", "reward", "smoothing", "tradeoff", "baseline", "refine")


def spec_differences(a: EpisodeSpec, b: EpisodeSpec, knobs: tuple[str, ...] = MDP_KNOBS) -> dict[str, tuple[Any, Any]]:
    """``{knob: (a's, b's)}`` for the ``knobs`` in which two specs differ, as their files would write them."""
    plain_a, plain_b = a.to_dict(), b.to_dict()
    return {name: (plain_a[name], plain_b[name]) for name in knobs if plain_a[name] != plain_b[name]}


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; floats such as 2.5 (or 2.0) and bools are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_reward(reward: Any) -> None:
    from adagen_env.rewards import SCORERS  # the rewards layer sits above the envs' spec

    if reward is None or callable(reward):
        return
    if not isinstance(reward, str):
        raise TypeError(f"reward must be a name, a callable scorer or None, got {type(reward).__name__}")
    if reward not in SCORERS:
        raise ValueError(f"unknown reward {reward!r}; choose one of {sorted(SCORERS)} or pass a scorer")


def _check_observation_mode(mode: Any) -> None:
    if mode not in OBSERVATION_MODES:
        raise ValueError(f"observation_mode must be one of {OBSERVATION_MODES}, not {mode!r}")


def _check_smoothing(smoothing: Any) -> float | str:
    if smoothing == "method":
        return smoothing
    if isinstance(smoothing, bool) or not isinstance(smoothing, numbers.Real) or not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be a number in [0, 1) or 'method', got {smoothing!r}")
    return float(smoothing)


def _check_tradeoff(tradeoff: Any) -> float | str | None:
    if tradeoff is None or tradeoff == "random":
        return tradeoff
    if isinstance(tradeoff, bool) or not isinstance(tradeoff, numbers.Real) or not 0 <= tradeoff <= 1:
        raise ValueError(
            f"tradeoff must be a number in [0, 1] (0: diversity, 1: fidelity), or 'random' for training, "
            f"got {tradeoff!r}"
        )
    return float(tradeoff)


def _check_baseline(baseline: Any) -> str | tuple[tuple[float, ...], ...] | None:
    """None, a name, or finite values (T, P), kept as a tuple of tuples (hashable, comparable, plain)."""
    if baseline is None or isinstance(baseline, str):
        return baseline
    if isinstance(baseline, torch.Tensor):
        baseline = baseline.detach().cpu().double().numpy()
    try:
        values = np.asarray(baseline, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"baseline must be a name or parameter values (num_steps, P), got {baseline!r}") from None
    if values.ndim != 2 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"baseline must be finite parameter values of shape (num_steps, P), got shape {values.shape}")
    # float32 values, as the core applies them: a tensor round-trips through the spec bit for bit
    return tuple(tuple(float(v) for v in row) for row in values.astype(np.float32))


def _resolve_baseline(baseline: Any, process: Process, paradigm: Paradigm | None, num_steps: int):
    if baseline is None or baseline == "hand-designed":
        return None
    if isinstance(baseline, str):
        if baseline == "best-static":
            from adagen_env.paradigms import best_static_schedule

            found = None if paradigm is None else best_static_schedule(paradigm.name, process, num_steps)
            if found is None:
                where = "this generator" if paradigm is None else f"{paradigm.name} at {num_steps} steps"
                raise ValueError(f"baseline='best-static': no grid search has picked one for {where}")
            return _check_baseline(found[1])
        if baseline not in process.named_schedules:
            names = ", ".join(dict.fromkeys([*BASELINE_NAMES, *process.named_schedules]))
            raise ValueError(f"unknown baseline {baseline!r}; choose one of {names}, or pass values")
        return _check_baseline(process.static_schedule(num_steps, **process.named_schedules[baseline]))
    shape = (num_steps, len(process.parameters))
    if (len(baseline), len(baseline[0])) != shape:
        raise ValueError(
            f"baseline must be finite parameter values of shape {shape}, "
            f"got shape ({len(baseline)}, {len(baseline[0])})"
        )
    return baseline
