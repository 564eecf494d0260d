"""Inference-time refinement through the public API: what it may change, its seeding, its cost, bad input."""

import json
import math
from contextlib import contextmanager

import pytest
import torch

from adagen_agents.cli import main
from adagen_env.evaluation.generators import static_generator
from adagen_env.processes import DiffusionProcess, FlowProcess, VARProcess
from adagen_env.processes.refinement import Refinement, refinement_nfe
from adagen_env.processes.sampling import hand_designed_schedule, sample
from adagen_env.processes.schedules import by_name

LABELS = torch.arange(12) % 10


def finished(process, num_steps: int, seed: int):
    """A finished batch state and the generator that made it, as ``sample`` leaves them."""
    generator = torch.Generator().manual_seed(seed)
    state = process.reset(LABELS, generator)
    for values in hand_designed_schedule(process, num_steps, len(LABELS)):
        state = process.step(state, by_name(process.parameters, values), num_steps, generator)
    return state, generator


@contextmanager
def count_calls(process):
    """A counter of the process's model forward passes (conditional and unconditional alike)."""
    calls = [0]
    hook = process.model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        yield calls
    finally:
        hook.remove()


@pytest.mark.parametrize("fraction", [0.125, 0.25, 0.5])
def test_maskgit_changes_only_its_least_confident_tokens(process, fraction):
    state, generator = finished(process, 4, seed=3)
    refined = process.refine(state, Refinement(steps=2, fraction=fraction), generator)
    count = math.floor(process.num_tokens * fraction)
    least_confident = state.confidence.argsort(dim=1, stable=True).argsort(dim=1) < count
    changed = refined.tokens != state.tokens
    assert not (changed & ~least_confident).any()  # nothing outside the re-masked tokens moves
    assert changed.any() and (refined.tokens != process.mask_token).all()  # something moved; all revealed again
    # through the sampler: at most ``count`` tokens differ from the unrefined images of the same seed
    plain = sample(process, LABELS, num_steps=4, seed=3)
    images = sample(process, LABELS, num_steps=4, seed=3, refine=Refinement(2, fraction))
    assert ((images != plain).flatten(1).sum(dim=1) <= count).all()


@pytest.mark.parametrize("make", [lambda p: p, lambda p: DiffusionProcess(), lambda p: FlowProcess()])
def test_refinement_is_seeded(process, make):
    process = make(process)
    refine = Refinement(2, 0.5)
    a = sample(process, LABELS, num_steps=3, seed=1, refine=refine)
    assert torch.equal(a, sample(process, LABELS, num_steps=3, seed=1, refine=refine))
    assert not torch.equal(a, sample(process, LABELS, num_steps=3, seed=2, refine=refine))
    assert not torch.equal(a, sample(process, LABELS, num_steps=3, seed=1))
    generate = static_generator(process, 3, refine=refine)
    assert torch.equal(a, generate(LABELS, 1))


@pytest.mark.parametrize(
    "make, steps, nfe",
    [(lambda p: p, 3, 3), (lambda p: DiffusionProcess(), 3, 3), (lambda p: FlowProcess(solver="heun"), 3, 6)],
)
def test_refinement_nfe_counts_every_model_call(process, make, steps, nfe):
    """A guided call (conditional + unconditional) counts once, as in ``process.nfe``: a run of T steps
    makes 2 nfe(T) passes (the first conditional pass pairs with step 1; none runs over the finished
    sample, whose observation alone would need it), and so does a refinement."""
    process = make(process)
    refine = Refinement(steps, 0.5)
    assert refinement_nfe(process, refine) == nfe
    state, generator = finished(process, 2, seed=0)
    with count_calls(process) as calls:
        process.refine(state, refine, generator)
    assert calls[0] == 2 * nfe
    with count_calls(process) as calls:
        finished(process, steps, seed=0)
    assert calls[0] == 2 * process.nfe(steps)


@pytest.mark.parametrize(
    "make, refine, match",
    [
        (lambda p: p, Refinement(1, 0.01), "re-masks 0 of 64 tokens"),
        (lambda p: p, Refinement(3, 0.04), "re-masks 2 of 64 tokens"),
        (lambda p: DiffusionProcess(), Refinement(5, 0.02), "cannot move time"),
    ],
)
def test_refinements_that_cannot_run_are_refused_before_any_work(process, make, refine, match):
    process = make(process)
    with count_calls(process) as calls:
        with pytest.raises(ValueError, match=match):
            sample(process, LABELS, num_steps=2, refine=refine)
        with pytest.raises(ValueError, match=match):
            static_generator(process, 2, refine=refine)
    assert calls[0] == 0


@pytest.mark.parametrize("steps, fraction", [(0, None), (-1, 0.5), (2, 0.0), (2, 1.5), (2.5, 0.5)])
def test_bad_refinement_values_raise(steps, fraction):
    with pytest.raises(ValueError, match="refinement"):
        Refinement(steps, fraction)


def test_var_has_no_refinement():
    process = VARProcess()
    with count_calls(process) as calls:
        with pytest.raises(
            ValueError, match="VARProcess has no refinement; the paradigms with one: maskgit-digits, diffusion-digits"
        ):
            sample(process, LABELS, num_steps=4, refine=Refinement(2))
    assert calls[0] == 0


def test_cli_refine_states_its_cost_and_counts_it(tmp_path, capsys):
    out = tmp_path / "eval.json"
    main(["eval", "--steps", "2", "--samples", "30", "--refine", "2:0.5", "--json", str(out)])
    assert "refinement adds 2 model calls per sample: 2 -> 4" in capsys.readouterr().out
    assert [c["nfe"] for c in json.loads(out.read_text())["contenders"]] == [4]
    grid = tmp_path / "grid.png"
    main(
        [
            "sample",
            "--env",
            "AdaGen/Flow-Heun-Digits-v0",
            "--label",
            "3",
            "--n",
            "4",
            "--steps",
            "2",
            "--refine",
            "1",
            "--out",
            str(grid),
        ]
    )
    assert "refinement adds 2 model calls per sample: 4 -> 6" in capsys.readouterr().out
    assert grid.is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--refine", "0"], "refinement steps must be an integer of at least 1"),
        (["--refine", "2:1.5"], "refinement fraction must be in (0, 1]"),
        (["--refine", "two"], "expected STEPS or STEPS:FRACTION, got 'two'"),
        (["--env", "AdaGen/VAR-Digits-v0", "--refine", "2"], "VARProcess has no refinement"),
    ],
)
def test_cli_bad_refine_is_one_line(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--label", "3", "--n", "4", *argv, "--out", str(tmp_path / "grid.png")])
    said = capsys.readouterr().err + str(exit_info.value.code)
    assert message in said
    assert "Traceback" not in said
    assert not (tmp_path / "grid.png").exists()
