"""``adagen bench``: list the suite, run a resumable campaign, or write the leaderboard."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from adagen_agents.commands.common import at_least
from adagen_agents.files import check_writable_folder
from adagen_env.runtime.files import one_line
from adagen_env.runtime.tables import format_table


def run(args: argparse.Namespace) -> None:
    from adagen_agents.bench.algorithms import ALGORITHMS
    from adagen_agents.bench.tasks import TASKS

    if args.bench_command == "list":
        print(
            format_table(
                [
                    {
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
                ("task", "env", "steps", "NFE", "budget samples", "budget env steps", "eval"),
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
        return
    results = Path(args.results)
    if args.bench_command == "report":
        from adagen_agents.bench.report import write_report

        print(f"wrote {write_report(results)}")
        print((results / "leaderboard.md").read_text())
        return
    from adagen_agents.bench.campaign import run_campaign

    algos = list(ALGORITHMS) if args.algo == ["all"] else args.algo
    tasks = list(TASKS) if args.task == ["all"] else args.task
    at_least(args, 1, "threads")
    torch.set_num_threads(args.threads)
    check_writable_folder(results, "--results")
    failed = run_campaign(algos, tasks, args.seed, results)
    if failed:
        raise ValueError(f"{failed} run(s) failed; see {results / 'failed'} (the others are saved; rerun to retry)")
