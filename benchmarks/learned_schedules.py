"""Learned schedules against the hand-designed and the best static one, for every paradigm.

Three modes, so that runs can go in parallel and an interrupted campaign keeps what finished:

    python -m benchmarks.learned_schedules train [--env ID] --steps 8 --seed 0 --updates N [--minutes M]
                                                 [--reward R] [--smoothing S]
    python -m benchmarks.learned_schedules evaluate [--env ID]
    python -m benchmarks.learned_schedules report

``train`` trains our PPO (``adagen_agents.train.train_ppo``, the training loop of ``adagen
train``) for ``--updates`` updates or ``--minutes`` of training time, whichever comes first,
logging FD on ``--curve-samples`` samples of the tuning seed CURVE_SEED every ``--eval-every``
updates (the learning curve), and writes
``results/learned/<process>/<reward>-<steps>steps-seed<seed>.json`` plus the policy checkpoint
and its export. ``evaluate`` scores every finished run not yet scored (``--again``: every one)
from its exported policy on ``--samples`` samples of each evaluation seed in REPORT_SEEDS
(``adagen_env/evaluation/seeds.py``), the seeds of the static grid's reported rows, in every feature
space, and compares it, paired on those samples, with the hand-designed and the best static
schedule (``run_experiment``: the runs at one step count and the static schedules in one
experiment, each run paired with each static schedule in every space).
``report`` gathers those files with the static grids (``results/static_grid/<process>.json``)
into tables over all paradigms (``results/learned_schedules.md``), plots FD against training
time (``results/learning_curve.png``) and FD against model evaluations (``results/fd_vs_nfe.png``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict
from pathlib import Path

import torch

from adagen_agents.cli import argument_type
from adagen_agents.commands.train import DEFAULT_NUM_ENVS
from adagen_agents.ppo import PPO, PPOConfig
from adagen_agents.target import DEFAULT_ENV, Target, make_target
from adagen_agents.train import Interrupted
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.envs.spec import KNOBS, EpisodeSpec
from adagen_env.evaluation.experiment import run_experiment
from adagen_env.evaluation.generators import evaluate_generator, policy_generator, static_generator
from adagen_env.evaluation.metrics import DEFAULT_NUM_SAMPLES, SPACES, Evaluator, noise_floor
from adagen_env.evaluation.seeds import CURVE_SEED, REPORT_SEEDS
from adagen_env.paradigms import BEST_STATIC_SPACE, PARADIGMS, get_paradigm
from adagen_env.runtime.provenance import Provenance
from adagen_env.runtime.tables import format_table
from benchmarks.common import RESULTS, exported, load_policies, mean_std, said, train_policy, write
from benchmarks.static_grid import static_grid_path

LEARNED = RESULTS / "learned"
# the PPO configuration every committed run and shipped policy was trained with (PPOConfig's defaults
# until AdaGen-Bench tuning moved them to 256 episodes per update): reruns reproduce the tables
RESULTS_CONFIG = {"episodes_per_update": 512, "minibatches": 64}
SPACE_FDS = tuple(f"{space}_fd" for space in SPACES)
# the metrics of a table row: FD in every space, then KID, precision and recall in every space
REPORTED = ("fd", *SPACE_FDS[1:], *(f"{space}_{m}" for m in ("kid", "precision", "recall") for space in SPACES))


def run_name(reward: str, steps: int, seed: int, smoothing: float = 0.0) -> str:
    smoothed = f"-smoothing{smoothing:g}" if smoothing else ""
    return f"{reward}{smoothed}-{steps}steps-seed{seed}"


def train(args: argparse.Namespace) -> None:
    if args.updates is None and args.minutes is None:
        raise SystemExit("train: give --updates (or --minutes), or it would never stop")
    provenance = Provenance()
    paradigm = get_paradigm(args.env)
    process_name = paradigm.name
    folder = LEARNED / process_name
    env = ScheduleVectorEnv(
        process=process_name, num_envs=args.num_envs, num_steps=args.steps, reward=args.reward, smoothing=args.smoothing
    )
    smoothing = env.core.spec.smoothing
    name = run_name(args.reward, args.steps, args.seed, smoothing)
    process = env.core.process
    evaluator = Evaluator()

    def fd(generate) -> float:
        return evaluate_generator(
            generate, evaluator, process.num_classes, args.curve_samples, CURVE_SEED, progress=False
        )["fd"]

    # the untrained policy is the hand-designed schedule, bit for bit (tests/test_ppo.py)
    curve = [{"updates": 0, "train_seconds": 0.0, "fd": fd(static_generator(process, args.steps))}]

    def on_update(agent: PPO, stats: dict) -> None:
        if agent.updates % args.eval_every == 0:
            curve.append(
                {
                    "updates": agent.updates,
                    "train_seconds": agent.seconds,
                    "fd": fd(policy_generator(process, agent.predict, env.core.spec.for_sampling())),
                }
            )
            print(
                f"{process_name} {name}: update {agent.updates}, {agent.seconds:.0f} s, "
                f"reward {stats['reward_mean']:.3f}, FD({args.curve_samples}) {curve[-1]['fd']:.2f}",
                flush=True,
            )

    try:
        result, _ = train_policy(
            env,
            paradigm.env_id,
            PPOConfig(seed=args.seed, **RESULTS_CONFIG),
            folder / f"{name}.pt",
            args.updates or 10**9,
            minutes=args.minutes,
            on_update=on_update,
        )
    except Interrupted as e:
        raise SystemExit(f"{name}: {e}") from None
    agent, checkpoint = result.agent, result.out
    out = folder / f"{name}.json"
    write(
        out,
        {
            "env": paradigm.env_id,
            "process": process_name,
            "reward": args.reward,
            "smoothing": smoothing,
            "steps": args.steps,
            "nfe": process.nfe(args.steps),
            "seed": args.seed,
            "minutes": args.minutes,
            "ppo": asdict(agent.config),
            "updates": agent.updates,
            "episodes": agent.episodes,
            "train_seconds": agent.seconds,
            "threads": torch.get_num_threads(),
            "curve": curve,
            "checkpoint": checkpoint.name,
        },
        provenance,
    )
    print(f"{name}: trained {agent.updates} updates; now: python -m benchmarks.learned_schedules evaluate")


def evaluate(args: argparse.Namespace) -> None:
    """Score every finished run's exported policy on the evaluation seeds, paired with the static schedules."""
    provenance = Provenance()
    paradigms = [get_paradigm(args.env)] if args.env else list(PARADIGMS.values())
    for paradigm in paradigms:
        pending: dict[int, dict[str, tuple[Path, dict]]] = {}  # steps -> run name -> (its file, its data)
        for path in sorted((LEARNED / paradigm.name).glob("*.json")):
            run = json.loads(path.read_text())
            done = run.get("evaluation", {})
            if not args.again and done.get("seeds") == list(REPORT_SEEDS) and done.get("samples") == args.samples:
                print(f"{paradigm.name} {path.stem}: already evaluated (--again re-runs it)")
            elif not exported(path).is_file():  # policies are not committed: only the machine that trained has them
                print(f"{paradigm.name} {path.stem}: skipped, no policy at {exported(path)}")
            else:
                pending.setdefault(run["steps"], {})[path.stem] = (path, run)
        if pending:
            target = make_target(paradigm.env_id)
            for steps, runs in sorted(pending.items()):
                evaluate_runs(target, steps, runs, args.samples, provenance)


