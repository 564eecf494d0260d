"""Every file the package loads is read with weights_only=True: a malicious .pt runs nothing, and a
damaged or wrong file is one clear line that names it."""

import os
import pathlib
import shlex
import shutil

import pytest
import torch

from adagen_agents.cli import main
from adagen_agents.loading import export_policy, load_actor, load_policy
from adagen_agents.ppo import PPO, PPOConfig
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.models.checkpoints import load_frozen
from adagen_env.models.maskgit import WEIGHTS_PATH, MaskGITConfig, MaskGITTransformer, load_maskgit
from adagen_env.paradigms import get_paradigm

SHIPPED_POLICY = get_paradigm("maskgit-digits").shipped_policy_path()


class WritesAMarker:
    """Unpickling this calls ``Path.write_text(marker, "pwned")``, or with ``shell``, ``os.system("touch marker")``."""

    def __init__(self, marker: pathlib.Path, shell: bool):
        self.marker, self.shell = marker, shell

    def __reduce__(self):
        if self.shell:
            return os.system, (f"touch {shlex.quote(str(self.marker))}",)
        return pathlib.Path.write_text, (self.marker, "pwned")


@pytest.fixture
def marker(tmp_path) -> pathlib.Path:
    return tmp_path / "marker.txt"


@pytest.fixture(params=["write_text", "os.system"])
def evil(request, tmp_path, marker) -> pathlib.Path:
    """A policy-shaped checkpoint with a payload in it."""
    path = tmp_path / "evil.pt"
    policy = torch.load(SHIPPED_POLICY, weights_only=True)
    torch.save(
        {
            **policy,
            "critic": {},
            "optimizer": {},
            "updates": 0,
            "episodes": 0,
            "seconds": 0.0,
            "noise": WritesAMarker(marker, shell=request.param == "os.system"),
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def env() -> ScheduleVectorEnv:
    return ScheduleVectorEnv(num_envs=16, num_steps=2, reward="classifier")


def exit_message(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert isinstance(exit_info.value.code, str), exit_info.value.code
    return exit_info.value.code


LOADERS = {
    "eval --policy": lambda path, tmp: exit_message(["eval", "--policy", str(path), "--samples", "20"]),
    "sample --policy": lambda path, tmp: exit_message(
        ["sample", "--policy", str(path), "--label", "1", "--n", "2", "--out", str(tmp / "g.png")]
    ),
    "train --resume": lambda path, tmp: exit_message(
        [
            "train",
            "--steps",
            "2",
            "--num-envs",
            "16",
            "--episodes-per-update",
            "16",
            "--resume",
            str(path),
            "--out",
            str(tmp / "out.pt"),
            "--logdir",
            str(tmp / "runs"),
        ]
    ),
    "PPO.load": lambda path, tmp: PPO.load(path, ScheduleVectorEnv(num_envs=16, num_steps=2, reward="classifier")),
    "load_actor": lambda path, tmp: load_actor(path, get_paradigm("maskgit-digits").make_process(), "maskgit-digits"),
    "load_policy": lambda path, tmp: load_policy(path, get_paradigm("maskgit-digits").make_process(), "maskgit-digits"),
    "export_policy": lambda path, tmp: export_policy(path, tmp / "exported.pt"),
}
GENERATOR_LOADERS = {
    "load_frozen": lambda path, tmp: load_frozen(MaskGITTransformer, MaskGITConfig, str(path)),
    "load_maskgit": lambda path, tmp: load_maskgit(path=str(path)),
}


def message_of(load, path, tmp_path) -> str:
    """The one-line error of ``load(path)``: SystemExit's message or ValueError's."""
    try:
        result = load(path, tmp_path)
    except ValueError as e:
        result = str(e)
    assert isinstance(result, str), f"{path} loaded without an error"
    assert "\n" not in result.strip() and str(path) in result, result
    return result


@pytest.mark.parametrize("loader", [*LOADERS, *GENERATOR_LOADERS])
def test_a_malicious_file_runs_nothing_on_any_loading_path(loader, evil, marker, tmp_path):
    load = {**LOADERS, **GENERATOR_LOADERS}[loader]
    message = message_of(load, evil, tmp_path)
    assert not marker.exists(), f"{loader} ran the file's code"
    assert "refused to load" in message and "run Python code" in message
    assert "weights_only=False" not in message  # torch's advice to run the code is not passed on


def damaged_files(tmp_path) -> dict[str, pathlib.Path]:
    data = SHIPPED_POLICY.read_bytes()
    files = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "text": b"this is not a checkpoint\n",
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name}.pt"
        paths[name].write_bytes(content)
    paths["generator weights"] = tmp_path / "generator.pt"
    shutil.copy(WEIGHTS_PATH, paths["generator weights"])
    return paths


@pytest.mark.parametrize("loader", list(LOADERS))
def test_damaged_or_wrong_files_give_one_line_that_names_the_file(loader, tmp_path):
    for kind, path in damaged_files(tmp_path).items():
        message = message_of(LOADERS[loader], path, tmp_path)
        expected = {
            "truncated": "truncated or corrupt",
            "empty": "empty (0 bytes)",
            "text": "not a readable torch file",
            "generator weights": "generator weights",
        }[kind]
        assert expected in message, (kind, message)


def test_an_exported_policy_is_not_a_training_checkpoint(tmp_path):
    message = exit_message(
        ["train", "--resume", str(SHIPPED_POLICY), "--out", str(tmp_path / "p.pt"), "--logdir", str(tmp_path / "runs")]
    )
    assert "is not a PPO training checkpoint" in message and "exported policy" in message


@pytest.mark.parametrize("loader", list(GENERATOR_LOADERS))
def test_a_policy_is_not_generator_weights(loader, tmp_path):
    message_of(GENERATOR_LOADERS[loader], SHIPPED_POLICY, tmp_path)


def test_checkpoints_and_exports_hold_plain_data_only(env, tmp_path):
    """What PPO writes loads with weights_only=True, numpy and torch random states included."""
    agent = PPO(
        ScheduleVectorEnv(num_envs=16, num_steps=2, reward="adversarial"),
        PPOConfig(episodes_per_update=16, epochs=1, minibatches=1),
    )
    agent.learn(1)
    path = agent.save(tmp_path / "ckpt.pt")
    state = torch.load(path, weights_only=True)
    assert state["env"]["np_random"] == agent.core.state_dict()["np_random"]
    assert torch.equal(state["env"]["generator"], agent.core.generator.get_state())
    assert state["env"]["scorer"] is not None
    exported = torch.load(export_policy(path, tmp_path / "policy.pt"), weights_only=True)
    assert set(exported) == {"actor", "config", "card"}
