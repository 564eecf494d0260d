"""``adagen bench``: list the suite, run a resumable campaign, tune for the tuned track, or write the leaderboard."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from adagen_agents.commands.common import RESULTS_DIR, at_least
from adagen_agents.files import check_writable_folder
from adagen_env.runtime.files import one_line
from adagen_env.runtime.tables import format_table


def run(args: argparse.Namespace) -> None:
    from adagen_agents.bench.algorithms import ALGORITHMS
    from adagen_agents.bench.tasks import SUITES, TASKS

    if args.bench_command == "list":
        suite_of = {task: suite.name for suite in SUITES.values() for task in suite.tasks}
        print(
            format_table(
                [
                    {
                        "suite": suite_of.get(t.name, "-"),
                        "task": t.name,
                        "env": t.env_id,
                        "steps": t.num_steps,
                        "NFE": t.nfe,
                        "budget samples": t.budget_samples,
                        "budget env steps": t.budget_env_steps,
                        "eval": f"{t.eval_samples} samples, seed {t.eval_seed}",
                    }
                    for t in TASKS.values()
                ],
                ("suite", "task", "env", "steps", "NFE", "budget samples", "budget env steps", "eval"),
            )
        )
        print()
        print(
            format_table(
                [
                    {"algorithm": name, "what": one_line((fn.__doc__ or "").strip().split("\n")[0])}
                    for name, fn in ALGORITHMS.items()
                ],
                ("algorithm", "what"),
            )
        )
        print(
            "\nOr your own: --algo module:function (a function of the trial, in the current folder or on PYTHONPATH)."
        )
        return
    suite = SUITES[args.suite]
    results = Path(args.results or Path(RESULTS_DIR) / suite.results)
    if args.bench_command == "report":
        from adagen_agents.bench.report import write_report

        print(f"wrote {write_report(results)}")
        print((results / "leaderboard.md").read_text())
        return
    if args.bench_command == "tune":
        from adagen_agents.bench.tuned import search_space, tune

        at_least(args, 1, "threads", "trials", "jobs")
        for algo in args.algo:  # every name checked before the first tuning starts
            search_space(algo)
        torch.set_num_threads(args.threads)
        check_writable_folder(results, "--results")
        for algo in args.algo:
            best = tune(algo, args.trials, results, args.suite, device=args.device, jobs=args.jobs)["best"]
            print(
                f"{algo}: picked {best['params'] or 'the reference (no overrides)'}, mean objective "
                f"{best['objective']:+.3f} over tuning seeds {', '.join(map(str, best['seeds']))}"
            )
        return
    from adagen_agents.bench.campaign import run_campaign

    algos = list(ALGORITHMS) if args.algo == ["all"] else args.algo
    tasks = list(suite.tasks) if args.task == ["all"] else args.task
    at_least(args, 1, "threads", "seeds", "jobs")
    seeds = list(range(args.seeds)) if args.seeds is not None else args.seed or list(suite.seeds)
    torch.set_num_threads(args.threads)
    check_writable_folder(results, "--results")
    failed = run_campaign(algos, tasks, seeds, results, args.device, args.track, args.jobs)
    if failed:
        raise ValueError(f"{failed} run(s) failed; see {results / 'failed'} (the others are saved; rerun to retry)")