def evaluate_runs(
    target: Target, steps: int, runs: dict[str, tuple[Path, dict]], samples: int, provenance: Provenance
) -> None:
    """The runs at ``steps`` and the static schedules in one experiment: sample i of every schedule
    shares its label and noise, each run is paired with each static schedule; written into each run's file."""
    process, spec = target.process, EpisodeSpec(num_steps=steps, reward=None)
    generators = target.comparison(
        load_policies(target, {name: exported(path) for name, (path, _) in runs.items()}), spec
    )
    nfe = {name: spec.nfe(process) for name in generators}
    grid = static_grid_path(target.paradigm.name, BEST_STATIC_SPACE)
    if grid.exists() and str(3 * steps) in json.loads(grid.read_text())["best"]:  # the method's 3x-budget bar
        generators[f"hand-designed, {3 * steps} steps"] = target.static(None, spec.replace(num_steps=3 * steps))
        nfe[f"hand-designed, {3 * steps} steps"] = process.nfe(3 * steps)
    statics = [name for name in generators if name not in runs]
    report = run_experiment(
        generators,
        target.evaluator,
        process.num_classes,
        samples,
        REPORT_SEEDS,
        title=f"{target.paradigm.name}, {steps} steps: learned runs",
        nfe=nfe,
        pairs=[(name, static) for name in runs for static in statics],
        floor=False,
    )
    for name, (path, run) in runs.items():
        run.pop("final", None)  # the earlier protocol's evaluation, on what are now tuning seeds
        trained = run.pop("provenance", None)  # the training's; this file's own becomes the evaluation's
        if trained is not None:
            run.setdefault("training_provenance", trained)
        results = report.contenders[name].per_seed
        means, stds = mean_std(results)
        run["evaluation"] = {
            "seeds": list(REPORT_SEEDS),
            "samples": samples,
            "per_seed": results,
            "mean": means,
            "std": stds,
            "best_static_space": BEST_STATIC_SPACE,  # the grid whose pick "best static" is
        }
        run["paired"] = {static: report.comparison(name, static).to_dict() for static in statics}
        write(path, run, provenance)
        print(
            f"{target.paradigm.name} {name}: FD "
            + ", ".join(f"{k} {means[k]:.3f}" for k in SPACE_FDS)
            + "; "
            + "; ".join(said(p) for p in run["paired"].values()),
            flush=True,
        )


