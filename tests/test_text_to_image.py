"""Text-to-image: a Stable Diffusion pipeline (UNet2DConditionModel) as a process whose labels are
prompts, captioned image folders, the text-conditional reward, the CLI and AdaGenPipeline.

Tiny random pipelines built from configs (nothing is downloaded), as the CPU example builds them.
"""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_diffusers_adapter import tiny_unet
from text_pipelines import captioned_folder, tiny_sd_pipeline, tiny_text_unet

from adagen_agents import PPO, AdaGenPipeline, PPOConfig, read_card
from adagen_agents.cli import main
from adagen_agents.target import make_target
from adagen_env import EpisodeSpec, ScheduleVectorEnv
from adagen_env.data.datasets import load_images, read_captions, read_class_names, split_captions

diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")

STEPS = 3
PROMPTS = ["a red fox", "a blue square", "two cats"]


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return tiny_sd_pipeline(tmp_path_factory.mktemp("sd"))


@pytest.fixture(scope="module")
def saved(tmp_path_factory, pipe):
    """The pipeline saved with save_pretrained, a captioned folder (12 captions, 3 held out) and a class folder."""
    root = tmp_path_factory.mktemp("t2i")
    pipe.save_pretrained(root / "sd")
    data = captioned_folder(root / "captioned", per_caption=2)
    return {"root": root, "sd": str(root / "sd"), "data": str(data)}


def env_images(pipe, prompts, seed, guidance_scale, actions=None, **kwargs):
    env = gym.make_vec(
        "AdaGen/Diffusers-v0",
        num_envs=len(prompts),
        pipeline=pipe,
        num_steps=STEPS,
        guidance_scale=guidance_scale,
        prompts=prompts,
        **kwargs,
    )
    obs, _ = env.reset(seed=seed, options={"labels": list(range(len(prompts)))})
    for k in range(STEPS):
        step = np.zeros(env.action_space.shape, np.float32) if actions is None else actions[k]
        obs, _, terminated, _, _ = env.step(step)
        assert env.observation_space.contains(obs)
    assert terminated.all()
    return env.unwrapped.core.images().permute(0, 2, 3, 1).numpy()


# ----------------------------------------------------------------------------- the process


@pytest.mark.parametrize(
    "scheduler, guidance_scale, micro_batch",
    [("DDIMScheduler", 7.5, None), ("DPMSolverMultistepScheduler", 7.5, 2), ("DDIMScheduler", 1.0, 1)],
)
def test_zero_action_reproduces_the_stable_diffusion_pipeline(pipe, scheduler, guidance_scale, micro_batch):
    pipe.scheduler = getattr(diffusers, scheduler).from_config(pipe.scheduler.config)
    expected = pipe(
        PROMPTS, num_inference_steps=STEPS, guidance_scale=guidance_scale, generator=torch.Generator().manual_seed(5)
    )
    expected = np.stack([np.asarray(image, np.float32) / 255 for image in expected.images])
    images = env_images(pipe, PROMPTS, 5, guidance_scale, micro_batch=micro_batch)
    assert expected.std() > 0.05
    np.testing.assert_allclose(images, expected, atol=1 / 255 + 1e-4)  # the pipeline's PIL output is 8-bit
    exact = pipe(
        PROMPTS,
        num_inference_steps=STEPS,
        guidance_scale=guidance_scale,
        generator=torch.Generator().manual_seed(5),
        output_type="np",
    ).images
    np.testing.assert_allclose(images, exact, atol=2e-5)
    # the comparison can fail: other prompts give other images
    assert np.abs(env_images(pipe, PROMPTS[::-1], 5, guidance_scale) - exact).max() > 1e-3


def test_the_policy_sees_each_prompts_embedding_not_its_number(pipe):
    process = _process(pipe, PROMPTS)
    env = ScheduleVectorEnv(3, process, spec=EpisodeSpec(reward=None))
    obs = env.reset(seed=0, options={"labels": [0, 1, 2]})[0]
    assert "label" not in obs and "label" not in env.single_observation_space.spaces
    dim = process.prompts.dim
    embedding = obs["features"][:, -dim:]
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)
    assert np.abs(embedding[0] - embedding[1]).max() > 1e-3  # two prompts, two embeddings
    # other prompts, even one, give the same observation space: a policy trained on some acts on any
    other = ScheduleVectorEnv(1, _process(pipe, ["a purple circle"]), spec=EpisodeSpec(reward=None))
    assert other.single_observation_space == env.single_observation_space


