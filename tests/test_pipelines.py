"""Your diffusers pipeline end to end: from the CLI, with your classes, and back to diffusers.

Tiny random-weight pipelines built from configs and saved with ``save_pretrained`` in a temporary
folder (nothing is downloaded); image folders written here. Every test needs diffusers.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_diffusers_adapter import tiny_dit, tiny_unet, tiny_vae

from adagen_agents import PPO, AdaGenPipeline, PPOConfig, load_policy, read_card
from adagen_agents.cli import main
from adagen_agents.target import make_target
from adagen_env import EpisodeSpec, ScheduleVectorEnv
from adagen_env.data.datasets import ImageDataset
from adagen_env.processes.sampling import sample
from adagen_env.rewards import AdversarialScorer

diffusers = pytest.importorskip("diffusers")

STEPS = 3
# three of the tiny DiT's 1,000 classes have names, as ImageNet's id2label gives them
ID2LABEL = {i: f"class {i}" for i in range(1000)} | {
    1: "goldfish, Carassius auratus",
    277: "red fox, Vulpes vulpes",
    508: "computer keyboard, keypad",
}
CLASSES = ("computer keyboard", "goldfish", "red_fox")  # folder names: sorted, so labels 0, 1, 2


def dit_pipeline(scheduler=None):
    pipe = diffusers.DiTPipeline(
        tiny_dit(diffusers), tiny_vae(diffusers), scheduler or diffusers.DDIMScheduler(), id2label=ID2LABEL
    )
    pipe.register_to_config(id2label=ID2LABEL)  # so that save_pretrained keeps the labels, as the hub's DiT has them
    pipe.set_progress_bar_config(disable=True)
    return pipe


def image_folder(folder: Path, classes: tuple[str, ...] | None, size: int, per_class: int = 12) -> Path:
    """RGB images of ``size``, in one sub-folder per class (``None``: no sub-folders, one class)."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes or ("",)):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = np.clip(rng.normal(60 + 60 * k, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(folder / name / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A class-conditional DiT pipeline (16x16 images) and an unconditional UNet one (8x8), saved; image folders."""
    root = tmp_path_factory.mktemp("pipelines")
    dit_pipeline().save_pretrained(root / "dit")
    diffusers.DDIMPipeline(tiny_unet(diffusers), diffusers.DDIMScheduler()).save_pretrained(root / "unet")
    return {
        "root": root,
        "dit": str(root / "dit"),
        "unet": str(root / "unet"),
        ("dit", 3): str(image_folder(root / "data16", CLASSES, 16)),
        ("dit", 1): str(image_folder(root / "one16" / "red_fox", None, 16)),
        ("unet", 3): str(image_folder(root / "data8", CLASSES, 8)),
        ("unet", 1): str(image_folder(root / "one8" / "blobs", None, 8)),
    }


def class_map_file(root: Path, mapping: dict) -> str:
    path = root / f"map{len(list(root.glob('map*')))}.json"
    path.write_text(json.dumps(mapping))
    return str(path)


# ----------------------------------------------------------------------------- from the CLI


@pytest.fixture(scope="module")
def trained(saved):
    """adagen train on the saved DiT and the 3-class folder (2 updates), then resumed to 3."""
    root = saved["root"]
    common = ["--final-samples", "6", "--threads", "1"]
    main(
        ["train", "--pipeline", saved["dit"], "--data", saved[("dit", 3)], "--steps", str(STEPS), "--updates", "2"]
        + ["--num-envs", "8", "--episodes-per-update", "8", "--minibatches", "2", "--checkpoint-every", "1"]
        + ["--eval-every", "1", "--eval-samples", "6", "--out", str(root / "p.pt"), "--logdir", str(root / "runs")]
        + common
    )
    main(
        [
            "train",
            "--resume",
            str(root / "p.pt"),
            "--updates",
            "3",
            "--eval-every",
            "0",
            "--logdir",
            str(root / "runs2"),
        ]
        + common
    )
    return root / "p-resumed.pt"


