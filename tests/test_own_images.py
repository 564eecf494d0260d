"""Your own images end to end: train a generator on a folder, learn its schedule, evaluate it.

The data set is built here: coloured, shifted digits at 16x16 RGB (class k's digit drawn in
colour k at a random place), saved as PNG files in class sub-folders, as a user's would be.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adagen_agents.cli import main
from adagen_env.data.datasets import ImageDataset, load_digits, load_images
from adagen_env.data.user_data import read_generator, user_evaluator
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation.metrics import NETWORK_SPACES, SPACES, Evaluator
from adagen_env.processes import DiffusionProcess, FlowProcess
from adagen_env.processes.sampling import sample
from adagen_env.rewards import AdversarialScorer
from adagen_env.training.coloured_digits import write_coloured_digits


def coloured_digits(folder: Path, classes: int = 3, per_class: int = 30) -> Path:
    return write_coloured_digits(folder, size=16, classes=classes, per_class=per_class)


def grey_blobs(folder: Path, n: int = 40, shape: tuple[int, int] = (12, 10)) -> Path:
    """One unlabelled class of grey images, not square."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory):
    """generator -> features -> train on the coloured digits, with small budgets (shared by the tests below)."""
    root = tmp_path_factory.mktemp("own")
    data = coloured_digits(root / "data")
    main(
        ["generator", "--paradigm", "flow", "--data", str(data), "--train-steps", "60", "--out", str(root / "flow.pt")]
    )
    main(
        [
            "features",
            "--data",
            str(data),
            "--classifier-epochs",
            "2",
            "--encoder-steps",
            "40",
            "--out",
            str(root / "features.pt"),
        ]
    )
    main(
        [
            "train",
            "--generator",
            str(root / "flow.pt"),
            "--features",
            str(root / "features.pt"),
            "--steps",
            "3",
            "--updates",
            "1",
            "--num-envs",
            "16",
            "--episodes-per-update",
            "16",
            "--minibatches",
            "2",
            "--eval-every",
            "1",
            "--eval-samples",
            "12",
            "--final-samples",
            "12",
            "--threads",
            "1",
            "--out",
            str(root / "policy.pt"),
            "--logdir",
            str(root / "runs"),
        ]
    )
    return root