def test_text_models_are_refused_without_prompts_or_with_what_they_do_not_take(pipe):
    from adagen_env.processes import DiffusersProcess

    with pytest.raises(ValueError, match="needs prompts"):
        DiffusersProcess.from_pipeline(pipe, STEPS)
    with pytest.raises(ValueError, match="labels are its prompts"):
        DiffusersProcess.from_pipeline(pipe, STEPS, class_ids=[1, 2], prompts=PROMPTS)
    with pytest.raises(ValueError, match="non-empty strings"):
        DiffusersProcess.from_pipeline(pipe, STEPS, prompts=["a fox", " "])
    with pytest.raises(ValueError, match="micro_batch must be at least 1"):
        DiffusersProcess.from_pipeline(pipe, STEPS, prompts=PROMPTS, micro_batch=0)
    sdxl_like = tiny_text_unet(addition_embed_type="text")
    with pytest.raises(ValueError, match="addition_embed_type='text'"):
        DiffusersProcess(sdxl_like, pipe.scheduler, STEPS, pipe.vae, 7.5, prompts=_process(pipe, PROMPTS).prompts)
    ddim = diffusers.DDIMPipeline(tiny_unet(diffusers), diffusers.DDIMScheduler())
    with pytest.raises(ValueError, match="takes none"):
        DiffusersProcess.from_pipeline(ddim, STEPS, prompts=PROMPTS)


def test_another_text_encoder_is_another_pipeline(pipe, tmp_path):
    ours = _process(pipe, PROMPTS).config_sha256
    other = tiny_sd_pipeline(tmp_path)
    other.text_encoder.config.num_hidden_layers = 3  # what a different encoder's config would say
    assert _process(other, PROMPTS).config_sha256 != ours


def _process(pipe, prompts, **kwargs):
    from adagen_env.processes import DiffusersProcess

    return DiffusersProcess.from_pipeline(pipe, STEPS, prompts=prompts, **kwargs)


# ----------------------------------------------------------------------------- captioned folders


def test_a_captioned_folder_is_split_by_caption(saved):
    captions = [text for _, text in read_captions(saved["data"])]
    assert len(captions) == 24 and len(set(captions)) == 12
    train, heldout = split_captions(saved["data"], "train"), split_captions(saved["data"], "heldout")
    assert len(heldout) == 2 and len(train) == 10 and not set(train) & set(heldout)  # 20 % of 12, rounded
    data = load_images(saved["data"], "heldout")
    assert data.class_names == tuple(heldout) and len(data) == 4 and data.channels == 3
    assert read_class_names(saved["data"]) == tuple(dict.fromkeys(captions))


@pytest.mark.parametrize(
    "line, error",
    [
        ("not json", "line 1: not JSON"),
        ('{"file_name": "missing.png", "text": "a fox"}', "no image file"),
        ('{"file_name": "x.png", "text": "  "}', "non-empty string"),
        ('{"text": "a fox"}', "needs"),
    ],
)
def test_bad_captions_are_one_line_naming_the_line(tmp_path, line, error):
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "x.png")
    (tmp_path / "metadata.jsonl").write_text(line + "\n")
    with pytest.raises(ValueError, match=error):
        load_images(tmp_path)


# ----------------------------------------------------------------------------- the CLI and the reward


