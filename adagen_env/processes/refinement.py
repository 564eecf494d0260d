"""Inference-time refinement: extra model calls spent on finished samples, switched on at sampling time.

A :class:`Refinement` asks a process that has one (``refine`` and ``refinement_nfe``) to redo
part of a finished batch with ``steps`` more steps of its own step function:

- MaskGIT: re-mask the ``fraction`` of tokens the generator was least confident of when it
  sampled them (the log-probability it drew each token with, kept in the state: no extra call)
  and re-predict them in ``steps`` MaskGIT steps; ``steps`` guided model calls.
- Diffusion and flow: "restart": re-noise every finished image back along the process's own
  path to the time ``fraction`` of the way from the data end to the noise end, with fresh noise
  from the same generator, and integrate to the end again in ``steps`` solver steps; ``steps``
  times the solver's calls per step.

Every extra call is counted: ``refinement_nfe`` is what a refinement adds to ``process.nfe(T)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adagen_env.processes.base import Process


@dataclass(frozen=True)
class Refinement:
    """``steps`` more steps of the process on the ``fraction`` of each finished sample it redoes
    (MaskGIT: the share of tokens re-masked; diffusion and flow: the share of the time range
    re-noised); ``fraction=None`` takes the process's tuned ``refinement_fraction``."""

    steps: int
    fraction: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            raise ValueError(f"refinement steps must be an integer of at least 1, got {self.steps!r}")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ValueError(f"refinement fraction must be in (0, 1], got {self.fraction!r}")

    def fraction_for(self, process: Process) -> float:
        """The fraction, or the process's tuned ``refinement_fraction`` when none was given."""
        return process.refinement_fraction if self.fraction is None else self.fraction


def refinement_nfe(process: Process, refinement: Refinement) -> int:
    """The model calls ``refinement`` adds per sample; ``ValueError`` before any work for a process
    without refinement (naming the paradigms that have one) or a refinement that would change nothing."""
    if not hasattr(process, "refinement_nfe"):
        from adagen_env.paradigms import PARADIGMS

        having = [p.name for p in PARADIGMS.values() if hasattr(p.process_class, "refinement_nfe")]
        raise ValueError(f"{type(process).__name__} has no refinement; the paradigms with one: {', '.join(having)}")
    return process.refinement_nfe(refinement)
