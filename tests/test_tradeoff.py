"""The fidelity-diversity trade-off: an env conditioned on a value in [0, 1], a policy that reads
it, and the knob at sampling time (`adagen train --tradeoff`, `adagen sample/eval --tradeoff`)."""

import pytest
import torch

from adagen_agents.cli import main
from adagen_agents.loading import load_policy
from adagen_agents.ppo import PPO, PPOConfig
from adagen_env import EpisodeSpec, Evaluator, ScheduleCore, ScheduleVectorEnv, policy_generator, sample
from adagen_env.models.projection_features import load_projection_features
from adagen_env.rewards import fidelity_scorer


def make_core(process, num_envs: int, num_steps: int, reward=None, **knobs) -> ScheduleCore:
    return ScheduleCore(process, num_envs, EpisodeSpec(num_steps=num_steps, reward=reward, **knobs))


class ConstantScorer:
    """A reward of 0.25 for every sample, so that the fidelity half of the mix can be read off."""

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.full((len(images),), 0.25)


def finish(core: ScheduleCore, labels, seed: int = 3):
    obs = core.reset(labels=labels, seed=seed)
    for _ in range(core.num_steps):
        obs, reward, _, _ = core.step(torch.zeros(core.num_envs, core.num_parameters))
    return obs, reward


def test_reward_mixes_the_reward_with_fidelity_by_each_samples_value(process):
    labels = torch.arange(8) % 10
    core = make_core(process, 8, 4, reward=ConstantScorer(), tradeoff="random")
    obs, reward = finish(core, labels)
    values = obs["tradeoff"][:, 0]
    assert obs["tradeoff"].shape == (8, 1) and ((values >= 0) & (values <= 1)).all() and values.std() > 0
    fidelity = fidelity_scorer()(core.images(), labels)
    torch.testing.assert_close(reward, (1 - values) * 0.25 + values * fidelity)
    assert 0 < fidelity.min() and fidelity.max() < 1


def test_fidelity_is_the_projection_networks_class_probability_and_no_metric_network(process):
    images = sample(process, torch.arange(10), num_steps=4, seed=0)
    expected = torch.softmax(load_projection_features()(images), -1)[torch.arange(10), torch.arange(10)]
    torch.testing.assert_close(fidelity_scorer()(images, torch.arange(10)), expected)
    evaluator = Evaluator()
    metric = [t for network in (evaluator.classifier, evaluator.encoder) for t in network.state_dict().values()]
    for tensor in fidelity_scorer().classifier.state_dict().values():
        assert not any(t.shape == tensor.shape and torch.equal(t, tensor) for t in metric)


def test_values_are_drawn_per_reset_reproducibly_and_a_fixed_value_is_shown_as_is(process):
    draws = [make_core(process, 16, 2, tradeoff="random").reset(seed=5)["tradeoff"] for _ in range(2)]
    torch.testing.assert_close(draws[0], draws[1])
    core = make_core(process, 16, 2, tradeoff="random")
    core.reset(seed=5)
    assert not torch.equal(core.reset()["tradeoff"], draws[0])  # a new episode, new values
    fixed = make_core(process, 4, 2, tradeoff=0.7).reset(seed=5)["tradeoff"]
    torch.testing.assert_close(fixed, torch.full((4, 1), 0.7))
    assert "tradeoff" not in make_core(process, 4, 2).reset(seed=5)


def test_the_value_does_not_change_generation_zero_actions_are_still_hand_designed(process):
    labels = torch.arange(6)
    core = make_core(process, 6, 4, reward=ConstantScorer(), tradeoff="random")
    finish(core, labels, seed=11)
    assert torch.equal(core.images(), sample(process, labels, num_steps=4, seed=11))


def test_gymnasium_spaces_declare_the_value():
    env = ScheduleVectorEnv(num_envs=4, num_steps=2, reward="classifier", tradeoff="random")
    assert env.single_observation_space["tradeoff"].shape == (1,)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert (
        "tradeoff"
        not in ScheduleVectorEnv(num_envs=4, num_steps=2, reward="classifier").single_observation_space.spaces
    )


@pytest.mark.parametrize("bad", [1.5, -0.1, True, "0.5", float("nan")])
def test_a_value_outside_its_range_is_one_clear_error(process, bad):
    with pytest.raises(ValueError, match=r"tradeoff must be a number in \[0, 1\]"):
        make_core(process, 2, 2, tradeoff=bad)
    with pytest.raises(ValueError, match=r"tradeoff must be a number in \[0, 1\]"):
        EpisodeSpec(num_steps=2, tradeoff=bad)
    with pytest.raises(ValueError, match="'random' is for training"):
        policy_generator(process, lambda obs: torch.zeros(len(obs["label"]), 4), EpisodeSpec(tradeoff="random"))


