"""adagen export: a trained policy as a static schedule per class, replayed exactly by --schedule FILE.json."""

import json

import numpy as np
import pytest
import torch

from adagen_agents.cli import main
from adagen_agents.schedule_export import export_schedule, read_exported
from adagen_agents.target import make_target


def test_a_shipped_policy_exports_and_its_schedule_samples_from_the_cli(tmp_path, capsys):
    out = tmp_path / "schedule.json"
    main(
        ["export", "--env", "AdaGen/Flow-Digits-v0", "--policy", "shipped", "--steps", "6"]
        + ["--samples-per-class", "8", "--out", str(out)]
    )
    assert "wrote" in capsys.readouterr().out
    exported = read_exported(out)
    assert exported.actions.shape == (11, 6, 2) and exported.rows[-1]["name"] == "all"
    assert [row["name"] for row in exported.rows[:10]] == [str(d) for d in range(10)]
    assert exported.spec.num_steps == 6
    main(
        ["eval", "--env", "AdaGen/Flow-Digits-v0", "--steps", "6", "--schedule", "hand-designed", str(out)]
        + ["--samples", "200", "--json", str(tmp_path / "eval.json")]
    )
    names = json.dumps(json.loads((tmp_path / "eval.json").read_text()))
    assert str(out) in names
    main(
        ["sample", "--env", "AdaGen/Flow-Digits-v0", "--schedule", str(out), "--label", "3", "--n", "4"]
        + ["--out", str(tmp_path / "s.png")]
    )
    assert (tmp_path / "s.png").exists()


def test_the_exported_schedule_is_the_mean_of_the_actions_and_replays_them(tmp_path):
    target = make_target("AdaGen/Flow-Digits-v0")  # two parameters: time step and guidance
    act, card = target.policy("shipped", 6)

    def constant(observation):  # every sample of class c acts c / 10 at every step: its mean is that
        return (observation["label"].float() / 10)[:, None].repeat(1, 2)

    exported = export_schedule(target.process, constant, card, [str(d) for d in range(10)], 4, 0)
    torch.testing.assert_close(exported.actions[3], torch.full((6, 2), 0.3))
    torch.testing.assert_close(exported.actions[-1], torch.full((6, 2), 0.45))  # the mean over the classes
    exported.save(tmp_path / "c.json")
    generate = target.static(str(tmp_path / "c.json"), card.sampling_spec())
    from adagen_env.evaluation.generators import policy_generator

    labels = torch.tensor([0, 3, 9, 3])
    expected = policy_generator(target.process, constant, card.sampling_spec())(labels, 5)
    torch.testing.assert_close(generate(labels, 5), expected)


def test_a_pipelines_zero_policy_exports_the_pipelines_own_timesteps_and_guidance(tmp_path):
    diffusers = pytest.importorskip("diffusers")
    from test_pipelines import STEPS, _process, dit_pipeline, zero_policy

    from adagen_agents import load_policy

    pipe = dit_pipeline()
    path = zero_policy(tmp_path / "zero.pt", _process(pipe, [207, 1]))
    process = _process(pipe, [207, 1])
    act, card = load_policy(path, process, None)
    exported = export_schedule(process, act, card, ["a", "b"], 2, 0)
    scheduler = diffusers.DDIMScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(STEPS)
    for row in exported.rows:
        assert row["timesteps"] == scheduler.timesteps.tolist()
        np.testing.assert_allclose(row["guidance_scale"], [4.0] * STEPS)


def test_a_file_that_is_not_an_exported_schedule_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1}')
    with pytest.raises(ValueError, match="not a schedule written by adagen export"):
        read_exported(bad)
    with pytest.raises(FileNotFoundError, match="no file"):
        read_exported(tmp_path / "missing.json")


def test_a_schedule_exported_for_another_env_is_refused(tmp_path):
    out = tmp_path / "flow.json"
    main(
        ["export", "--env", "AdaGen/Flow-Digits-v0", "--policy", "shipped", "--steps", "6"]
        + ["--samples-per-class", "2", "--out", str(out)]
    )
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["sample", "--env", "AdaGen/Diffusion-Digits-v0", "--schedule", str(out), "--label", "1"]
            + ["--out", str(tmp_path / "x.png")]
        )
    assert "AdaGen/Flow-Digits-v0" in str(exit_info.value.code)
