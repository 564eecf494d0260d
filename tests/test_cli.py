"""The `adagen` command, run in-process through its public entry point."""
import json

import pytest
from PIL import Image

from adagen_env.cli import main


def test_eval_prints_every_metric_and_writes_json(tmp_path, capsys):
    out = tmp_path / "eval.json"
    main(["eval", "--schedule", "hand-designed", "no-guidance", "--steps", "2", "--samples", "40", "--json", str(out)])
    printed = capsys.readouterr().out
    for column in ("fd", "precision", "recall", "accuracy", "seconds", "noise floor"):
        assert column in printed
    rows = json.loads(out.read_text())["rows"]
    assert [r["schedule"] for r in rows] == ["hand-designed", "no-guidance"]
    assert all(r["n"] == 40 and r["fd"] > 0 for r in rows)


def test_eval_is_reproducible_and_seeds_differ(tmp_path):
    runs = []
    for seed in (0, 0, 1):
        out = tmp_path / f"eval{len(runs)}.json"
        main(["eval", "--steps", "2", "--samples", "30", "--seed", str(seed), "--json", str(out)])
        runs.append(json.loads(out.read_text())["rows"][0]["fd"])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_sample_writes_a_grid(tmp_path):
    out = tmp_path / "grid.png"
    main(["sample", "--label", "3", "--n", "4", "--steps", "2", "--out", str(out)])
    with Image.open(out) as im:
        assert im.size[0] > 16 and im.mode == "L"


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "--schedule", "nonsense"],
        ["eval", "--env", "AdaGen/Nope-v0"],
        ["eval", "--steps", "0"],
        ["sample", "--label", "12"],
        ["sample", "--label", "1", "--n", "0"],
    ],
)
def test_bad_arguments_exit_with_a_message(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert isinstance(exit_info.value.code, str) and exit_info.value.code
