"""Does scoring in every feature space stay cheap next to generating the samples it scores?

Generates ``--samples`` class-balanced MaskGIT samples with the hand-designed schedule
(``--steps`` steps) and scores them with ``Evaluator`` in all spaces (FD, KID, precision/recall),
interleaved over ``--repeats`` repeats in one process; reports medians, their ratio (target:
scoring adds at most 20 % to generation), and where the scoring time goes, per space and metric.

    python -m benchmarks.evaluator_speed [--samples 2000] [--steps 8] [--repeats 3]

Results: ``results/evaluator_speed.json``, with its provenance (torch's thread count, the load average).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from adagen_env.evaluation.generators import generate_balanced, static_generator
from adagen_env.evaluation.metrics import (
    NEAREST_NEIGHBOURS,
    SPACES,
    Evaluator,
    _precision_recall,
    frechet_distance,
    kid,
)
from adagen_env.processes import MaskGITProcess
from adagen_env.runtime.provenance import Provenance
from benchmarks.common import RESULTS, write

TARGET = 0.20  # scoring may add at most this share to generation time


def timed(fn: Callable[..., object], *args: object) -> float:
    """Seconds that ``fn(*args)`` takes."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def breakdown(evaluator: Evaluator, images: torch.Tensor) -> dict[str, dict[str, float]]:
    """Seconds per space for features, FD, KID and precision/recall, as evaluate computes them."""
    parts = {}
    for space in evaluator.spaces:
        reference = evaluator._references[space]
        start = time.perf_counter()
        feats = evaluator.space_features(images, space)
        features_s = time.perf_counter() - start
        size = min(evaluator.kid_subset_size, len(reference.features), len(feats))
        scale = reference.kid_scale
        parts[space] = {
            "features": features_s,
            "fd": timed(frechet_distance, reference.features, feats),
            "kid": timed(kid, scale * reference.features, scale * feats.double(), evaluator.kid_subsets, size),
            "precision_recall": timed(
                _precision_recall, reference.features, reference.radii, feats, NEAREST_NEIGHBOURS
            ),
        }
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    provenance = Provenance()
    process = MaskGITProcess()
    generate = static_generator(process, args.steps)
    setup_s = time.perf_counter()
    evaluator = Evaluator(spaces=SPACES)
    setup_s = time.perf_counter() - setup_s
    images, labels = generate_balanced(generate, process.num_classes, args.samples, seed=0)  # warm-up
    evaluator.evaluate(images, labels)

    generation_s, scoring_s = [], []
    for r in range(args.repeats):
        start = time.perf_counter()
        images, labels = generate_balanced(generate, process.num_classes, args.samples, seed=r)
        generation_s.append(time.perf_counter() - start)
        scoring_s.append(timed(evaluator.evaluate, images, labels))
        print(f"repeat {r}: generation {generation_s[-1]:.2f} s, scoring {scoring_s[-1]:.3f} s")
    parts = breakdown(evaluator, images)
    generation, scoring = statistics.median(generation_s), statistics.median(scoring_s)
    ratio = scoring / generation

    for space, times in parts.items():
        print(f"{space:>10}: " + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in times.items()))
    print(
        f"\ngeneration {generation:.2f} s, scoring {scoring:.3f} s (all of {', '.join(SPACES)}): "
        f"scoring adds {100 * ratio:.1f} % (target <= {100 * TARGET:.0f} %); Evaluator set-up {setup_s:.2f} s once"
    )
    print(f"torch threads {torch.get_num_threads()}; the load average is in the results' provenance")
    write(
        RESULTS / "evaluator_speed.json",
        {
            "args": vars(args),
            "generation_seconds": generation_s,
            "scoring_seconds": scoring_s,
            "generation_median_s": generation,
            "scoring_median_s": scoring,
            "scoring_over_generation": ratio,
            "target": TARGET,
            "meets_target": ratio <= TARGET,
            "evaluator_setup_s": setup_s,
            "scoring_breakdown_s": parts,
        },
        provenance,
    )


if __name__ == "__main__":
    main()
