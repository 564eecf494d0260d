"""The experiment layer: compare generators on seeds in every feature space, and report it as data.

``run_experiment`` samples every generator on the same seeds (same labels, same noise), scores
each seed in every space of the ``Evaluator`` (FD, KID, precision, recall, class accuracy), and
compares pairs of generators paired sample by sample (:mod:`adagen_env.evaluation.comparison`).
The :class:`Report` it returns holds the numbers with their intervals and the verdicts as
enums, prints as a table, and writes JSON and Markdown with provenance. ``adagen eval``,
``adagen train``'s final comparison, the ship decision and the benchmarks all go through it.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from adagen_env.data.datasets import ImageDataset
from adagen_env.evaluation.comparison import Comparison, Interval, Verdict, compare_features, t_interval
from adagen_env.evaluation.generators import Generate, generate_and_score
from adagen_env.evaluation.metrics import Evaluator, noise_floor
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.results import write_results
from adagen_env.runtime.tables import format_table

QUALITY = {"fd": "FD", "kid": "KID", "precision": "Precision", "recall": "Recall"}  # per space, in report order
TIMING = ("seconds", "samples_per_second")


@dataclass
class ContenderResult:
    """One generator's scores, one dict per seed (the ``Evaluator``'s keys plus the timing)."""

    name: str
    per_seed: list[dict[str, float]]
    nfe: int | None = None

    @property
    def mean(self) -> dict[str, float]:
        return {key: statistics.mean(run[key] for run in self.per_seed) for key in self.per_seed[0]}

    def interval(self, key: str) -> Interval:
        """The mean of ``key`` over the seeds and its 95 % t interval (NaN bounds with one seed)."""
        return t_interval([run[key] for run in self.per_seed])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "nfe": self.nfe, "per_seed": self.per_seed, "mean": self.mean}


@dataclass
class Report:
    """What an experiment found: every contender's scores and every comparison, as data."""

    title: str
    samples: int
    seeds: list[int]
    spaces: tuple[str, ...]
    contenders: dict[str, ContenderResult]
    comparisons: list[Comparison]
    noise_floor: dict[str, float] | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # anything the caller wants kept beside the numbers

    def comparison(self, a: str, b: str) -> Comparison:
        """The comparison of ``a`` with ``b``; ``KeyError`` if the experiment made none."""
        for c in self.comparisons:
            if (c.a, c.b) == (a, b):
                return c
        raise KeyError(f"no comparison of {a!r} with {b!r}; made: {[(c.a, c.b) for c in self.comparisons]}")

    def verdict(self, a: str, b: str) -> Verdict:
        return self.comparison(a, b).verdict

    # ------------------------------------------------------------------ output

    def rows(self) -> list[dict[str, Any]]:
        """One row per contender and space: the mean over the seeds of FD, KID, precision and recall
        (with the 95 % half-width over the seeds, given several), and the contender's accuracy and speed."""
        rows = []
        for c in self.contenders.values():
            for i, space in enumerate(self.spaces):
                row = {
                    "generator": c.name if i == 0 else "",
                    "nfe": ("-" if c.nfe is None else c.nfe) if i == 0 else "",
                    "space": space,
                }
                for metric in QUALITY:
                    interval = c.interval(f"{space}_{metric}")
                    half = (interval.high - interval.low) / 2
                    row[metric] = f"{interval.value:.4g}" + ("" if half != half else f" ±{half:.2g}")
                first = c.mean if i == 0 else {}
                row["accuracy"] = f"{first['accuracy']:.3f}" if "accuracy" in first else ""
                row["samples/s"] = f"{first['samples_per_second']:.0f}" if "samples_per_second" in first else ""
                rows.append(row)
        return rows

    def table(self) -> str:
        """The contenders' rows, the noise floor and the verdicts, as plain text."""
        rows = self.rows()
        text = format_table(rows, list(rows[0]))
        if self.noise_floor is not None:
            floor = self.noise_floor
            text += "\n\nnoise floor (real vs real): " + ", ".join(
                f"{s} FD {floor[f'{s}_fd']:.3g} P {floor[f'{s}_precision']:.3f} R {floor[f'{s}_recall']:.3f}"
                for s in self.spaces
            )
        for c in self.comparisons:
            text += f"\n{c.a} vs {c.b}: {c.sentence()}"
        return text

    def markdown(self) -> str:
        """Tables of every metric in every space (mean and 95 % interval over the seeds), the noise
        floor, and the paired comparisons with their numbers."""
        seeds = ", ".join(map(str, self.seeds))
        lines = [
            f"# {self.title}" if self.title else "# Comparison",
            "",
            f"{self.samples:,} class-balanced samples on each of {len(self.seeds)} seed(s) ({seeds}); every "
            "number is the mean over the seeds with its 95 % Student t interval (none with one seed).",
            "",
        ]
        for metric, heading in QUALITY.items():
            lines += [
                f"**{heading}**",
                "",
                "| generator | NFE | " + " | ".join(self.spaces) + " |",
                "|---|---|" + "---|" * len(self.spaces),
            ]
            for c in self.contenders.values():
                cells = [_cell(c.interval(f"{s}_{metric}")) for s in self.spaces]
                lines.append(f"| {c.name} | {'-' if c.nfe is None else c.nfe} | " + " | ".join(cells) + " |")
            lines.append("")
        if self.noise_floor is not None:
            floor = self.noise_floor
            lines += [
                "Noise floor (two disjoint real sets): "
                + "; ".join(
                    f"{s}: FD {floor[f'{s}_fd']:.3g}, precision {floor[f'{s}_precision']:.3f}, recall "
                    f"{floor[f'{s}_recall']:.3f}"
                    for s in self.spaces
                )
                + ".",
                "",
            ]
        if self.comparisons:
            lines += [
                "Paired comparisons (A - B, 95 % intervals: FD by a bootstrap over pairs, precision and "
                "recall by a t interval over sets of the reference's size):",
                "",
            ]
            for c in self.comparisons:
                lines += [
                    f"- **{c.a} vs {c.b}** ({c.verdict.value}): {c.sentence()}.",
                    "",
                    "  | space | FD | precision | recall |",
                    "  |---|---|---|---|",
                ]
                lines += [f"  | {s.space} | {s.fd} | {s.precision} | {s.recall} |" for s in c.spaces]
                lines.append("")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "samples": self.samples,
            "seeds": self.seeds,
            "spaces": list(self.spaces),
            "contenders": [c.to_dict() for c in self.contenders.values()],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "noise_floor": self.noise_floor,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(
            data["title"],
            data["samples"],
            data["seeds"],
            tuple(data["spaces"]),
            {c["name"]: ContenderResult(c["name"], c["per_seed"], c["nfe"]) for c in data["contenders"]},
            [Comparison.from_dict(c) for c in data["comparisons"]],
            data.get("noise_floor"),
            data.get("notes", {}),
        )

    def write(self, path: str | Path, provenance: Provenance | None = None) -> list[Path]:
        """``path`` as JSON (``.json`` added if missing) and the Markdown page beside it, with provenance."""
        return write_results(path, self.to_dict(), provenance, self.markdown())


