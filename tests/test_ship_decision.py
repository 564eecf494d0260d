"""Ship decisions are made on tuning seeds in the selection space: no evaluation network sees the choice."""

import json
import sys

from adagen_env.paradigms import get_paradigm
from benchmarks import ship_decision


def test_a_shipped_policy_is_rechecked_against_the_hand_designed_schedule_in_the_selection_space(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(ship_decision, "RESULTS", tmp_path)
    path = get_paradigm("flow-digits").shipped_policy_path(6)
    monkeypatch.setattr(sys, "argv", ["ship_decision", "--candidate", str(path), "--samples", "60"])
    ship_decision.main()
    data = json.loads((tmp_path / "ship_decision" / f"{path.stem}.json").read_text())
    assert data["recheck"] and data["space"] == "selection" and data["bar"] == "hand-designed"
    (report,) = data["reports"]
    assert report["spaces"] == ["selection"]  # no evaluation space
    assert {c["a"] for c in report["comparisons"]} == {"candidate"}
    assert "in the selection space on tuning seeds [0, 1, 2]" in capsys.readouterr().out