def load_runs() -> dict[str, list[dict]]:
    """Finished runs by process, in the order of ``PARADIGMS``."""
    runs = {}
    for process_name in PARADIGMS:
        files = sorted((LEARNED / process_name).glob("*.json"))
        if files:
            runs[process_name] = [json.loads(p.read_text()) for p in files]
    return runs


def static_row(common: dict, label: str, r: dict, hand: dict) -> dict:
    """A static schedule's row from the static grid: means and std over the evaluation seeds."""
    return {
        **common,
        "schedule": label,
        "runs": "-",
        **{k: r.get(k, "-") for k in REPORTED},  # "-": a space the grid was not scored in (before the ensemble)
        "sd_eval": r["fd_std"],
        "sd_train": "-",
        "fd_vs_hand": r["fd"] / hand["fd"],
    }


def learned_label(reward: str, smoothing: float) -> str:
    return f"learned ({reward}, smoothing {smoothing:g})" if smoothing else f"learned ({reward})"


def learned_row(common: dict, label: str, group: list[dict], hand: dict) -> dict:
    """Learned runs' row: the mean over training runs of each run's mean over the evaluation seeds;
    sd_eval: the mean over runs of the std over evaluation seeds; sd_train: the std over runs of their means."""
    means = [r["evaluation"]["mean"] for r in group]
    fds = [m["fd"] for m in means]
    return {
        **common,
        "schedule": label,
        "runs": len(group),
        **{k: statistics.mean(m[k] for m in means) if all(k in m for m in means) else "-" for k in REPORTED},
        "sd_eval": statistics.mean(r["evaluation"]["std"]["fd"] for r in group),
        "sd_train": statistics.stdev(fds) if len(fds) > 1 else "-",
        "fd_vs_hand": statistics.mean(fds) / hand["fd"],
    }


