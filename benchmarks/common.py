"""What the benchmarks share: where results go, how they are written, and the few steps several repeat.

``RESULTS`` is ``benchmarks/results`` unless the environment variable ``ADAGEN_BENCH_RESULTS``
names another folder, so that a smoke run never overwrites the committed results. Everything a
benchmark writes goes through :func:`write` or :func:`write_reports` (the library's
``write_results``), so every results file carries its provenance.

The library is imported inside the functions that need it: ``benchmarks.contention`` imports this
module in a parent process (and its busy processes) that must not load torch.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adagen_agents.ppo import PPOConfig
    from adagen_agents.target import Target
    from adagen_agents.train import TrainResult
    from adagen_env.envs import ScheduleVectorEnv
    from adagen_env.envs.spec import EpisodeSpec
    from adagen_env.evaluation.experiment import Report
    from adagen_env.evaluation.generators import Act
    from adagen_env.runtime.provenance import Provenance

COMMITTED = Path(__file__).resolve().parent / "results"  # the results in the repository
RESULTS = Path(os.environ.get("ADAGEN_BENCH_RESULTS") or COMMITTED)


def mean_std(runs: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Every metric's mean and standard deviation over the runs of one schedule (one per seed), timings left out."""
    keys = [k for k in runs[0] if k not in ("seconds", "samples_per_second", "n")]
    means = {k: statistics.mean(r[k] for r in runs) for k in keys}
    stds = {k: statistics.stdev(r[k] for r in runs) if len(runs) > 1 else 0.0 for k in keys}
    return means, stds


def write(path: str | Path, data: dict[str, Any], provenance: Provenance, markdown: str | None = None) -> list[Path]:
    """``data`` as JSON at ``path`` (and ``markdown`` beside it) with ``provenance``; says what it wrote."""
    from adagen_env.runtime.results import write_results

    written = write_results(path, data, provenance, markdown)
    print(f"wrote {', '.join(map(str, written))}")
    return written


def write_reports(
    path: str | Path,
    reports: list[Report],
    provenance: Provenance,
    preface: str = "",
    data: dict[str, Any] | None = None,
) -> list[Path]:
    """A benchmark's experiments: ``data`` and every report as JSON, and ``preface`` (a heading and the
    benchmark's own summary) followed by every report's Markdown page, one level down, beside it."""
    pages = [preface.rstrip()] if preface else []
    pages += ["#" + report.markdown() for report in reports]  # each page starts with "# title"
    return write(
        path, {**(data or {}), "reports": [report.to_dict() for report in reports]}, provenance, "\n\n".join(pages)
    )


def said(comparison: dict[str, Any] | str) -> str:
    """A stored comparison in words: a ``Comparison.to_dict()`` (its sentence), or what results files
    written before it hold (the sentence under ``verdict`` beside ``fd_differences``, or the sentence)."""
    if isinstance(comparison, str):
        return comparison
    return comparison.get("sentence", comparison["verdict"])


def load_policies(target: Target, paths: dict[str, str | Path]) -> dict[str, tuple[Act, EpisodeSpec]]:
    """Policy files by name, each with the episode it samples with (its card's), for ``Target.comparison``."""
    policies = {}
    for name, path in paths.items():
        act, card = target.policy(str(path))
        policies[name] = (act, card.sampling_spec())
    return policies


def exported(checkpoint: Path) -> Path:
    """Where :func:`train_policy` exports the policy of ``checkpoint`` (``<stem>-policy.pt`` beside it)."""
    return checkpoint.with_name(f"{checkpoint.stem}-policy.pt")


def train_policy(
    env: ScheduleVectorEnv, env_id: str, config: PPOConfig, checkpoint: Path, updates: int, **train: Any
) -> tuple[TrainResult, Path]:
    """Train our PPO (``train_ppo``, the loop of ``adagen train``) with the card of ``env`` under ``env_id``,
    then export the policy beside the checkpoint; ``train``: more of ``train_ppo``'s keywords."""
    from adagen_agents.card import PolicyCard
    from adagen_agents.loading import export_policy
    from adagen_agents.train import train_ppo

    card = PolicyCard.of(env.core, "ppo", env_id)
    result = train_ppo(env, config, out=checkpoint, updates=updates, card=card, **train)
    return result, export_policy(result.out, exported(result.out))
