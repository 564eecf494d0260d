"""Should a newly trained policy ship? Decided on the tuning seeds only, so the evaluation seeds
stay unseen by the choice, and in the selection space, so the evaluation's networks stay unseen too.

    python -m benchmarks.ship_decision --candidate PATH [--samples 2000] [--space selection|evaluation]

The candidate is sampled on ``PICK_SEEDS`` beside the policy that ships today for its env and
step count (if one does), the hand-designed schedule and the best static schedule, with the
same labels and noise, and compared with each, paired (``run_experiment``: FD, KID, precision
and recall with 95 % intervals, a ``Verdict``). ``--space selection`` (the default, v1) compares
in the selection space (``ChoiceEvaluator``: the selection network against the train split),
which no evaluation space and no reward uses; ``--space evaluation`` in every evaluation space,
as v0 decided. It replaces a shipped policy only if its verdict against it is
``Verdict.BETTER``; where none ships at its step count it ships if its verdict against the
hand-designed schedule is. A candidate that *is* the shipped policy (the same bytes) is re-checked
against the hand-designed schedule: would it ship today? Writes
``results/ship_decision/<candidate file>[-evaluation].json`` and ``.md``; the numbers to report
afterwards come from the evaluation seeds (``adagen eval --policy shipped --seeds 3``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from adagen_agents.loading import read_card
from adagen_agents.target import make_target
from adagen_env.evaluation.comparison import Verdict
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.seeds import PICK_SEEDS
from adagen_env.evaluation.selection import ChoiceEvaluator
from adagen_env.runtime.provenance import Provenance
from benchmarks.common import RESULTS, load_policies, write_reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", required=True, help="the trained policy (.pt) (required)")
    parser.add_argument("--samples", type=int, default=2000, help="samples per tuning seed (default: %(default)s)")
    parser.add_argument(
        "--space",
        choices=["selection", "evaluation"],
        default="selection",
        help="where the candidates are compared: the selection space (v1), or every evaluation space (v0) "
        "(default: %(default)s)",
    )
    args = parser.parse_args()
    provenance = Provenance()
    card = read_card(args.candidate)
    if card.env is None:
        raise SystemExit(f"{args.candidate}: its card names no registered env; the decision is for shipped generators")
    target = make_target(card.env)
    paradigm, process, steps = target.paradigm, target.process, card.num_steps
    paths = {"candidate": args.candidate}
    incumbent = paradigm.shipped_policies.get(steps)
    recheck = incumbent is not None and same_bytes(args.candidate, paradigm.shipped_policy_path(steps))
    if incumbent is not None and not recheck:
        paths["shipped"] = paradigm.shipped_policy_path(steps)
    spec = card.sampling_spec()
    generators = target.comparison(load_policies(target, paths), spec)  # + hand-designed, best static
    selection = args.space == "selection"
    report = run_experiment(
        generators,
        ChoiceEvaluator(device=target.evaluator.device) if selection else target.evaluator,
        process.num_classes,
        args.samples,
        PICK_SEEDS,
        title=f"Ship decision: {Path(args.candidate).name} ({paradigm.name}, {steps} steps, {args.space} space)",
        nfe={name: spec.nfe(process) for name in generators},
        floor=not selection,  # the selection space's reference is the train split: no other real set to floor it
    )
    bar = "shipped" if "shipped" in paths else "hand-designed"
    ships = report.verdict("candidate", bar) == Verdict.BETTER
    print(report.table())
    if recheck:
        outcome = "it would ship today" if ships else "it would not ship today"
    else:
        outcome = "ship it" if ships else "keep what ships"
    print(
        f"decision: {outcome} (the bar: candidate vs {bar} is {Verdict.BETTER.value} in the {args.space} space on "
        f"tuning seeds {list(PICK_SEEDS)}; it is {report.verdict('candidate', bar).value})"
    )
    decision = {
        "candidate": Path(args.candidate).name,
        "process": paradigm.name,
        "steps": steps,
        "incumbent": incumbent,
        "recheck": recheck,  # the candidate is the shipped policy: would it ship today?
        "space": args.space,
        "bar": bar,
        "ships": ships,
    }
    preface = (
        f"# Ship decision: {decision['candidate']}\n\n**{outcome[0].upper() + outcome[1:]}**: candidate "
        f"vs {bar} is {report.verdict('candidate', bar).value} in the {args.space} space on the tuning seeds "
        "(ships only if better)."
    )
    name = Path(args.candidate).stem + ("" if selection else "-evaluation")
    write_reports(RESULTS / "ship_decision" / name, [report], provenance, preface, decision)


def same_bytes(a: str | Path, b: str | Path) -> bool:
    """Whether two files hold the same bytes (a candidate that is the shipped policy)."""
    return Path(a).read_bytes() == Path(b).read_bytes()


if __name__ == "__main__":
    main()
