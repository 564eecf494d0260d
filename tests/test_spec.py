"""The episode spec: one typed object for every knob, built from keywords, kept in policy files under a
versioned schema, and replayed by every way of sampling a policy."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from PIL import Image

from adagen_agents.card import CARD_SCHEMA, PolicyCard
from adagen_agents.cli import main
from adagen_agents.loading import load_policy, read_card
from adagen_agents.ppo import PPO, PPOConfig
from adagen_env import (
    EpisodeSpec,
    Refinement,
    ScheduleVectorEnv,
    get_paradigm,
    make_process,
    policy_generator,
    record_actions,
    save_grid,
)
from adagen_env.envs.spec import KNOBS

ENV_ID = "AdaGen/MaskGIT-Digits-v0"
SMALL = [
    "--steps",
    "4",
    "--num-envs",
    "16",
    "--episodes-per-update",
    "16",
    "--eval-every",
    "0",
    "--final-samples",
    "20",
    "--updates",
    "1",
    "--lr",
    "1e-2",
]

# a value other than the default for every knob, as a flag of adagen train
CLI_VALUES = {
    "num_steps": ["--steps", "3"],
    "reward": ["--reward", "classifier"],
    "smoothing": ["--smoothing", "0.5"],
    "tradeoff": ["--tradeoff"],
    "baseline": ["--baseline", "best-static"],
    "refine": ["--refine", "1:0.25"],
    "autocast": ["--autocast", "bf16"],
    "observation_mode": ["--observation-mode", "flat"],
}
# what the policy file then records
RECORDED = {
    "num_steps": 3,
    "reward": "classifier",
    "smoothing": 0.5,
    "tradeoff": "random",
    "baseline": [
        list(row)
        for row in EpisodeSpec(
            baseline=make_process("maskgit-digits").static_schedule(4, **get_paradigm("maskgit-digits").best_static[4])
        ).baseline
    ],
    "refine": {"steps": 1, "fraction": 0.25},
    "autocast": "bf16",
    "observation_mode": "flat",
}
# the knobs whose value changes the images a policy makes (the others change training or packing)
CHANGES_IMAGES = ("num_steps", "smoothing", "baseline", "refine", "autocast")


def test_every_knob_has_a_value_to_round_trip():
    assert set(CLI_VALUES) == set(KNOBS)


def test_an_unknown_knob_is_a_type_error_that_names_the_knobs():
    with pytest.raises(
        TypeError, match="unexpected keyword argument 'smooth'; the episode's knobs are num_steps, reward"
    ):
        gym.make_vec(ENV_ID, num_envs=2, smooth=0.5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'steps'"):
        EpisodeSpec.build(steps=3)


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"num_steps": 2.5}, "num_steps must be an integer"),
        ({"num_steps": 0}, "num_steps must be at least 1"),
        ({"reward": "nope"}, "unknown reward 'nope'"),
        ({"smoothing": 1.0}, "smoothing must be a number in \\[0, 1\\)"),
        ({"tradeoff": 2}, "tradeoff must be a number in \\[0, 1\\]"),
        ({"baseline": [[1.0, float("nan")]]}, "baseline must be finite"),
        ({"refine": 3}, "refine must be a Refinement"),
        ({"autocast": "fp8"}, "autocast must be one of"),
        ({"observation_mode": "box"}, "observation_mode must be one of"),
    ],
)
def test_each_knob_is_checked_when_the_spec_is_made(knobs, message):
    with pytest.raises(ValueError, match=message):
        EpisodeSpec(**knobs)


def test_a_spec_round_trips_through_plain_data():
    spec = EpisodeSpec(
        num_steps=4,
        reward="classifier",
        smoothing=0.8,
        tradeoff="random",
        baseline=torch.rand(4, 4),
        refine=Refinement(2, 0.25),
        autocast="bf16",
        observation_mode="flat",
    )
    data = json.loads(json.dumps(spec.to_dict()))  # plain JSON types only
    assert EpisodeSpec.from_dict(data) == spec
    assert EpisodeSpec.from_dict({"num_steps": 4}) == EpisodeSpec(num_steps=4)  # a missing knob takes its default
    with pytest.raises(ValueError, match="policy.pt: unknown episode knob\\(s\\) speed"):
        EpisodeSpec.from_dict({"num_steps": 4, "speed": 2}, "policy.pt")


def test_the_env_keeps_the_resolved_spec_and_sampling_drops_the_reward():
    env = gym.make_vec(ENV_ID, num_envs=2, num_steps=4, reward="classifier", smoothing="method", baseline="best-static")
    episode = env.unwrapped.episode
    assert episode.smoothing == 0.8 and isinstance(episode.baseline, tuple) and len(episode.baseline) == 4
    sampling = episode.for_sampling()
    assert sampling.reward is None and sampling.replace(reward="classifier") == episode
    with pytest.raises(ValueError, match="trained around a baseline of 4 steps; sample it at 4 steps, not 8"):
        episode.for_sampling(num_steps=8)
    with pytest.raises(ValueError, match="this one was not"):
        episode.for_sampling(tradeoff=0.5)


@pytest.mark.parametrize("knob", list(CLI_VALUES))
def test_every_knob_trained_from_the_cli_is_sampled_with_the_same_value(knob, tmp_path, capsys):
    out = tmp_path / "policy.pt"
    main(["train", *SMALL, *CLI_VALUES[knob], "--out", str(out), "--logdir", str(tmp_path / "runs")])
    card = read_card(out)
    assert card.spec.to_dict()[knob] == RECORDED[knob]
    process = make_process("maskgit-digits")
    act, _ = load_policy(out, process, "maskgit-digits")
    spec = card.sampling_spec()
    # adagen sample: the same images as the policy sampled in Python with the card's spec
    grid = tmp_path / "grid.png"
    main(["sample", "--policy", str(out), "--label", "3", "--n", "16", "--seed", "1", "--out", str(grid)])
    labels = torch.full((16,), 3)
    images = policy_generator(process, act, spec)(labels, 1)
    expected = np.asarray(Image.open(save_grid(images, tmp_path / "expected.png")))
    assert np.array_equal(np.asarray(Image.open(grid)), expected)
    if knob in CHANGES_IMAGES:  # so that the check above can fail
        without = spec.replace(**{knob: KNOBS[knob].default})
        assert not torch.equal(images, policy_generator(process, act, without)(labels, 1))
    # adagen eval: its report records the spec it sampled the policy with
    report = tmp_path / "eval.json"
    main(["eval", "--policy", str(out), "--samples", "20", "--json", str(report)])
    notes = json.loads(report.read_text())["notes"]
    assert notes["spec"] == spec.to_dict()
    picks = get_paradigm("maskgit-digits").best_static  # and which best static schedule it compared with
    picked = {"config": picks[spec.num_steps], "space": "selection"} if spec.num_steps in picks else None
    assert notes.get("best_static") == picked
    # adagen actions: the spread of the values the policy chose, as record_actions finds them with the spec
    pytest.importorskip("matplotlib")
    capsys.readouterr()
    main(["actions", "--policy", str(out), "--samples", "20", "--seed", "2", "--out", str(tmp_path / "a.png")])
    printed = capsys.readouterr().out
    _, values = record_actions(process, act, torch.arange(20) % 10, 2, spec)
    assert f"spread over samples {values.std(dim=1).mean(dim=0)[0].item():.3g}" in printed


@pytest.mark.parametrize(
    "knob, value",
    [
        ("smoothing", 0.5),
        ("tradeoff", "random"),
        ("baseline", "best-static"),
        ("refine", Refinement(1)),
        ("num_steps", 4),
    ],
)
def test_every_knob_trained_from_python_is_in_the_policy_file(knob, value, tmp_path):
    env = ScheduleVectorEnv(16, "maskgit-digits", **{"num_steps": 2, "reward": "classifier", knob: value})
    path = PPO(env, PPOConfig(episodes_per_update=16, epochs=1, minibatches=1)).learn(1).save(tmp_path / "p.pt")
    act, card = load_policy(path, env.core.process, "maskgit-digits")
    assert card.spec == env.episode and card.sampling_spec() == env.episode.for_sampling()


def policy_file(tmp_path, card: dict) -> str:
    env = ScheduleVectorEnv(16, "maskgit-digits", num_steps=2, reward="classifier")
    path = PPO(env, PPOConfig(episodes_per_update=16, epochs=1, minibatches=1)).save(tmp_path / "p.pt")
    state = torch.load(path, weights_only=True)
    torch.save({**state, "card": card}, path)
    return str(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"schema": CARD_SCHEMA + 1},
            f"policy card schema {CARD_SCHEMA + 1}, but this adagen reads schema {CARD_SCHEMA}",
        ),
        ({"colour": "blue"}, "unknown key\\(s\\) colour in its policy card"),
        ({"spec": {"num_steps": 2, "temperature": 3}}, "unknown episode knob\\(s\\) temperature"),
    ],
)
def test_a_card_of_another_schema_or_with_unknown_keys_is_one_clear_line(change, message, tmp_path):
    card = PolicyCard(ENV_ID, "ppo", EpisodeSpec(num_steps=2, reward="classifier")).to_dict()
    path = policy_file(tmp_path, {**card, **change})
    with pytest.raises(ValueError, match=message):
        read_card(path)
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--policy", path, "--samples", "20"])
    assert path in exit_info.value.code and "\n" not in exit_info.value.code


def test_a_policy_file_written_before_cards_is_read_through_its_metadata(tmp_path):
    path = policy_file(tmp_path, {})
    state = torch.load(path, weights_only=True)
    del state["card"]
    legacy = {
        "env": ENV_ID,
        "process": "maskgit-digits",
        "num_steps": 2,
        "reward": "adversarial",
        "algo": "ppo",
        "smoothing": 0.8,
        "tradeoff": False,
    }
    torch.save({**state, "metadata": legacy}, path)
    card = read_card(path)
    assert card.env == ENV_ID and card.spec == EpisodeSpec(num_steps=2, smoothing=0.8)
    torch.save({**state, "metadata": {**legacy, "mystery": 1}}, path)
    with pytest.raises(ValueError, match="unknown metadata key\\(s\\) mystery"):
        read_card(path)