def report(args: argparse.Namespace) -> None:
    provenance = Provenance()
    runs = {name: [r for r in group if "evaluation" in r] for name, group in load_runs().items()}
    runs = {name: group for name, group in runs.items() if group}
    rows, verdicts, grids, best_static_spaces = [], [], {}, {}
    for process_name, process_runs in runs.items():
        # the grid whose pick the runs were compared with: runs evaluated before v1 record none (classifier)
        spaces = {r["evaluation"].get("best_static_space", "classifier") for r in process_runs}
        if len(spaces) > 1:
            raise SystemExit(
                f"{process_name}: its runs were compared with best static schedules picked in different spaces "
                f"({', '.join(sorted(spaces))}); evaluate them again with --again"
            )
        space = best_static_spaces[process_name] = spaces.pop()
        grids[process_name] = grid = json.loads(static_grid_path(process_name, space).read_text())
        for steps in sorted({r["steps"] for r in process_runs}):
            best = grid["best"][str(steps)]
            hand, static = best["hand_designed"], best["best_static"]
            common = {"process": process_name, "steps": steps, "nfe": best["nfe"]}
            rows.append(static_row(common, "hand-designed", hand, hand))
            rows.append(static_row(common, "best static", static, hand))
            verdicts.append(
                f"{process_name}, {steps} steps, best static vs hand-designed: {said(best['best_vs_hand'])}"
            )
            triple = grid["best"].get(str(3 * steps))  # the 3x-budget bar for diffusion and flow
            if triple is not None:
                rows.append(
                    static_row(
                        {**common, "nfe": triple["nfe"]},
                        f"hand-designed, {3 * steps} steps",
                        triple["hand_designed"],
                        hand,
                    )
                )
            # one row per reward and smoothing: smoothing on and off side by side is the method's ablation
            kinds = sorted({(r["reward"], r.get("smoothing", 0.0)) for r in process_runs if r["steps"] == steps})
            for reward, smoothing in kinds:
                group = [
                    r
                    for r in process_runs
                    if r["steps"] == steps and (r["reward"], r.get("smoothing", 0.0)) == (reward, smoothing)
                ]
                label = learned_label(reward, smoothing)
                rows.append(learned_row(common, label, group, hand))
                for name in group[0]["paired"]:
                    per_run = "; ".join(f"seed {r['seed']}: {said(r['paired'][name])}" for r in group)
                    verdicts.append(f"{process_name}, {steps} steps, {label} vs {name}: {per_run}")
    floor = noise_floor(Evaluator())
    columns = (
        "process",
        "steps",
        "nfe",
        "schedule",
        "runs",
        "fd",
        "encoder_fd",
        "pixels_fd",
        "sd_eval",
        "sd_train",
        "fd_vs_hand",
    )
    fd_table = format_table(rows, columns)
    scored = [s for s in SPACES if any(row[f"{s}_kid"] != "-" for row in rows)]  # grids before the ensemble: 3
    more_table = format_table(
        rows, ("process", "steps", "schedule", *(f"{s}_{m}" for m in ("kid", "precision", "recall") for s in scored))
    )
    seeds = ", ".join(str(s) for s in REPORT_SEEDS)
    note = (
        f"Every number: {DEFAULT_NUM_SAMPLES:,} samples of each evaluation seed ({seeds}) against the 500 held-out "
        f"images; fd is the classifier space's FD, encoder_fd and pixels_fd the other two spaces'. Static rows: the "
        f"mean over the evaluation seeds, sd_eval their standard deviation (classifier FD). Learned rows: the mean "
        f"over `runs` training seeds of each run's mean over the evaluation seeds; sd_eval is the spread over "
        f"evaluation seeds (the mean over runs of each run's std), sd_train the spread over training seeds (the std "
        f"of the runs' means). Precision and recall: sets of 500 against the 500 reference images, averaged. "
        f"Noise floor (1,297 real training images vs held-out): FD {floor['fd']:.2f} classifier, "
        f"{floor['encoder_fd']:.2f} encoder, {floor['pixels_fd']:.3f} pixels; precision {floor['precision']:.3f}, "
        f"recall {floor['recall']:.3f} (classifier). Best static: the grid search's pick by FD in the "
        + ", ".join(f"{space} space ({name})" for name, space in best_static_spaces.items())
        + "."
    )
    verdict_note = (
        "Paired comparisons on the same samples (FD difference with a 95 % bootstrap interval in every "
        "space, and precision and recall with theirs in the files written since comparisons report them; "
        "'beats' only when every space agrees):\n\n" + "\n".join(f"- {v}" for v in verdicts)
    )
    print(fd_table + "\n\n" + more_table + "\n\n" + note + "\n\n" + verdict_note)
    write(
        RESULTS / "learned_schedules.json",
        {
            "rows": rows,
            "verdicts": verdicts,
            "noise_floor": floor,
            "evaluation_seeds": list(REPORT_SEEDS),
            "best_static_space": best_static_spaces,
        },
        provenance,
        "```\n" + fd_table + "\n```\n\n```\n" + more_table + "\n```\n\n" + note + "\n\n" + verdict_note,
    )
    plot_curves(runs)
    plot_fd_vs_nfe(runs, grids, floor["fd"])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plain_adversarial(run: dict) -> bool:
    """The main runs the plots show: adversarial reward, no action smoothing."""
    return run["reward"] == "adversarial" and not run.get("smoothing", 0.0)


