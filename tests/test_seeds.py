"""Tuning and evaluation never share noise: the seed ranges, and what the code does with them."""

import torch

from adagen_agents.cli import build_parser
from adagen_env.evaluation.generators import generate_balanced
from adagen_env.evaluation.seeds import (
    CURVE_SEED,
    EVALUATION_SEEDS,
    PICK_SEEDS,
    PROBE_TRAIN_SEED,
    REPORT_SEEDS,
    SCREEN_SEED,
    TUNING_SEEDS,
)


def test_every_named_seed_is_on_its_side():
    assert set(TUNING_SEEDS).isdisjoint(EVALUATION_SEEDS)
    assert {SCREEN_SEED, CURVE_SEED, PROBE_TRAIN_SEED, *PICK_SEEDS} <= set(TUNING_SEEDS)
    assert set(REPORT_SEEDS) <= set(EVALUATION_SEEDS)


def test_the_noise_of_tuning_and_evaluation_seeds_never_meets():
    def chunk_seeds(seed: int, chunks: int) -> list[int]:
        used = []
        generate_balanced(
            lambda labels, s: used.append(s) or torch.zeros(len(labels), 1, 8, 8), 10, chunks, seed, batch_size=1
        )
        return used

    last_tuning = chunk_seeds(TUNING_SEEDS[-1], 5000)  # 5,000 chunks: far more than any evaluation draws
    first_evaluation = chunk_seeds(EVALUATION_SEEDS[0], 5000)
    assert max(last_tuning) < min(first_evaluation)
    assert len(set(chunk_seeds(REPORT_SEEDS[0], 50)) & set(chunk_seeds(REPORT_SEEDS[1], 50))) == 0


def test_adagen_eval_reports_on_an_evaluation_seed_by_default():
    assert build_parser().parse_args(["eval"]).seed in REPORT_SEEDS
