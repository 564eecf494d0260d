"""Which noise seeds may steer a choice and which may be reported: the two never meet.

A seed here is the ``seed`` of ``evaluate_generator``: chunk ``i`` of an evaluation draws its
noise with ``seed * 1_000_003 + i``, so two different seeds never share noise (up to a million
chunks). Every choice a benchmark makes (screening the static grid, picking the best static
schedule, PPO hyperparameters, watching a learning curve, which policy ships) looks only at
tuning seeds; every number reported as a result (tables, plots, README claims, the final
comparison of ``adagen train``, ``adagen eval`` by default) uses evaluation seeds that no choice
has seen. PPO's own ``--seed`` seeds its networks and training noise, which is tuning too.
"""

from __future__ import annotations

TUNING_SEEDS = range(0, 100_000)
EVALUATION_SEEDS = range(100_000, 200_000)

SCREEN_SEED = 0  # static grid: every grid point, on a few samples
PICK_SEEDS = range(0, 3)  # static grid: the best static schedule; learned runs: which training seed's policy ships
CURVE_SEED = 10_000  # FD while training (learning curves, adagen train --eval-every)
PROBE_TRAIN_SEED = 20_000  # reward probe: the samples its fresh discriminators train on
REPORT_SEEDS = range(100_000, 100_003)  # every reported table row: mean and spread over these
SEARCH_SEEDS = range(30_000, 40_000)  # AdaGen-Bench black-box searches: run seed s scores candidates on 30,000 + s
BENCH_TUNING_SEED = 40_000  # AdaGen-Bench: scoring the tuned configurations' candidates (benchmarks/tune_ppo.py)
