"""The `adagen` command, run in-process through its public entry point."""

import argparse
import json

import pytest
from PIL import Image

from adagen_agents.cli import build_parser, main
from adagen_env.evaluation.metrics import SPACES


def test_eval_prints_every_metric_and_writes_json(tmp_path, capsys):
    out = tmp_path / "eval.json"
    main(["eval", "--schedule", "hand-designed", "no-guidance", "--steps", "2", "--samples", "40", "--json", str(out)])
    printed = capsys.readouterr().out
    for column in (
        "space",
        "fd",
        "kid",
        "precision",
        "recall",
        "accuracy",
        "samples/s",
        "noise floor",
        "encoder",
        "pixels",
    ):
        assert column in printed
    written = json.loads(out.read_text())
    contenders = written["contenders"]
    assert [c["name"] for c in contenders] == ["hand-designed", "no-guidance"]
    assert all(c["nfe"] == 2 for c in contenders)
    assert all(
        r["n"] == 40 and r["classifier_fd"] > 0 and r["encoder_kid_std"] >= 0 for c in contenders for r in c["per_seed"]
    )
    (comparison,) = written["comparisons"]
    assert (comparison["a"], comparison["b"]) == ("hand-designed", "no-guidance")
    assert [d["space"] for d in comparison["spaces"]] == list(SPACES)
    assert f"hand-designed vs no-guidance: {comparison['sentence']}" in printed
    assert written["provenance"]["command"] and (tmp_path / "eval.md").read_text().startswith("# AdaGen/MaskGIT")


def test_eval_is_reproducible_and_seeds_differ(tmp_path):
    runs = []
    for seed in (0, 0, 1):
        out = tmp_path / f"eval{len(runs)}.json"
        main(["eval", "--steps", "2", "--samples", "30", "--seed", str(seed), "--json", str(out)])
        runs.append(json.loads(out.read_text())["contenders"][0]["per_seed"][0]["classifier_fd"])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_sample_writes_a_grid(tmp_path):
    out = tmp_path / "grid.png"
    main(["sample", "--label", "3", "--n", "4", "--steps", "2", "--out", str(out)])
    with Image.open(out) as im:
        assert im.size[0] > 16 and im.mode == "L"


@pytest.mark.parametrize(
    "argv,message",
    [
        (["eval", "--schedule", "nonsense"], "unknown schedule 'nonsense' for AdaGen/MaskGIT-Digits-v0"),
        (["eval", "--env", "AdaGen/Nope-v0"], "unknown environment"),
        (["eval", "--steps", "0"], "--steps must be at least 1"),
        (["eval", "--samples", "3"], "--samples must be at least 4"),
        (["eval", "--device", "cuda:99"], "cuda:99"),
        (["eval", "--device", "gpu please"], "not a torch device"),
        (["sample", "--label", "12"], "--label must be a class name or a number in 0..9, got '12'; classes: 0..9"),
        (["sample", "--label", "-1"], "--label must be a class name or a number in 0..9, got '-1'"),
        (["sample", "--label", "1", "--n", "0"], "--n must be at least 1"),
        (["sample", "--label", "1", "--schedule", "all"], "--schedule all is for adagen eval"),
        (
            ["sample", "--label", "1", "--env", "AdaGen/VAR-Digits-v0", "--schedule", "linear-mask"],
            "its schedules: hand-designed, no-guidance, no-top-k, cool-sampling",
        ),
    ],
)
def test_bad_arguments_exit_with_one_line(argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    assert isinstance(code, str) and message in code and "\n" not in code
    assert "or 'all'" not in code


def subparsers(parser=None, prefix: str = "") -> dict:
    """Every command and sub-command ("bench run", ...) by name."""
    parser = parser or build_parser()
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[prefix + name] = sub
                found.update(subparsers(sub, f"{prefix}{name} "))
    return found


def test_every_option_has_help_that_shows_its_default():
    for command, parser in subparsers().items():
        for action in parser._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{command} {action.option_strings} has no help"
            stated = "(default: " in action.help or "(required" in action.help
            assert stated or action.required, f"{command} {action.option_strings}: {action.help}"
        parser.format_help()  # a stray % in a help text fails only here


def test_help_lists_every_env_and_its_schedules():
    for command in ("eval", "sample"):
        text = subparsers()[command].format_help()
        assert "greedy-remask" in text and "sqrt-spacing" in text and "no-top-k" in text
        assert "AdaGen/VAR-Digits-v0: hand-designed, no-guidance, no-top-k, cool-sampling" in text
        assert "pickle" in text  # an SB3 .zip is a pickle by SB3's design
