"""Nothing lost, nothing silently wrong: outputs never destroy inputs, every stop saves, and flags that
would fail later are refused before any work."""

import json

import numpy as np
import pytest
import torch

from adagen_agents.cli import main
from adagen_agents.ppo import PPO
from adagen_env.data.user_data import read_generator
from adagen_env.runtime.files import atomic_save

SMALL = [
    "--steps",
    "2",
    "--num-envs",
    "16",
    "--episodes-per-update",
    "16",
    "--eval-every",
    "0",
    "--final-samples",
    "20",
]


def error_of(argv: list[str]) -> str:
    """The one line a command exits with."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    assert isinstance(code, str) and "\n" not in code, code
    return code


def npz_digits(path, n: int = 40, classes: int = 2):
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 17, (n, 8, 8)), labels=np.arange(n) % classes)
    return path


def train_sb3_policy(out, tmp_path) -> None:
    """A tiny SB3 PPO policy at ``out`` (a .zip, with its card beside it)."""
    main(
        [
            "train",
            *SMALL,
            "--algo",
            "sb3-ppo",
            "--timesteps",
            "32",
            "--reward",
            "classifier",
            "--out",
            str(out),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )


def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(PPO, "learn", refuse)
    monkeypatch.setattr("adagen_env.training.train_denoiser.fit", refuse)


# ---------------------------------------------------------------------- outputs never destroy inputs


@pytest.mark.parametrize("command", ["generator", "features"])
def test_an_out_that_is_the_data_is_refused_and_the_data_kept(command, tmp_path, monkeypatch):
    no_training(monkeypatch)
    data = npz_digits(tmp_path / "x.npz")
    before = data.read_bytes()
    flags = ["--paradigm", "flow"] if command == "generator" else []
    message = error_of([command, *flags, "--data", str(data), "--out", str(data)])
    assert "is this command's --data: writing it would destroy that input" in message
    assert data.read_bytes() == before


def test_a_generator_is_not_overwritten_by_the_policy_trained_on_it(tmp_path, monkeypatch):
    data = npz_digits(tmp_path / "x.npz")
    main(
        ["generator", "--paradigm", "flow", "--data", str(data), "--train-steps", "3", "--out", str(tmp_path / "g.pt")]
    )
    before = (tmp_path / "g.pt").read_bytes()
    no_training(monkeypatch)
    message = error_of(["train", "--generator", str(tmp_path / "g.pt"), *SMALL, "--out", str(tmp_path / "g.pt")])
    assert "is this command's --generator" in message and (tmp_path / "g.pt").read_bytes() == before


def test_an_existing_out_needs_overwrite_or_resume(tmp_path, capsys):
    out = tmp_path / "policy.pt"
    main(["train", *SMALL, "--updates", "2", "--out", str(out), "--logdir", str(tmp_path / "runs")])
    before = out.read_bytes()
    message = error_of(["train", *SMALL, "--updates", "1", "--out", str(out), "--logdir", str(tmp_path / "runs")])
    assert "exists; give --overwrite to replace it, or --resume" in message and out.read_bytes() == before
    main(["train", *SMALL, "--updates", "3", "--resume", str(out), "--logdir", str(tmp_path / "r")])
    resumed = tmp_path / "policy-resumed.pt"  # without --out: a new file; the resumed one stays as it was
    assert f"resuming {out} into {resumed} ({out} stays as it is)" in capsys.readouterr().out
    assert torch.load(resumed, weights_only=True)["updates"] == 3 and out.read_bytes() == before
    main(["train", *SMALL, "--updates", "3", "--resume", str(out), "--out", str(out), "--logdir", str(tmp_path / "r")])
    assert torch.load(out, weights_only=True)["updates"] == 3  # --out naming it: resumed in place
    assert f"resuming {out} in place (--out names it)" in capsys.readouterr().out
    main(["train", *SMALL, "--updates", "1", "--out", str(out), "--overwrite", "--logdir", str(tmp_path / "runs")])
    assert torch.load(out, weights_only=True)["updates"] == 1


def test_a_failing_sb3_run_leaves_the_old_runs_card_alone(tmp_path):
    out = tmp_path / "sb3.zip"
    train_sb3_policy(out, tmp_path)
    card = (tmp_path / "sb3.json").read_text()
    message = error_of(
        [
            "train",
            *SMALL,
            "--algo",
            "sb3-a2c",
            "--timesteps",
            "32",
            "--out",
            str(out),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    assert "exists" in message and (tmp_path / "sb3.json").read_text() == card


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "--label", "1", "--out", "x.txt"], "the file it writes is .png"),
        (["actions", "--policy", "shipped", "--out", "anoext"], "the file it writes is .png"),
        (["eval", "--json", "report.md"], "the file it writes is .json"),
        (["train", "--out", "policy"], "the file it writes is .pt"),
    ],
)
def test_an_output_of_the_wrong_kind_is_refused_before_any_work(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("adagen_env.processes.sampling.sample", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    assert message in error_of(argv)


def test_saves_are_atomic_and_two_writers_do_not_collide(tmp_path):
    path = tmp_path / "state.pt"
    atomic_save({"a": torch.zeros(3)}, path)
    for value in range(3):  # what two runs writing one --out do: each write is whole, the last one wins
        atomic_save({"a": torch.full((3,), float(value))}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.full((3,), 2.0))
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no temporary file is left behind

    class Full(OSError):
        pass

    def fail(file):
        file.write(b"partial")
        raise Full(28, "No space left on device")

    from adagen_env.runtime.files import atomic_write

    with pytest.raises(ValueError, match=r"cannot write .*state.pt \(No space left on device\); the previous file"):
        atomic_write(path, fail)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.full((3,), 2.0))  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


# ---------------------------------------------------------------------- every stop saves


def test_the_checkpoint_is_written_before_the_evaluation_of_its_update(tmp_path, monkeypatch):
    import adagen_agents.train as train

    def evaluation_fails(*args, **kwargs):
        raise RuntimeError("the evaluation failed")

    monkeypatch.setattr(train, "evaluate_generator", evaluation_fails)
    out = tmp_path / "p.pt"
    with pytest.raises(RuntimeError, match="the evaluation failed"):
        main(
            [
                "train",
                *SMALL[:-4],
                "--eval-every",
                "2",
                "--checkpoint-every",
                "2",
                "--updates",
                "4",
                "--out",
                str(out),
                "--logdir",
                str(tmp_path / "runs"),
            ]
        )
    assert torch.load(out, weights_only=True)["updates"] == 2  # the update before the failed evaluation is kept


def test_a_diverging_update_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "p.pt"
    message = error_of(
        [
            "train",
            *SMALL,
            "--updates",
            "3",
            "--lr",
            "1e6",
            "--checkpoint-every",
            "1",
            "--out",
            str(out),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    assert "diverged" in message and "kept the last good checkpoint" in message
    state = torch.load(out, weights_only=True)
    assert all(torch.isfinite(t).all() for t in state["actor"].values())
    main(["eval", "--policy", str(out), "--samples", "20"])  # what was kept is a usable policy


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--eval-samples", "3"], "--eval-samples must be at least 4"),
        (["train", "--final-samples", "3"], "--final-samples must be at least 4"),
        (["actions", "--policy", "shipped", "--samples", "10", "--out", "a.png"], "--samples must be at least 20"),
        (["eval", "--seed", "9223344366820", "--seeds", "3"], "goes past the last seed"),
    ],
)
def test_flags_that_would_fail_later_are_refused_at_start(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    no_training(monkeypatch)
    assert message in error_of(argv)
    assert not (tmp_path / "a.png").exists()


def test_a_generator_on_too_few_images_for_a_held_out_split_is_refused_before_training(tmp_path, monkeypatch):
    no_training(monkeypatch)
    data = npz_digits(tmp_path / "few.npz", n=8)
    assert "heldout split holds" in error_of(
        ["generator", "--paradigm", "flow", "--data", str(data), "--out", str(tmp_path / "g.pt")]
    )


def test_a_stopped_generator_run_saves_and_resumes_exactly(tmp_path, monkeypatch):
    from adagen_env.data.user_data import data_source
    from adagen_env.runtime import signals
    from adagen_env.training.train_denoiser import train_denoiser

    source = data_source(npz_digits(tmp_path / "x.npz"))
    train = source.load("train")
    straight = train_denoiser("flow", train, steps=6, batch_size=8, target="clean")
    saved = {}

    def on_checkpoint(model, training):
        saved.update(model=model, training=training)

    checks = {"n": 0}
    original = signals.StopRequest.check

    def stop_at_the_fourth_step(self):  # as if Ctrl-C landed during step 4
        checks["n"] += 1
        if checks["n"] == 4:
            self.signum = 2
        original(self)

    monkeypatch.setattr(signals.StopRequest, "check", stop_at_the_fourth_step)
    with pytest.raises(KeyboardInterrupt):
        train_denoiser("flow", train, steps=6, batch_size=8, target="clean", on_checkpoint=on_checkpoint)
    assert saved["training"]["fit"]["step"] == 4  # the step in progress finished; nothing half done
    monkeypatch.setattr(signals.StopRequest, "check", original)
    resumed = train_denoiser("flow", train, steps=6, batch_size=8, target="clean", resume=saved["training"])
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_adagen_generator_resumes_its_own_file(tmp_path):
    data = npz_digits(tmp_path / "x.npz")
    out = tmp_path / "g.pt"
    main(
        [
            "generator",
            "--paradigm",
            "flow",
            "--data",
            str(data),
            "--train-steps",
            "6",
            "--checkpoint-every",
            "2",
            "--out",
            str(out),
        ]
    )
    finished = read_generator(out)
    assert finished.steps == 6 and finished.training is None  # a finished file holds no training state
    assert "a finished generator (6 steps); nothing to resume" in error_of(["generator", "--resume", str(out)])


def test_a_resumed_generator_run_writes_a_new_file_and_keeps_the_stopped_one(tmp_path, monkeypatch, capsys):
    from adagen_env.runtime import signals

    original = signals.StopRequest.check
    checks = {"n": 0}

    def stop_at_the_third_step(self):  # as if Ctrl-C landed during step 3
        checks["n"] += 1
        if checks["n"] == 3:
            self.signum = 2
        original(self)

    data, out = npz_digits(tmp_path / "x.npz"), tmp_path / "g.pt"
    monkeypatch.setattr(signals.StopRequest, "check", stop_at_the_third_step)
    with pytest.raises(SystemExit):
        main(["generator", "--paradigm", "flow", "--data", str(data), "--train-steps", "6", "--out", str(out)])
    monkeypatch.setattr(signals.StopRequest, "check", original)
    stopped = out.read_bytes()
    assert read_generator(out).steps == 3

    main(["generator", "--resume", str(out)])
    resumed = tmp_path / "g-resumed.pt"
    assert f"resuming {out} into {resumed} ({out} stays as it is)" in capsys.readouterr().out
    assert read_generator(resumed).steps == 6 and read_generator(resumed).training is None
    assert out.read_bytes() == stopped  # still resumable, as it was
    message = error_of(["generator", "--resume", str(out)])  # once more: the new file is not replaced silently
    assert f"{resumed} exists; give --overwrite to replace it" in message
    main(["generator", "--resume", str(out), "--out", str(out)])
    assert read_generator(out).steps == 6 and "resuming" in capsys.readouterr().out


def test_resumed_files_are_named_by_how_often_they_were_resumed():
    from adagen_agents.files import resumed_path

    assert resumed_path("runs/p.pt").as_posix() == "runs/p-resumed.pt"
    assert resumed_path("runs/p-resumed.pt").as_posix() == "runs/p-resumed-2.pt"
    assert resumed_path("p-resumed-2.zip").as_posix() == "p-resumed-3.zip"
    assert resumed_path("p-resumed-x.pt").as_posix() == "p-resumed-x-resumed.pt"


# ---------------------------------------------------------------------- inputs checked against each other


def test_labels_must_be_the_classes_0_to_c_minus_1(tmp_path):
    from adagen_env.data.datasets import load_images

    np.savez(tmp_path / "gap.npz", images=np.zeros((6, 8, 8), int), labels=np.array([0, 9, 0, 9, 0, 9]))
    with pytest.raises(ValueError, match="no images of class 1, 2, 3, 4, 5, 6, 7, 8"):
        load_images(tmp_path / "gap.npz")


def test_a_generator_with_data_of_other_classes_or_sizes_is_refused(tmp_path):
    data = npz_digits(tmp_path / "x.npz", classes=2)
    main(
        ["generator", "--paradigm", "flow", "--data", str(data), "--train-steps", "2", "--out", str(tmp_path / "g.pt")]
    )
    other = npz_digits(tmp_path / "y.npz", classes=4)
    message = error_of(["eval", "--generator", str(tmp_path / "g.pt"), "--data", str(other), "--samples", "8"])
    assert "generates 2 classes, but" in message and "holds 4" in message
    np.savez(tmp_path / "big.npz", images=np.zeros((40, 12, 12), int), labels=np.arange(40) % 2)
    message = error_of(["eval", "--generator", str(tmp_path / "g.pt"), "--data", str(tmp_path / "big.npz")])
    assert "makes 1x8x8 images, but" in message


def test_a_policy_trained_for_another_generator_of_the_same_shape_is_refused(tmp_path):
    data = npz_digits(tmp_path / "x.npz")
    for name, seed in (("a", "0"), ("b", "1")):
        main(
            [
                "generator",
                "--paradigm",
                "flow",
                "--data",
                str(data),
                "--train-steps",
                "2",
                "--seed",
                seed,
                "--out",
                str(tmp_path / f"{name}.pt"),
            ]
        )
    main(
        [
            "train",
            "--generator",
            str(tmp_path / "a.pt"),
            *SMALL,
            "--updates",
            "1",
            "--out",
            str(tmp_path / "p.pt"),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    message = error_of(
        ["eval", "--generator", str(tmp_path / "b.pt"), "--policy", str(tmp_path / "p.pt"), "--samples", "8"]
    )
    assert "was trained for another generator" in message


# ---------------------------------------------------------------------- limits


def test_an_image_above_the_pixel_cap_is_refused_before_its_pixels_are_read(tmp_path):
    from PIL import Image

    from adagen_env.data.datasets import load_images

    Image.new("L", (2048, 1024)).save(tmp_path / "huge.png")
    with pytest.raises(ValueError, match="2048x1024 pixels; images of at most 1,048,576 pixels"):
        load_images(tmp_path)


def test_a_batch_that_cannot_fit_in_memory_is_refused_with_the_estimate(monkeypatch):
    import gymnasium as gym

    monkeypatch.setattr("adagen_env.runtime.memory.available_bytes", lambda: 10**9)
    with pytest.raises(ValueError, match=r"num_envs=65536 needs about \d+\.\d GB, but 1.0 GB is available"):
        gym.make_vec("AdaGen/MaskGIT-Digits-v0", num_envs=65536)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "--label", "1", "--seed", str(2**64)], "must be an integer in 0..9,223,372,036,854,775,807"),
        (["eval", "--device", "meta"], "cannot run a generator here"),
        (["train", "--episodes", "16"], "unrecognized arguments: --episodes"),
    ],
)
def test_seeds_devices_and_abbreviations(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert message in str(exit_info.value.code) + capsys.readouterr().err


def test_bench_report_names_a_malformed_or_nan_run_file(tmp_path):
    runs = tmp_path / "runs" / "maskgit-8"
    runs.mkdir(parents=True)
    (runs / "ppo-seed0.json").write_text("{not json")
    assert "ppo-seed0.json: not a readable run file" in error_of(["bench", "report", "--results", str(tmp_path)])
    scores = {"mean": float("nan"), "classifier": 0.1, "encoder": 0.1, "pixels": 0.1}
    run = {"algo": "ppo", "task": "maskgit-8", "seed": 0, "scores": scores, "curve": []}
    (runs / "ppo-seed0.json").write_text(json.dumps(run))
    assert "its mean score is nan, not a finite number" in error_of(["bench", "report", "--results", str(tmp_path)])


# ---------------------------------------------------------------------- SB3 files


def test_an_sb3_zip_loads_only_with_trust_pickle(tmp_path):
    out = tmp_path / "sb3.zip"
    train_sb3_policy(out, tmp_path)
    assert "a pickle that runs any code it holds when loaded" in error_of(["eval", "--policy", str(out)])
    out.write_bytes(b"PK not really a zip")
    message = error_of(
        ["sample", "--label", "1", "--policy", str(out), "--trust-pickle", "--out", str(tmp_path / "s.png")]
    )
    assert "not a readable sb3-ppo model" in message and "code in the file may have run" in message


def test_sigterm_in_any_command_ends_it_with_143_and_says_so(tmp_path, monkeypatch, capsys):
    from adagen_env.runtime.signals import Terminated

    def stopped(*args, **kwargs):
        raise Terminated("stopped by SIGTERM")

    monkeypatch.setattr("adagen_agents.bench.campaign.run_campaign", stopped)
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "run", "--algo", "ppo", "--task", "maskgit-8", "--results", str(tmp_path)])
    assert exit_info.value.code == 143 and "stopped by SIGTERM" in capsys.readouterr().err


def test_a_stopped_features_run_writes_nothing_and_says_why(tmp_path, monkeypatch, capsys):
    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("adagen_agents.commands.own_images.train_feature_networks", stopped)
    out = tmp_path / "f.pt"
    with pytest.raises(SystemExit) as exit_info:
        main(["features", "--data", str(npz_digits(tmp_path / "x.npz")), "--out", str(out)])
    assert exit_info.value.code == 130 and not out.exists()
    assert "no features file written: networks trained part way would skew" in capsys.readouterr().err