def plot_curves(runs: dict[str, list[dict]]) -> None:
    """FD against training time, one panel per process and step count (adversarial runs, no smoothing)."""
    plt = _pyplot()
    panels = [(p, s) for p, rs in runs.items() for s in sorted({r["steps"] for r in rs if plain_adversarial(r)})]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (process_name, steps) in zip(axes[0], panels):
        group = [r for r in runs[process_name] if plain_adversarial(r) and r["steps"] == steps]
        for r in group:
            ax.plot(
                [c["train_seconds"] / 60 for c in r["curve"]], [c["fd"] for c in r["curve"]], label=f"seed {r['seed']}"
            )
        # the untrained policy is the hand-designed schedule, so each curve starts at its FD
        hand = statistics.mean(r["curve"][0]["fd"] for r in group)
        ax.axhline(hand, color="grey", linestyle="--", label="hand-designed")
        ax.axhline(0.75 * hand, color="red", linestyle=":", label="0.75 x hand-designed")
        ax.set(title=f"{process_name}, {steps} steps", xlabel="training time (min)", ylabel="FD (curve: 500 samples)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "learning_curve.png", dpi=100)
    print(f"wrote {RESULTS / 'learning_curve.png'}")


def plot_fd_vs_nfe(runs: dict[str, list[dict]], grids: dict[str, dict], floor_fd: float) -> None:
    """FD against model evaluations per process: hand-designed and best static at every grid budget, learned."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4), squeeze=False)
    for ax, (process_name, process_runs) in zip(axes[0], runs.items()):
        best = sorted(grids[process_name]["best"].values(), key=lambda b: b.get("nfe", b["hand_designed"]["steps"]))
        nfe = [b.get("nfe", b["hand_designed"]["steps"]) for b in best]
        for key, label, style in (("hand_designed", "hand-designed", "o--"), ("best_static", "best static", "s-")):
            ax.errorbar(
                nfe, [b[key]["fd"] for b in best], [b[key]["fd_std"] for b in best], fmt=style, label=label, capsize=3
            )
        adversarial = [r for r in process_runs if plain_adversarial(r)]
        learned_nfe = sorted({r["nfe"] if "nfe" in r else r["steps"] for r in adversarial})
        fds = [
            [r["evaluation"]["mean"]["fd"] for r in adversarial if r.get("nfe", r["steps"]) == n] for n in learned_nfe
        ]
        ax.errorbar(
            learned_nfe,
            [statistics.mean(f) for f in fds],
            [statistics.stdev(f) if len(f) > 1 else 0.0 for f in fds],
            fmt="*",
            markersize=12,
            label="learned (adversarial)",
            capsize=3,
        )
        ax.axhline(floor_fd, color="grey", linestyle=":", label="noise floor")
        ax.set(title=process_name, xlabel="model evaluations (NFE)", ylabel="FD (2,000 samples)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "fd_vs_nfe.png", dpi=100)
    print(f"wrote {RESULTS / 'fd_vs_nfe.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("train")
    p.add_argument("--env", default=DEFAULT_ENV, help="environment id (default: %(default)s)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reward", default=EpisodeSpec().reward)
    p.add_argument(
        "--smoothing",
        type=argument_type(KNOBS["smoothing"].metadata["parse"]),
        default=0.0,
        help="the method's action smoothing, a factor in [0, 1) or method (default: 0, off)",
    )
    p.add_argument("--updates", type=int, help="PPO updates (a fixed amount of training, whatever the machine's load)")
    p.add_argument("--minutes", type=float, help="or stop after this much training time (default: no cap)")
    p.add_argument("--num-envs", type=int, default=DEFAULT_NUM_ENVS)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--curve-samples", type=int, default=500)
    p.add_argument("--samples", type=int, default=2000)
    p.set_defaults(func=train)
    p = sub.add_parser("evaluate")
    p.add_argument("--env", help="only this environment's runs (default: every paradigm's)")
    p.add_argument("--again", action="store_true", help="also re-evaluate runs evaluated before (default: skip them)")
    p.add_argument("--samples", type=int, default=DEFAULT_NUM_SAMPLES)
    p.set_defaults(func=evaluate)
    p = sub.add_parser("report")
    p.set_defaults(func=report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