def test_a_pipeline_trains_resumes_evaluates_samples_and_plots_from_the_cli(saved, trained, capsys):
    root = saved["root"]
    assert list((root / "runs").glob("events.out.tfevents.*"))  # TensorBoard, with its sample grids
    card = read_card(trained)
    assert card.env is None and card.pipeline.pipeline == "DiTPipeline"
    assert card.pipeline.class_ids == (508, 1, 277) and card.pipeline.class_names == CLASSES
    assert card.pipeline.path == str(Path(saved["dit"]).resolve()) and card.num_steps == STEPS
    assert card.pipeline.guidance_scale == 4.0  # DiTPipeline's own
    assert torch.load(trained, weights_only=True)["updates"] == 3  # the resumed run went on from 2

    policy = ["--pipeline", saved["dit"], "--data", saved[("dit", 3)], "--policy", str(trained)]
    main(["eval", *policy, "--samples", "6"])
    out = capsys.readouterr().out
    shown = "class map (label data class -> model class): 0 computer keyboard -> 508, 1 goldfish -> 1, 2 red_fox -> 277"
    assert shown in out and "learned (ppo)" in out and "hand-designed" in out
    # a label by the pipeline's own name of a mapped class ("red fox" is the folder red_fox)
    main(["sample", *policy, "--label", "red fox", "--n", "4", "--out", str(root / "s.png")])
    assert "--label red fox is class 2" in capsys.readouterr().out and (root / "s.png").exists()
    pytest.importorskip("matplotlib")
    main(["actions", *policy, "--samples", "6", "--out", str(root / "a.png")])
    assert "guidance: spread over samples" in capsys.readouterr().out and (root / "a.png").exists()


def test_a_pipelines_policy_elsewhere_is_one_clear_line(saved, trained):
    def fails(argv: list[str], message: str) -> None:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert message in exit_info.value.code and "\n" not in exit_info.value.code, exit_info.value.code

    data, out = saved[("dit", 3)], str(saved["root"] / "x.png")
    fails(["sample", "--policy", str(trained), "--label", "0", "--out", out], "pass --pipeline")
    other = class_map_file(saved["root"], {"computer keyboard": 5, "goldfish": 1, "red_fox": 277})
    fails(
        ["sample", "--pipeline", saved["dit"], "--data", data, "--class-map", other, "--policy", str(trained)]
        + ["--label", "0", "--out", out],
        "with class_ids [508, 1, 277], but this process has [5, 1, 277]",
    )
    fails(["sample", "--pipeline", saved["dit"], "--label", "0", "--out", out], "--pipeline needs --data")
    fails(["sample", "--data", data, "--class-map", other, "--label", "0", "--out", out], "goes with --pipeline")
    fails(
        ["sample", "--pipeline", str(saved["root"] / "nowhere"), "--data", data, "--label", "0", "--out", out],
        "not a diffusers pipeline",
    )
    fails(
        ["train", "--pipeline", saved["dit"], "--data", data, "--reward", "trajectory", "--out", out + ".pt"],
        "--reward trajectory needs a 64-step solution",
    )
    fails(  # the unconditional UNet makes 8x8 images, these are 16x16
        ["sample", "--pipeline", saved["unet"], "--data", data, "--label", "0", "--out", out],
        "makes 3x8x8 images, but",
    )


# ----------------------------------------------------------------------------- labels done right


@pytest.mark.parametrize("model", ["dit", "unet"])
@pytest.mark.parametrize("classes", [1, 3])
@pytest.mark.parametrize("mapped", [False, True])
def test_labels_of_every_model_data_and_class_map(saved, model, classes, mapped):
    """The env draws only the data's classes (one, for a model without classes), the model gets their
    class ids, and the reward knows exactly those classes; a class map of a model without classes is refused."""
    explicit = {"red_fox": "goldfish"} if classes == 1 else {"computer keyboard": 3, "goldfish": 2, "red_fox": 277}
    class_map = class_map_file(saved["root"], explicit) if mapped else None
    make = lambda: make_target(  # noqa: E731
        device="cpu", data=saved[(model, classes)], pipeline=saved[model], class_map=class_map, num_steps=2
    )
    if model == "unet" and mapped:
        with pytest.raises(ValueError, match="takes no class, so there is nothing to map"):
            make()
        return
    target = make()
    expected = {
        ("dit", 1, False): (277,),
        ("dit", 1, True): (1,),
        ("dit", 3, False): (508, 1, 277),
        ("dit", 3, True): (3, 2, 277),
    }.get((model, classes, mapped))
    assert target.process.class_ids == expected
    assert target.pipeline.class_names == (("all",) if model == "unet" else CLASSES[3 - classes :])
    reward = target.reward("adversarial")
    assert reward.num_classes == target.process.num_classes == (1 if model == "unet" else classes)
    seen = []
    target.process.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs.get("class_labels")), with_kwargs=True
    )
    env = ScheduleVectorEnv(16, target.process, spec=EpisodeSpec(num_steps=2, reward=reward))
    env.reset(seed=0)
    for _ in range(2):
        _, rewards, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
    assert np.isfinite(rewards).all()
    assert set(env.core.labels.tolist()) == set(range(target.process.num_classes))
    if expected is None:
        assert seen == [None, None]  # the UNet is called without classes
    else:  # the DiT gets the mapped ids, and its null class for the unguided half
        assert {i for labels in seen for i in labels.tolist()} == {*expected, 1000}