def test_text_to_image_from_the_cli(saved, tmp_path, capsys):
    given = ["--pipeline", saved["sd"], "--data", saved["data"]]
    policy = tmp_path / "policy.pt"
    main(
        ["train", *given, "--steps", "3", "--updates", "2", "--num-envs", "8", "--final-samples", "16"]
        + ["--out", str(policy), "--logdir", str(tmp_path / "logs")]
    )
    out = capsys.readouterr().out
    assert "10 to train on, 2 held out" in out and "comparing on 16 samples" in out
    card = read_card(policy)
    assert card.pipeline.class_ids is None and card.pipeline.class_names == tuple(
        split_captions(saved["data"], "train")
    )
    main(["eval", *given, "--policy", str(policy), "--samples", "16", "--json", str(tmp_path / "eval.json")])
    report = json.loads((tmp_path / "eval.json").read_text())
    assert "learned (ppo)" in json.dumps(report)
    main(
        ["sample", *given, "--policy", str(policy), "--prompt", "a purple circle", "--n", "4"]
        + ["--out", str(tmp_path / "s.png")]
    )
    assert (tmp_path / "s.png").exists()
    main(["actions", *given, "--policy", str(policy), "--out", str(tmp_path / "a.png")])
    assert (tmp_path / "a.png").exists()


def test_the_reward_is_text_conditional_on_the_training_captions(saved):
    target = make_target(pipeline=saved["sd"], data=saved["data"], num_steps=STEPS)
    scorer = target.reward("adversarial")
    assert torch.equal(scorer.class_embeddings, target.process.prompts.summary)
    assert target.process.prompts.texts == tuple(split_captions(saved["data"], "train"))
    evaluated = target.evaluation()
    assert evaluated.process.prompts.texts == tuple(split_captions(saved["data"], "heldout"))
    assert evaluated.evaluator is target.evaluator


@pytest.mark.parametrize(
    "flags, error",
    [
        (["sample", "--label", "0"], "give --prompt TEXT"),
        (["train", "--class-map", "map.json"], "labels are captions"),
    ],
)
def test_text_pipelines_refuse_classes_in_one_line(saved, flags, error):
    (saved["root"] / "map.json").write_text("{}")
    command = [*flags[:1], "--pipeline", saved["sd"], "--data", saved["data"], *flags[1:]]
    command = [str(saved["root"] / "map.json") if c == "map.json" else c for c in command]
    with pytest.raises(SystemExit) as exit_info:
        main(command)
    assert error in str(exit_info.value.code)


def test_a_text_pipeline_needs_captions_and_a_prompt_needs_a_text_pipeline(saved, tmp_path):
    from PIL import Image

    (tmp_path / "plain" / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "plain" / "a" / "x.png")
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--pipeline", saved["sd"], "--data", str(tmp_path / "plain"), "--prompt", "a fox"])
    assert "metadata.jsonl" in str(exit_info.value.code)
    few = captioned_folder(tmp_path / "few", per_caption=1)
    lines = (few / "metadata.jsonl").read_text().splitlines()[:2]  # two captions: none would be held out
    (few / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--pipeline", saved["sd"], "--data", str(few), "--updates", "1"])
    assert "2 distinct caption(s)" in str(exit_info.value.code) and "at least 3" in str(exit_info.value.code)
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--env", "AdaGen/Flow-Digits-v0", "--prompt", "a fox"])
    assert "--prompt is for a text-to-image pipeline" in str(exit_info.value.code)


# ----------------------------------------------------------------------------- back to diffusers


def test_adagen_pipeline_samples_prompts_as_the_pipeline_with_a_zero_policy(pipe, tmp_path):
    from diffusers.pipelines.pipeline_utils import ImagePipelineOutput

    pipe.scheduler = diffusers.DDIMScheduler.from_config(pipe.scheduler.config)
    env = ScheduleVectorEnv(2, _process(pipe, PROMPTS[:2]), spec=EpisodeSpec(reward=None))
    path = PPO(env, PPOConfig(episodes_per_update=2, epochs=1, minibatches=1)).save(tmp_path / "zero.pt")
    adagen = AdaGenPipeline(pipe, path)
    prompts = ["a purple circle", "three dogs"]  # prompts the policy never saw
    output = adagen(prompt=prompts, generator=torch.Generator().manual_seed(7), output_type="np")
    assert isinstance(output, ImagePipelineOutput)
    expected = pipe(prompts, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(7), output_type="np")
    np.testing.assert_allclose(output.images, expected.images, atol=2e-5)
    with pytest.raises(ValueError, match="give prompt="):
        adagen([1, 2])
