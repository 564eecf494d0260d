"""Should a newly trained policy ship? Decided on the tuning seeds only, so the evaluation seeds
stay unseen by the choice.

    python -m benchmarks.ship_decision --candidate PATH [--samples 2000]

The candidate is sampled on ``PICK_SEEDS`` beside the policy that ships today for its env and
step count (if one does), the hand-designed schedule and the best static schedule, with the
same labels and noise, and compared with each, paired, in every feature space (FD difference,
95 % bootstrap interval, ``comparison.verdict``). It replaces a shipped policy only if it beats
it in every space; where none ships at its step count it ships if it beats the hand-designed
schedule in every space. Writes ``results/ship_decision/<candidate file>.json``; the numbers
to report afterwards come from the evaluation seeds (``adagen eval --policy shipped --seeds 3``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from adagen_agents.loading import load_policy, policy_metadata
from adagen_env.evaluation.comparison import paired_fd_difference, verdict
from adagen_env.evaluation.generators import evaluate_on_seeds, policy_generator, static_generator
from adagen_env.evaluation.metrics import Evaluator
from adagen_env.paradigms import best_static_schedule, get_paradigm
from adagen_env.evaluation.seeds import PICK_SEEDS
from benchmarks.static_grid import mean_std

RESULTS = Path(__file__).resolve().parent / "results" / "ship_decision"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", required=True, help="the trained policy (.pt) (required)")
    parser.add_argument("--samples", type=int, default=2000, help="samples per tuning seed (default: %(default)s)")
    args = parser.parse_args()
    metadata = policy_metadata(args.candidate)
    paradigm = get_paradigm(metadata["process"])
    process, steps = paradigm.make_process(), metadata["num_steps"]
    generators = {"candidate": policy_generator(process, steps, load_policy(args.candidate, process, paradigm.name)[0],
                                                metadata.get("smoothing", 0.0))}
    incumbent = paradigm.shipped_policies.get(steps)
    if incumbent is not None:
        act, shipped = load_policy("shipped", process, paradigm.name, steps)
        generators["shipped"] = policy_generator(process, steps, act, shipped.get("smoothing", 0.0))
    generators["hand-designed"] = static_generator(process, steps)
    best = best_static_schedule(paradigm.name, process, steps)
    if best is not None:
        generators["best static"] = static_generator(process, steps, best[1])
    evaluator = Evaluator()
    results, images = {}, {}
    for name, generate in generators.items():
        runs, images[name] = evaluate_on_seeds(generate, evaluator, process.num_classes, args.samples, PICK_SEEDS)
        results[name] = mean_std(runs)[0]
        print(f"{name}: FD " + " / ".join(f"{results[name][f'{s}_fd']:.3f}" for s in evaluator.spaces), flush=True)
    verdicts = {name: verdict(paired_fd_difference(evaluator, images["candidate"], images[name]), "candidate", name)
                for name in generators if name != "candidate"}
    bar = "shipped" if incumbent is not None else "hand-designed"
    ships = verdicts[bar] == f"candidate beats {bar} in every space"
    for name, said in verdicts.items():
        print(f"candidate vs {name}: {said}")
    print(f"decision: {'ship it' if ships else 'keep what ships'} (the bar: beat {bar} in every space on tuning seeds "
          f"{list(PICK_SEEDS)})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{Path(args.candidate).stem}.json"
    out.write_text(json.dumps({"candidate": Path(args.candidate).name, "process": paradigm.name, "steps": steps,
                               "incumbent": incumbent, "seeds": list(PICK_SEEDS), "samples": args.samples,
                               "mean": results, "verdicts": verdicts, "ships": ships}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