def test_num_classes_is_honoured_or_refused_and_class_ids_give_the_pipelines_classes(saved):
    from adagen_env.processes import DiffusersProcess

    pipe = dit_pipeline()
    # num_classes=4 on a 1,000-class DiT: the env draws classes 0..3 only
    env = ScheduleVectorEnv(64, DiffusersProcess.from_pipeline(pipe, 2, num_classes=4), spec=EpisodeSpec(reward=None))
    env.reset(seed=0)
    assert env.core.labels.max() == 3 and env.single_observation_space["label"].n == 4
    with pytest.raises(ValueError, match="num_classes=1001, but the model has 1000 classes"):
        DiffusersProcess.from_pipeline(pipe, 2, num_classes=1001)
    with pytest.raises(ValueError, match=r"class_ids \[1000\] are not classes of the model"):
        DiffusersProcess.from_pipeline(pipe, 2, class_ids=[3, 1000])
    unconditional = diffusers.DDIMPipeline(tiny_unet(diffusers), diffusers.DDIMScheduler())
    for wrong in ({"num_classes": 4}, {"class_ids": [3]}):
        with pytest.raises(ValueError, match="is unconditional: it makes one class"):
            DiffusersProcess.from_pipeline(unconditional, 2, **wrong)
    # labels 0, 1 mapped to the model's 207 and 1: the pipeline's images of those classes
    process = DiffusersProcess.from_pipeline(pipe, STEPS, class_ids=[207, 1])
    images = sample(process, torch.tensor([1, 0]), num_steps=STEPS, seed=4)
    expected = pipe([1, 207], 4.0, torch.Generator().manual_seed(4), STEPS, output_type="pt").images
    torch.testing.assert_close(images, expected, atol=2e-5, rtol=0)


def test_a_reward_of_other_classes_is_refused_before_the_first_episode():
    """The issue's DiT with a 4-class scorer: one line when the env is made, not labels 850, 636 at reset."""
    real = ImageDataset(np.zeros((8, 16, 16, 3), np.uint8), np.arange(8) % 4, 256, 4)
    with pytest.raises(ValueError, match="real images hold 4 class\\(es\\), but this process draws 1000"):
        ScheduleVectorEnv(2, _process(dit_pipeline(), None), spec=EpisodeSpec(reward=AdversarialScorer(real=real)))
    # a model without classes and a class-conditional scorer: refused; the images as one class: a class-agnostic one
    unconditional = _process(diffusers.DDIMPipeline(tiny_unet(diffusers), diffusers.DDIMScheduler()), None)
    real8 = ImageDataset(np.zeros((8, 8, 8, 3), np.uint8), np.arange(8) % 4, 256, 4)
    with pytest.raises(ValueError, match="draws 1; .* as one class \\(ImageDataset.as_one_class\\(\\)\\)"):
        ScheduleVectorEnv(2, unconditional, spec=EpisodeSpec(reward=AdversarialScorer(real=real8)))
    one = real8.as_one_class()
    assert one.num_classes == 1 and one.class_names == ("all",) and len(one) == 8
    ScheduleVectorEnv(2, unconditional, spec=EpisodeSpec(reward=AdversarialScorer(real=one)))