def test_a_folder_of_rgb_images_loads_channels_first(tmp_path):
    data = load_images(coloured_digits(tmp_path, per_class=5), "all")  # RGB, as the images are
    assert data.channels == 3 and data.image_shape == (16, 16) and data.num_classes == 3
    images = data.to_float()
    assert images.shape == (15, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    assert load_images(tmp_path, channels=1).channels == 1
    with pytest.raises(ValueError, match="take grey images"):
        data.tokens()


def test_own_images_end_to_end(rgb_run, capsys):
    root = rgb_run
    assert (root / "policy.pt").exists()
    main(
        [
            "eval",
            "--generator",
            str(root / "flow.pt"),
            "--features",
            str(root / "features.pt"),
            "--policy",
            str(root / "policy.pt"),
            "--samples",
            "12",
            "--json",
            str(root / "eval.json"),
        ]
    )
    out = capsys.readouterr().out
    assert "feature spaces: classifier, encoder, mlp_classifier, conv_autoencoder, contrastive, pixels" in out
    result = json.loads((root / "eval.json").read_text())
    contenders = result["contenders"]
    assert [c["name"] for c in contenders] == ["learned (ppo)", "hand-designed"]  # no best static: not searched
    for row in (c["per_seed"][0] for c in contenders):
        for space in ("classifier", "encoder", "pixels"):
            for metric in ("fd", "kid", "precision", "recall"):
                assert math.isfinite(row[f"{space}_{metric}"]), (space, metric)
        assert 0 <= row["accuracy"] <= 1

    generator = read_generator(root / "flow.pt")
    assert generator.paradigm == "flow" and generator.source.channels == 3
    images = sample(generator.process(), torch.arange(6) % 3, num_steps=4)
    assert images.shape == (6, 3, 16, 16) and torch.isfinite(images).all()
    assert 0 <= images.min() and images.max() <= 1

    main(
        [
            "sample",
            "--generator",
            str(root / "flow.pt"),
            "--policy",
            str(root / "policy.pt"),
            "--label",
            "2",
            "--n",
            "4",
            "--out",
            str(root / "grid.png"),
        ]
    )
    with Image.open(root / "grid.png") as grid:
        assert grid.mode == "RGB"


def test_without_features_only_the_pixel_space(rgb_run, capsys):
    main(["eval", "--generator", str(rgb_run / "flow.pt"), "--steps", "2", "--samples", "8"])
    out = capsys.readouterr().out
    assert "feature spaces: pixels (no --features" in out


def test_a_class_is_sampled_by_its_folder_name_and_the_map_is_shown(rgb_run, capsys):
    grid = rgb_run / "class2.png"
    main(["sample", "--generator", str(rgb_run / "flow.pt"), "--label", "class2", "--n", "2", "--out", str(grid)])
    assert "--label class2 is class 2; classes: 0 class0, 1 class1, 2 class2" in capsys.readouterr().out
    assert grid.is_file()
    with pytest.raises(SystemExit) as stop:
        main(["sample", "--generator", str(rgb_run / "flow.pt"), "--label", "fox", "--out", str(rgb_run / "fox.png")])
    assert stop.value.code == (
        "adagen sample: --label must be a class name or a number in 0..2, got 'fox'; "
        "classes: 0 class0, 1 class1, 2 class2"
    )


def test_the_actions_plot_names_the_generator_and_its_classes(rgb_run, monkeypatch):
    from matplotlib.figure import Figure

    drawn = {}
    savefig = Figure.savefig

    def keep(figure, *args, **kwargs):
        drawn["title"] = figure._suptitle.get_text()
        drawn["legends"] = [[t.get_text() for t in legend.get_texts()] for legend in figure.legends]
        return savefig(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    out = rgb_run / "actions.png"
    main(
        ["actions", "--generator", str(rgb_run / "flow.pt"), "--policy", str(rgb_run / "policy.pt")]
        + ["--samples", "6", "--out", str(out)]
    )
    assert drawn["title"] == "policy.pt on flow.pt (AdaGen/Flow-Digits-v0), 3 steps"
    assert drawn["legends"] == [["class0", "class1", "class2"]] and out.is_file()


def test_unlabelled_grey_images_train_a_diffusion_generator_and_label_free_features(tmp_path, capsys):
    data = grey_blobs(tmp_path / "blobs")
    main(
        [
            "generator",
            "--paradigm",
            "diffusion",
            "--data",
            str(data),
            "--train-steps",
            "20",
            "--out",
            str(tmp_path / "g.pt"),
        ]
    )
    assert "classes: 0 blobs" in capsys.readouterr().out  # one class, named after its folder
    main(["features", "--data", str(data), "--encoder-steps", "20", "--threads", "1", "--out", str(tmp_path / "f.pt")])
    printed = capsys.readouterr().out
    assert "torch threads: 1 (--threads)" in printed and "classes: 0 blobs" in printed
    process = read_generator(tmp_path / "g.pt").process()
    assert isinstance(process, DiffusionProcess) and process.num_classes == 1
    assert sample(process, torch.zeros(3, dtype=torch.long), num_steps=3).shape == (3, 1, 12, 10)
    heldout = read_generator(tmp_path / "g.pt").source.load("heldout")
    evaluator = user_evaluator(heldout, tmp_path / "f.pt")
    # one class: no classifiers, the three label-free networks
    assert evaluator.spaces == ("encoder", "conv_autoencoder", "contrastive", "pixels")
    assert "one class: no classifiers" in printed


def test_rgb_images_through_the_evaluator_and_the_discriminator(tmp_path):
    data = load_images(coloured_digits(tmp_path, per_class=10), channels=3, levels=256)
    with pytest.raises(ValueError, match="knows 8x8 grey digits, not 3x16x16"):
        Evaluator(data)
    scores = Evaluator(data, spaces=("pixels",)).evaluate(data.to_float())
    assert scores["pixels_fd"] < 1e-6 and math.isnan(scores["accuracy"])
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 3, 16, 16\)"):
        Evaluator(data, spaces=("pixels",)).evaluate(torch.rand(5, 1, 16, 16))
    scorer = AdversarialScorer(real=data, update_every=8, batch_size=8)
    rewards = scorer(torch.rand(8, 3, 16, 16), torch.arange(8) % 3)
    assert rewards.shape == (8,) and scorer.stats["updates"] == 1


def test_bad_input_is_one_clear_line(rgb_run, tmp_path):
    root = rgb_run

    def fails(args, match):
        with pytest.raises(SystemExit, match=match):
            main(args)

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(mixed / "a.png")
    Image.fromarray(np.zeros((16, 12), np.uint8)).save(mixed / "b.png")
    fails(["generator", "--paradigm", "flow", "--data", str(mixed)], "mixed sizes: 8x8 .*, 16x12")
    tiny = grey_blobs(tmp_path / "tiny", n=8, shape=(6, 6))
    fails(["features", "--data", str(tiny)], "at least 8x8")
    fails(
        ["eval", "--generator", str(root / "flow.pt"), "--env", "AdaGen/Diffusion-Digits-v0"],
        "does not run flow generators",
    )
    with pytest.raises(ValueError, match="holds a flow generator, not a diffusion one"):
        DiffusionProcess.from_checkpoint(root / "flow.pt")
    assert isinstance(FlowProcess.from_checkpoint(root / "flow.pt"), FlowProcess)
    shipped = Path(__file__).resolve().parent.parent / "adagen_env" / "weights"
    fails(["eval", "--generator", str(shipped / "maskgit_digits.pt")], "holds no paradigm")
    fails(["eval", "--generator", str(shipped / "flow_digits.pt")], "records no training data")
    fails(["train", "--generator", str(root / "flow.pt"), "--reward", "classifier"], "use --reward adversarial")
    fails(["eval", "--data", str(root / "data")], "--data goes with --generator")
    fails(
        ["eval", "--policy", str(root / "policy.pt"), "--env", "AdaGen/Flow-Digits-v0"],
        "was trained for the generator .*flow.pt; pass --generator",
    )
    fails(["eval", "--generator", str(root / "flow.pt"), "--policy", "shipped"], "policy for a shipped generator")
    other = grey_blobs(tmp_path / "other", n=30, shape=(8, 8))
    main(["features", "--data", str(other), "--encoder-steps", "5", "--out", str(tmp_path / "other.pt")])
    fails(
        ["eval", "--generator", str(root / "flow.pt"), "--features", str(tmp_path / "other.pt")],
        "trained on 1x8x8 images, but these are 3x16x16",
    )
    fails(["train", "--generator", str(tmp_path / "none.pt")], "no generator file")


def test_a_reward_of_other_images_is_refused_by_the_env(rgb_run):
    process = read_generator(rgb_run / "flow.pt").process()
    digits = load_digits("train")
    with pytest.raises(ValueError, match="real images are 1x8x8 .* makes 3x16x16"):
        ScheduleVectorEnv(4, process=process, reward=AdversarialScorer(real=digits))
    grey16 = ImageDataset(np.zeros((6, 16, 16), np.uint8), np.arange(6) % 3, 256, 3)
    with pytest.raises(ValueError, match="real images are 1x16x16 .* makes 3x16x16"):
        ScheduleVectorEnv(4, process=process, reward=AdversarialScorer(real=grey16))
    # the trade-off's fidelity reward is a network of the shipped 8x8 grey digits
    own = AdversarialScorer(real=read_generator(rgb_run / "flow.pt").source.load("train"))
    with pytest.raises(ValueError, match="makes 3x16x16 images; the trade-off's fidelity reward knows the shipped 8x8"):
        ScheduleVectorEnv(4, process=process, reward=own, tradeoff="random")


@pytest.mark.parametrize("size, channels", [(8, 1), (32, 3)])
def test_sizes_from_8_to_32_grey_or_rgb_through_generator_env_render_and_evaluator(tmp_path, size, channels):
    from adagen_env.data.user_data import DataSource, save_generator, train_feature_networks
    from adagen_env.envs import ScheduleEnv
    from adagen_env.training.train_denoiser import train_denoiser

    folder = write_coloured_digits(tmp_path / "data", size=size, classes=2, per_class=20)
    source = DataSource(str(folder), channels)
    train = source.load("train")
    model = train_denoiser("diffusion", train, steps=3, batch_size=16, target="clean")
    save_generator(model, tmp_path / "g.pt", "diffusion", source, 3)
    process = read_generator(tmp_path / "g.pt").process()
    assert (process.image_channels, *process.image_shape) == (channels, size, size)

    env = ScheduleEnv(
        process=process,
        num_steps=2,
        render_mode="rgb_array",
        render_scale=2,
        reward=AdversarialScorer(real=train, update_every=4, batch_size=4),
    )
    env.reset(seed=0)
    assert env.render().shape == (2 * size, 2 * size, 3)
    _, reward, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
    _, reward, terminated, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
    assert terminated and 0 < reward < 1

    networks = train_feature_networks(train, classifier_epochs=1, encoder_steps=2)
    assert list(networks) == list(NETWORK_SPACES)  # two classes: the whole ensemble
    evaluator = Evaluator(source.load("heldout"), networks=networks)
    images = sample(process, torch.arange(8) % 2, num_steps=2)
    assert images.shape == (8, channels, size, size)
    scores = evaluator.evaluate(images, torch.arange(8) % 2)
    assert all(math.isfinite(scores[f"{space}_fd"]) for space in SPACES)


@pytest.mark.parametrize("process_class", [DiffusionProcess, FlowProcess])
def test_a_clean_image_output_is_turned_into_the_solvers_output_exactly(process_class):
    process = process_class()
    x, clean = torch.randn(5, 64), torch.rand(5, 64) * 2 - 1
    t = torch.tensor([0.02, 0.2, 0.5, 0.8, 0.97], dtype=torch.float64)
    assert torch.allclose(process.denoised(x, t, process.from_clean(x, t, clean)), clean, atol=1e-4)


def test_a_generator_of_your_images_learns_them(tmp_path):
    """A few hundred steps already move samples from noise towards the data: mostly black canvases
    with one coloured digit (a model that could not learn would stay at noise, as ours did before
    it predicted clean images)."""
    from adagen_env.training.train_denoiser import train_denoiser

    data = load_images(coloured_digits(tmp_path, per_class=60), channels=3, levels=256)
    model = train_denoiser("flow", data, steps=300, batch_size=64, target="clean")
    process = FlowProcess(model)
    images = sample(process, torch.arange(60) % 3, num_steps=6)
    real = data.to_float()
    noise_distance = (torch.rand_like(real[:60]).mean(0) - real.mean(0)).abs().mean()
    assert (images.mean(0) - real.mean(0)).abs().mean() < noise_distance / 4