def test_ppo_conditions_both_networks_and_the_saved_policy_keeps_the_knob(tmp_path):
    env = ScheduleVectorEnv(num_envs=16, num_steps=2, reward="adversarial", tradeoff="random")
    agent = PPO(env, PPOConfig(episodes_per_update=32, learning_rate=1e-2)).learn(2)
    path = agent.save(tmp_path / "p.pt")
    process = env.core.process
    act, card = load_policy(path, process, "maskgit-digits")
    assert card.spec.tradeoff == "random" and card.sampling_spec().tradeoff == 0.0
    obs = make_core(process, 10, 2, tradeoff=0.0).reset(labels=torch.arange(10), seed=0)
    at_zero = act(obs)
    at_one = act({**obs, "tradeoff": torch.ones(10, 1)})
    assert not torch.allclose(at_zero, at_one)  # the policy reads the value
    torch.testing.assert_close(agent.predict(obs), at_zero)


def test_sampling_shows_the_chosen_value_to_the_policy(process):
    def act(obs):  # a full action of -1 at value 0, +1 at value 1
        return (2 * obs["tradeoff"] - 1).expand(-1, len(process.parameters))

    images = [
        policy_generator(process, act, EpisodeSpec(num_steps=4, tradeoff=t))(torch.arange(10), 0)
        for t in (0.0, 1.0, 1.0)
    ]
    assert not torch.equal(images[0], images[1]) and torch.equal(images[1], images[2])


def test_cli_trains_a_knob_and_samples_at_a_chosen_value(tmp_path, capsys):
    out = tmp_path / "tradeoff.pt"
    main(
        [
            "train",
            "--tradeoff",
            "--steps",
            "2",
            "--num-envs",
            "16",
            "--episodes-per-update",
            "16",
            "--updates",
            "1",
            "--eval-every",
            "0",
            "--final-samples",
            "20",
            "--out",
            str(out),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    printed = capsys.readouterr().out
    assert "learned (ppo, tradeoff 0)" in printed and "learned (ppo, tradeoff 1)" in printed
    assert torch.load(out, weights_only=True)["card"]["spec"]["tradeoff"] == "random"
    main(
        [
            "sample",
            "--policy",
            str(out),
            "--label",
            "3",
            "--n",
            "4",
            "--tradeoff",
            "0.7",
            "--out",
            str(tmp_path / "s.png"),
        ]
    )
    main(["eval", "--policy", str(out), "--samples", "20", "--tradeoff", "0.3"])
    assert "learned (ppo, tradeoff 0.3)" in capsys.readouterr().out
    # resuming keeps the knob even when the flag is left out
    main(
        [
            "train",
            "--resume",
            str(out),
            "--updates",
            "2",
            "--eval-every",
            "0",
            "--final-samples",
            "20",
            "--out",
            str(out),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    state = torch.load(out, weights_only=True)
    assert state["updates"] == 2 and state["card"]["spec"]["tradeoff"] == "random"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "--label", "1", "--tradeoff", "1.5"], "must be a number in [0, 1]"),
        (["eval", "--tradeoff", "nan"], "must be a number in [0, 1]"),
        (
            ["sample", "--label", "1", "--tradeoff", "0.5"],
            "--tradeoff is for a policy trained with adagen train --tradeoff",
        ),
        (["sample", "--label", "1", "--policy", "shipped", "--tradeoff", "0.5"], "this one was not"),
    ],
)
def test_cli_refuses_a_bad_value_or_a_policy_without_the_knob_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as raised:
        main(argv)
    said = str(raised.value.code) + capsys.readouterr().err
    assert message in said


def test_an_sb3_policy_learns_with_the_value_as_one_more_observation_key(process):
    from stable_baselines3 import PPO as SB3PPO

    from adagen_agents.loading import sb3_act
    from adagen_agents.sb3_vec_env import SB3VecEnv

    env = ScheduleVectorEnv(num_envs=8, num_steps=2, reward="classifier", tradeoff="random")
    model = SB3PPO("MultiInputPolicy", SB3VecEnv(env), n_steps=4, batch_size=32, n_epochs=1, seed=0).learn(32)
    assert "tradeoff" in model.observation_space.spaces
    images = policy_generator(process, sb3_act(model), EpisodeSpec(num_steps=2, tradeoff=0.5))(torch.arange(4), 0)
    assert images.shape == (4, 1, 8, 8)