def _process(pipe, class_ids, **kwargs):
    from adagen_env.processes import DiffusersProcess

    return DiffusersProcess.from_pipeline(pipe, STEPS, class_ids=class_ids, **kwargs)


# ----------------------------------------------------------------------------- back to diffusers


def zero_policy(path: Path, process) -> Path:
    """An untrained PPO policy: its mean action is 0 everywhere, the pipeline's own schedule."""
    env = ScheduleVectorEnv(2, process, spec=EpisodeSpec(reward=None))
    return PPO(env, PPOConfig(episodes_per_update=2, epochs=1, minibatches=1)).save(path)


def test_adagen_pipeline_with_a_zero_policy_samples_as_the_pipeline(tmp_path):
    from diffusers.pipelines.pipeline_utils import ImagePipelineOutput

    pipe = dit_pipeline()
    path = zero_policy(tmp_path / "zero.pt", _process(pipe, [207, 1, 999]))
    adagen = AdaGenPipeline(pipe, path)
    output = adagen(
        [1, 207, 999], num_inference_steps=STEPS, generator=torch.Generator().manual_seed(5), output_type="pt"
    )
    assert isinstance(output, ImagePipelineOutput)
    static = sample(_process(pipe, [207, 1, 999]), torch.tensor([1, 0, 2]), num_steps=STEPS, seed=5)
    torch.testing.assert_close(output.images, static, atol=0, rtol=0)  # the adapter's static schedule, exactly
    expected = pipe([1, 207, 999], 4.0, torch.Generator().manual_seed(5), STEPS, output_type="pt").images
    torch.testing.assert_close(output.images, expected, atol=2e-5, rtol=0)  # and the pipeline's own images
    # names: the pipeline's labels; pil output, one image per label
    named = adagen(["Carassius auratus", "class 207"], generator=torch.Generator().manual_seed(5), output_type="np")
    np.testing.assert_allclose(named.images, expected[:2].permute(0, 2, 3, 1).numpy(), atol=2e-5)
    assert len(adagen(1, output_type="pil").images) == 1
    with pytest.raises(ValueError, match="class 3 is not one the policy was trained for; its classes: 207, 1, 999"):
        adagen([3])


def test_a_policy_records_its_pipeline_and_refuses_another(tmp_path):
    pipe = dit_pipeline()
    path = zero_policy(tmp_path / "p.pt", _process(pipe, [1, 277]))
    card = read_card(path)
    assert card.pipeline.class_ids == (1, 277) and card.pipeline.guidance_scale == 4.0
    assert card.pipeline.config_sha256 == _process(dit_pipeline(), [1, 277]).config_sha256  # a fresh copy is the same
    digits = ScheduleVectorEnv(2, "maskgit-digits", reward=None)
    PPO(digits, PPOConfig(episodes_per_update=2, epochs=1, minibatches=1)).save(tmp_path / "d.pt")
    assert "pipeline" not in torch.load(tmp_path / "d.pt", weights_only=True)["card"]  # other cards: as schema 1 was

    other_scheduler = dit_pipeline(diffusers.DDIMScheduler(clip_sample=False))
    refusals = [
        (_process(other_scheduler, [1, 277]), "model, scheduler or VAE config differs"),
        (_process(pipe, [277, 1]), "with class_ids \\[1, 277\\], but this process has \\[277, 1\\]"),
        (_process(pipe, [1, 277], guidance_scale=2.0), "with guidance_scale 4.0, but this process has 2.0"),
    ]
    for process, message in refusals:
        with pytest.raises(ValueError, match=message):
            PPO.load(path, ScheduleVectorEnv(2, process, spec=EpisodeSpec(reward=None)))
        with pytest.raises(ValueError, match=message):
            load_policy(path, process, None)
    with pytest.raises(ValueError, match="model, scheduler or VAE config differs"):
        AdaGenPipeline(other_scheduler, path)
    with pytest.raises(ValueError, match="was trained on the diffusers pipeline"):
        load_policy(path, digits.core.process, "maskgit-digits")
    with pytest.raises(ValueError, match="was not trained on a diffusers pipeline"):
        AdaGenPipeline(pipe, tmp_path / "d.pt")
    # the loader samples without a reward: the pipeline's own process
    act, _ = load_policy(path, _process(pipe, [1, 277]), None)
    assert act is not None
