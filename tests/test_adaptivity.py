"""Recorded actions and the static schedules distilled from them."""

import pytest
import torch

from adagen_agents import cli
from adagen_agents.action_plots import action_spread
from adagen_env import (
    EpisodeSpec,
    get_paradigm,
    hand_designed_schedule,
    mean_action_policy,
    policy_generator,
    record_actions,
    static_generator,
)


def test_recorded_zero_actions_give_the_hand_designed_parameters():
    process = get_paradigm("flow-digits").make_process()
    labels = torch.arange(6) % process.num_classes
    actions, values = record_actions(
        process, lambda obs: torch.zeros(len(obs["label"]), 2), labels, 5, EpisodeSpec(num_steps=3)
    )
    assert actions.shape == (3, 6, 2) and torch.equal(actions, torch.zeros(3, 6, 2))
    assert torch.allclose(values, hand_designed_schedule(process, 3, 6))


def test_mean_action_policies_play_the_step_mean_overall_and_per_class():
    process = get_paradigm("flow-digits").make_process()
    labels = torch.arange(20) % 10

    def adaptive(obs):  # depends on the class and the step
        return (obs["label"].float()[:, None] - 4.5) * torch.tensor([0.04, 0.02]) + obs["progress"] * 0.1

    actions, _ = record_actions(process, adaptive, labels, 0, EpisodeSpec(num_steps=2))
    overall, per_class = mean_action_policy(actions), mean_action_policy(actions, labels, num_classes=10)
    per_class_actions, _ = record_actions(process, per_class, labels, 1, EpisodeSpec(num_steps=2))
    overall_actions, _ = record_actions(process, overall, labels, 1, EpisodeSpec(num_steps=2))
    assert torch.allclose(per_class_actions, actions)  # the policy only looked at class and step
    assert torch.allclose(overall_actions, actions.mean(dim=1, keepdim=True).expand_as(actions))
    # the step-mean of zero actions is the hand-designed schedule, through the same core, bit for bit
    zeros = mean_action_policy(torch.zeros(2, 20, 2))
    same = [
        g(labels, 3) for g in (policy_generator(process, zeros, EpisodeSpec(num_steps=2)), static_generator(process, 2))
    ]
    assert torch.equal(*same)


def test_a_class_without_recorded_samples_is_an_error():
    with pytest.raises(ValueError, match="none for \\[2, 3"):
        mean_action_policy(torch.zeros(2, 4, 2), torch.tensor([0, 1, 0, 1]), num_classes=4)


def test_action_spread_tells_per_sample_from_per_class_from_static():
    process = get_paradigm("AdaGen/VAR-Digits-v0").make_process()
    labels = torch.arange(40) % process.num_classes
    dims = len(process.parameters)
    static = lambda obs: torch.full((len(obs["label"]), dims), 0.3)  # noqa: E731
    per_class = lambda obs: (obs["label"].float()[:, None] / 10).expand(-1, dims)  # noqa: E731
    per_sample = lambda obs: obs["features"][:, :dims].tanh()  # noqa: E731
    spreads = {}
    for name, act in (("static", static), ("per class", per_class), ("per sample", per_sample)):
        _, values = record_actions(process, act, labels, 0, EpisodeSpec(num_steps=4))
        spreads[name] = action_spread(values, labels, process)
    for p in process.parameters:
        assert spreads["static"][p.name] == {"over_samples": 0.0, "within_class": 0.0}
        assert spreads["per class"][p.name]["over_samples"] > 0 and spreads["per class"][p.name]["within_class"] == 0
        assert spreads["per sample"][p.name]["within_class"] > 0


def test_adagen_actions_draws_any_policy_and_names_its_spread(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "actions.png"
    cli.main(["actions", "--env", "AdaGen/VAR-Digits-v0", "--policy", "shipped", "--samples", "40", "--out", str(out)])
    printed = capsys.readouterr().out
    assert out.stat().st_size > 0
    for p in get_paradigm("AdaGen/VAR-Digits-v0").make_process().parameters:
        assert f"{p.name}: spread over samples" in printed


def test_adagen_actions_refuses_a_missing_policy_in_one_line(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(SystemExit, match="no policy file at"):
        cli.main(["actions", "--policy", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "a.png")])