def _cell(interval: Interval) -> str:
    if interval.low != interval.low:  # NaN: one seed
        return f"{interval.value:.4g}"
    return f"{interval.value:.4g} [{interval.low:.4g}, {interval.high:.4g}]"


def run_experiment(
    generators: dict[str, Generate],
    evaluator: Evaluator,
    num_classes: int,
    samples: int,
    seeds: Sequence[int],
    *,
    title: str = "",
    nfe: dict[str, int] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    real: ImageDataset | None = None,
    floor: bool = True,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Sample every generator on ``samples`` class-balanced samples of each seed, score it, compare.

    ``pairs`` (default: the first generator against each other one) are compared paired, sample by
    sample. ``nfe`` gives model calls per sample by name, for the table. The noise floor compares
    ``real`` (default: the digits' training split) with the evaluator's reference; ``floor=False``
    leaves it out. ``log`` gets one line per generator and seed (default: stderr).
    """
    if len(generators) < 1:
        raise ValueError("run_experiment needs at least one generator")
    if samples < 2 or not seeds:
        raise ValueError(f"need at least 2 samples and 1 seed, got {samples} samples and seeds {list(seeds)}")
    names = list(generators)
    pairs = [(names[0], other) for other in names[1:]] if pairs is None else list(pairs)
    unknown = {n for pair in pairs for n in pair} - set(names)
    if unknown:
        raise ValueError(f"pairs name unknown generators {sorted(unknown)}; the generators: {names}")
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    seeds = list(seeds)
    contenders, features = {}, {}
    for name, generate in generators.items():
        runs, kept = [], []
        for seed in seeds:
            result, feats = generate_and_score(generate, evaluator, num_classes, samples, seed)
            runs.append(result)
            kept.append(feats)
            log(
                f"{name}, seed {seed}: FD "
                + " / ".join(f"{result[f'{s}_fd']:.3f}" for s in evaluator.spaces)
                + f" ({', '.join(evaluator.spaces)})"
            )
        contenders[name] = ContenderResult(name, runs, None if nfe is None else nfe.get(name))
        features[name] = {space: torch.cat([f[space] for f in kept]) for space in evaluator.spaces}
    comparisons = [compare_features(evaluator, features[a], features[b], a, b, sets=len(seeds)) for a, b in pairs]
    floor_scores = noise_floor(evaluator, real) if floor else None
    return Report(title, samples, seeds, tuple(evaluator.spaces), contenders, comparisons, floor_scores)
