"""Should a newly trained policy ship? Decided on the tuning seeds only, so the evaluation seeds
stay unseen by the choice.

    python -m benchmarks.ship_decision --candidate PATH [--samples 2000]

The candidate is sampled on ``PICK_SEEDS`` beside the policy that ships today for its env and
step count (if one does), the hand-designed schedule and the best static schedule, with the
same labels and noise, and compared with each, paired, in every feature space
(``run_experiment``: FD, precision and recall with 95 % intervals, a ``Verdict``). It replaces a
shipped policy only if its verdict against it is ``Verdict.BETTER``; where none ships at its
step count it ships if its verdict against the hand-designed schedule is. Writes
``results/ship_decision/<candidate file>.json`` and ``.md``; the numbers to report afterwards
come from the evaluation seeds (``adagen eval --policy shipped --seeds 3``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from adagen_agents.loading import read_card
from adagen_agents.target import make_target
from adagen_env.evaluation.comparison import Verdict
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.seeds import PICK_SEEDS
from adagen_env.runtime.provenance import Provenance
from benchmarks.common import RESULTS, load_policies, write_reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", required=True, help="the trained policy (.pt) (required)")
    parser.add_argument("--samples", type=int, default=2000, help="samples per tuning seed (default: %(default)s)")
    args = parser.parse_args()
    provenance = Provenance()
    card = read_card(args.candidate)
    if card.env is None:
        raise SystemExit(f"{args.candidate}: its card names no registered env; the decision is for shipped generators")
    target = make_target(card.env)
    paradigm, process, steps = target.paradigm, target.process, card.num_steps
    paths = {"candidate": args.candidate}
    incumbent = paradigm.shipped_policies.get(steps)
    if incumbent is not None:
        paths["shipped"] = paradigm.shipped_policy_path(steps)
    spec = card.sampling_spec()
    generators = target.comparison(load_policies(target, paths), spec)  # + hand-designed, best static
    report = run_experiment(
        generators,
        target.evaluator,
        process.num_classes,
        args.samples,
        PICK_SEEDS,
        title=f"Ship decision: {Path(args.candidate).name} ({paradigm.name}, {steps} steps)",
        nfe={name: spec.nfe(process) for name in generators},
    )
    bar = "shipped" if incumbent is not None else "hand-designed"
    ships = report.verdict("candidate", bar) == Verdict.BETTER
    print(report.table())
    print(
        f"decision: {'ship it' if ships else 'keep what ships'} (the bar: candidate vs {bar} is "
        f"{Verdict.BETTER.value} on tuning seeds {list(PICK_SEEDS)}; it is {report.verdict('candidate', bar).value})"
    )
    decision = {
        "candidate": Path(args.candidate).name,
        "process": paradigm.name,
        "steps": steps,
        "incumbent": incumbent,
        "bar": bar,
        "ships": ships,
    }
    preface = (
        f"# Ship decision: {decision['candidate']}\n\n**{'Ship it' if ships else 'Keep what ships'}**: candidate "
        f"vs {bar} is {report.verdict('candidate', bar).value} on the tuning seeds (ships only if better)."
    )
    write_reports(RESULTS / "ship_decision" / Path(args.candidate).stem, [report], provenance, preface, decision)


if __name__ == "__main__":
    main()
