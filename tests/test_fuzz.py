"""Property-based tests, as trusted tools test themselves: any input to the env API or to any `adagen`
command gives a result or one clean line, never a traceback.

The default run uses the short profile; `HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py`
runs the long one (conftest.py registers both).
"""

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adagen_env  # noqa: F401  (registers the environments)
from adagen_agents import cli

ENV_ID = "AdaGen/MaskGIT-Digits-v0"
CLEAN = (ValueError, TypeError, RuntimeError)  # what bad input may raise: one line, no other kind

numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)


def one_line(error: BaseException) -> None:
    text = str(error).strip()
    assert text and "\n" not in text, repr(error)


@pytest.fixture(scope="module")
def vector_env():
    return gym.make_vec(ENV_ID, num_envs=4, num_steps=2, reward="classifier")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.one_of(numbers, st.lists(numbers, max_size=5)),
    options=st.dictionaries(st.text(max_size=8), numbers, max_size=2),
)
def test_reset_takes_any_seed_and_options_or_says_why(vector_env, seed, options):
    try:
        obs, _ = vector_env.reset(seed=seed, options=options)
    except CLEAN as error:
        one_line(error)
        return
    assert vector_env.observation_space.contains(obs)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    actions=st.one_of(
        st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=0, max_size=20),
        st.lists(st.lists(st.floats(width=32), min_size=4, max_size=4), min_size=4, max_size=4),
        numbers,
    )
)
def test_step_takes_any_action_or_says_why(vector_env, actions):
    vector_env.reset(seed=0)
    try:
        obs, reward, *_ = vector_env.step(np.asarray(actions, dtype=object if isinstance(actions, str) else None))
    except CLEAN as error:
        one_line(error)
        return
    assert vector_env.observation_space.contains(obs) and np.isfinite(reward).all()


@given(
    knobs=st.dictionaries(
        st.sampled_from(
            [
                "num_steps",
                "reward",
                "smoothing",
                "tradeoff",
                "baseline",
                "refine",
                "autocast",
                "observation_mode",
                "render_scale",
                "num_envs",
                "bogus",
            ]
        ),
        numbers,
        max_size=3,
    )
)
def test_make_vec_takes_any_keywords_or_says_why(knobs):
    num_envs = knobs.pop("num_envs", 2)
    try:
        env = gym.make_vec(ENV_ID, num_envs=num_envs, **{"reward": None, **knobs})
    except CLEAN as error:
        one_line(error)
        return
    assert env.num_envs == num_envs


# ---------------------------------------------------------------------- every command's flags


class WorkStarted(Exception):
    """The flags were all accepted: the command reached its work (stubbed out here)."""


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    """Every command's work stops at its first step: these tests are about what comes before it."""

    def started(*args, **kwargs):
        raise WorkStarted

    monkeypatch.setattr("adagen_agents.commands.train.choose_threads", lambda threads: "threads: left alone")
    for target in (
        "adagen_agents.commands.evaluate.run_experiment",
        "adagen_agents.commands.sample.policy_generator",
        "adagen_env.evaluation.generators.sample",
        "adagen_agents.commands.actions.record_actions",
        "adagen_agents.train.train_ppo",
        "adagen_agents.train.train_sb3",
        "adagen_env.training.train_denoiser.fit",
        "adagen_agents.commands.own_images.train_feature_networks",
        "adagen_agents.bench.campaign.run_campaign",
        "adagen_agents.bench.report.write_report",
    ):
        monkeypatch.setattr(target, started)


FLAG_VALUES = st.one_of(
    st.integers(-2, 40).map(str),
    st.sampled_from(
        [
            "0",
            "1",
            "-1",
            "2",
            "4",
            "8",
            "20",
            "1e6",
            "nan",
            "inf",
            "-0.5",
            "0.5",
            "1.5",
            "method",
            "random",
            "best-static",
            "hand-designed",
            "cuda",
            "cpu",
            "meta",
            "bf16",
            "flat",
            "1:0.5",
            "2:3",
            "shipped",
            "x.png",
            "x.json",
            "x.pt",
            "x.zip",
            "x.txt",
            "",
            "all",
            str(2**64),
            "AdaGen/VAR-Digits-v0",
            "AdaGen/Nope-v0",
        ]
    ),
    st.text(alphabet="abc019-.:/", max_size=6),
)


def options_of(command: str) -> list[str]:
    parser = {name: sub for name, sub in cli_subparsers().items()}[command]
    return [
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]


def cli_subparsers() -> dict:
    import argparse

    found = {}
    for action in cli.build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                for inner in sub._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        found.update({f"{name} {n}": s for n, s in inner.choices.items()})
    return found


COMMANDS = ["train", "eval", "sample", "actions", "generator", "features", "bench run", "bench report"]
# the required flags, with values that are mostly right, so that most runs get past argparse to our checks
REQUIRED = {
    "sample": lambda data: ["--label", str(data.draw(st.integers(-2, 12)))],
    "actions": lambda data: ["--policy", data.draw(st.sampled_from(["shipped", "missing.pt"]))],
    "features": lambda data: ["--data", data.draw(st.sampled_from(["digits.npz", "missing.npz"]))],
    "generator": lambda data: ["--paradigm", "flow", "--data", data.draw(st.sampled_from(["digits.npz", "nope"]))],
    "bench run": lambda data: ["--algo", data.draw(st.sampled_from(["ppo", "cma-es", "nope"]))],
}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("command", COMMANDS)
def test_any_flags_of_any_command_give_a_result_or_one_clean_line(command, data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez("digits.npz", images=rng.integers(0, 17, (40, 8, 8)), labels=np.arange(40) % 2)
    options = options_of(command)
    argv = command.split() + REQUIRED.get(command, lambda data: [])(data)
    for _ in range(data.draw(st.integers(0, 3))):
        argv += [data.draw(st.sampled_from(options)), data.draw(FLAG_VALUES)]
    try:
        cli.main(argv)
    except WorkStarted:
        return  # every flag was accepted and checked before the work
    except SystemExit as exit_info:
        code = exit_info.code
        if isinstance(code, str):  # our one line
            assert code.startswith(f"adagen {command.split()[0]}") and "\n" not in code, code
        else:  # argparse's usage error (2), help (0), or an interrupted run
            assert code in (0, 2, 130), code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
