"""How FD depends on the number of samples: the bias that forbids comparing rows of different N.

    python -m benchmarks.fd_sample_size [--env ID] [--steps S] [--sizes 250 500 1000 2000 4000]

Generates the largest size once with the hand-designed schedule (evaluation seed REPORT_SEEDS[0])
and scores its first N samples for every N, in every feature space; does the same for real
images (the first N of the 1,297 training images, shuffled once) against the held-out
reference. FD's estimate is biased upwards by roughly c / N, so a line fitted to FD against
1 / N gives its slope c and its intercept FD-infinity (Chong and Forsyth, 2020), the value
at infinitely many samples. Results: ``results/fd_sample_size.json``.
"""

from __future__ import annotations

import argparse

import torch

from adagen_agents.target import DEFAULT_ENV
from adagen_env.data.datasets import load_digits
from adagen_env.evaluation.generators import generate_balanced, static_generator
from adagen_env.evaluation.metrics import SPACES, Evaluator, frechet_distance
from adagen_env.evaluation.seeds import REPORT_SEEDS
from adagen_env.paradigms import get_paradigm
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, write


def fd_by_size(evaluator: Evaluator, images: torch.Tensor, sizes: list[int]) -> dict[int, dict[str, float]]:
    """FD in every space of the first N images, for every N in ``sizes`` (features computed once per space)."""
    features = {space: evaluator.space_features(images, space) for space in SPACES}
    return {
        n: {space: frechet_distance(evaluator.reference_features_in(space), features[space][:n]) for space in SPACES}
        for n in sizes
    }


def fd_infinity(by_size: dict[int, dict[str, float]], space: str) -> tuple[float, float]:
    """Intercept and slope of the least-squares line FD = FD_inf + c / N."""
    x = torch.tensor([1 / n for n in by_size], dtype=torch.float64)
    y = torch.tensor([scores[space] for scores in by_size.values()], dtype=torch.float64)
    design = torch.stack([torch.ones_like(x), x], dim=1)
    intercept, slope = torch.linalg.lstsq(design, y[:, None]).solution[:, 0].tolist()
    return intercept, slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=DEFAULT_ENV, help="environment id (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000])
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    if sizes[0] < 10:
        raise SystemExit(f"--sizes must be at least 10 (class-balanced sets), got {sizes[0]}")
    provenance = Provenance()

    paradigm = get_paradigm(args.env)
    process = paradigm.make_process()
    evaluator = Evaluator()
    images, _ = generate_balanced(
        static_generator(process, args.steps), process.num_classes, sizes[-1], REPORT_SEEDS[0], progress=True
    )
    real = load_digits("train").to_float()
    real = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))]
    sets = {
        "hand-designed": fd_by_size(evaluator, images, sizes),
        "real (train split)": fd_by_size(evaluator, real, [n for n in sizes if n <= len(real)] + [len(real)]),
    }

    rows = []
    for name, by_size in sets.items():
        for space in SPACES:
            intercept, slope = fd_infinity(by_size, space)
            rows.append(
                {
                    "set": name,
                    "space": space,
                    **{f"N={n}": s[space] for n, s in by_size.items()},
                    "fd_infinity": intercept,
                    "slope_c": slope,
                }
            )
    columns = (
        "set",
        "space",
        *sorted({k for r in rows for k in r if k.startswith("N=")}, key=lambda k: int(k[2:])),
        "fd_infinity",
        "slope_c",
    )
    print(format_table([{c: r.get(c, "-") for c in columns} for r in rows], columns))
    print(
        f"\n{paradigm.env_id}, {args.steps} steps, hand-designed, evaluation seed {REPORT_SEEDS[0]}; FD of the first N "
        f"samples against the 500 held-out images; fd_infinity and slope_c: the line FD = fd_infinity + slope_c / N"
    )
    write(RESULTS / "fd_sample_size.json", {"args": vars(args), "env": paradigm.env_id, "rows": rows}, provenance)


if __name__ == "__main__":
    main()
