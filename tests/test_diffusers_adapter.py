"""The diffusers adapter: at the zero action it reproduces diffusers' own pipelines and schedulers.

Tiny models built from configs with random weights (nothing is downloaded). Every test but the
lazy-import one needs diffusers and is skipped without it.
"""

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import adagen_env  # noqa: F401  (registers AdaGen/Diffusers-v0)
from adagen_agents.examples.text_to_image import tiny_vae as example_vae

ENV_ID = "AdaGen/Diffusers-v0"
STEPS = 10


@pytest.fixture(scope="module")
def diffusers():
    return pytest.importorskip("diffusers")


def tiny_dit(diffusers, model_class="DiTTransformer2DModel"):
    torch.manual_seed(0)
    # learned sigma (out_channels = 2 x in_channels) and 1000 classes + null, as DiT-XL-2-256, in miniature
    extra = {"norm_type": "ada_norm_zero"} if model_class == "Transformer2DModel" else {}
    return getattr(diffusers, model_class)(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=8,
        num_layers=2,
        sample_size=8,
        patch_size=2,
        num_embeds_ada_norm=1000,
        **extra,
    ).eval()


def tiny_vae(diffusers):
    return example_vae()  # two blocks, 4 latent channels: 16x16 RGB images from 8x8 latents


def tiny_unet(diffusers, **kwargs):
    torch.manual_seed(2)
    return diffusers.UNet2DModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
        **kwargs,
    ).eval()


def make_scheduler(diffusers, name, **config):
    return getattr(diffusers, name)(**config)


def run_env(pipeline, labels, seed, actions=None, **kwargs):
    """Images (B, H, W, C) and the final timesteps of the vector env after STEPS steps of ``actions``."""
    env = gym.make_vec(ENV_ID, num_envs=len(labels), pipeline=pipeline, num_steps=STEPS, **kwargs)
    env.reset(seed=seed, options={"labels": labels})
    times = []
    for k in range(STEPS):
        step_actions = np.zeros(env.action_space.shape, np.float32) if actions is None else actions[k]
        obs, _, terminated, _, _ = env.step(step_actions)
        assert env.observation_space.contains(obs)
        times.append(env.unwrapped.core.state.t.clone())
    assert terminated.all()
    return env.unwrapped.core.images().permute(0, 2, 3, 1).numpy(), torch.stack(times)


# ----------------------------------------------------------------------------- the key promise: pipelines


@pytest.mark.parametrize(
    "model_class, scheduler, guidance_scale",
    [
        ("DiTTransformer2DModel", "DDIMScheduler", 4.0),
        ("DiTTransformer2DModel", "DPMSolverMultistepScheduler", 4.0),
        ("DiTTransformer2DModel", "DPMSolverMultistepScheduler", 1.0),
        ("Transformer2DModel", "DDIMScheduler", 4.0),  # the general class a DiT can also be built as
    ],
)
def test_dit_zero_action_reproduces_dit_pipeline(diffusers, model_class, scheduler, guidance_scale):
    model = tiny_dit(diffusers, model_class)
    pipe = diffusers.DiTPipeline(model, tiny_vae(diffusers), make_scheduler(diffusers, scheduler))
    pipe.set_progress_bar_config(disable=True)
    labels = [1, 207, 999]
    generator = torch.Generator().manual_seed(5)
    expected = pipe(labels, guidance_scale, generator, STEPS, output_type="np").images
    images, _ = run_env(pipe, labels, seed=5, guidance_scale=guidance_scale)
    assert expected.std() > 0.05  # real images, not a clamped constant
    np.testing.assert_allclose(images, expected, atol=2e-5)
    # and the comparison can fail: another guidance scale gives other images
    other = pipe(labels, guidance_scale + 2.0, torch.Generator().manual_seed(5), STEPS, output_type="np").images
    assert np.abs(other - expected).max() > 1e-3


@pytest.mark.parametrize(
    "scheduler, config",
    [
        ("DDIMScheduler", {}),  # clip_sample on
        (
            "DDIMScheduler",
            {"clip_sample": False, "prediction_type": "v_prediction", "steps_offset": 1, "set_alpha_to_one": False},
        ),
        ("DPMSolverMultistepScheduler", {}),
        ("DPMSolverMultistepScheduler", {"solver_order": 1, "prediction_type": "sample"}),
        (
            "DPMSolverMultistepScheduler",
            {"final_sigmas_type": "sigma_min", "lower_order_final": False, "beta_schedule": "squaredcos_cap_v2"},
        ),
        ("FlowMatchEulerDiscreteScheduler", {"shift": 3.0}),
    ],
)
def test_unconditional_unet_zero_action_reproduces_ddpm_pipeline_loop(diffusers, scheduler, config):
    """DDPMPipeline's loop (noise, then ``unet(x, t)`` and ``scheduler.step``) runs any scheduler."""
    pipe = diffusers.DDPMPipeline(tiny_unet(diffusers), make_scheduler(diffusers, scheduler, **config))
    pipe.set_progress_bar_config(disable=True)
    expected = pipe(
        batch_size=3, generator=torch.Generator().manual_seed(3), num_inference_steps=STEPS, output_type="np"
    ).images
    images, _ = run_env(pipe, [0, 0, 0], seed=3)
    assert expected.std() > 0.05
    np.testing.assert_allclose(images, expected, atol=2e-5)


def test_unconditional_unet_zero_action_reproduces_ddim_pipeline(diffusers):
    pipe = diffusers.DDIMPipeline(tiny_unet(diffusers), diffusers.DDIMScheduler())
    pipe.set_progress_bar_config(disable=True)
    expected = pipe(
        batch_size=2, generator=torch.Generator().manual_seed(4), num_inference_steps=STEPS, output_type="np"
    ).images
    images, _ = run_env(pipe, [0, 0], seed=4)
    np.testing.assert_allclose(images, expected, atol=2e-5)


@pytest.mark.parametrize(
    "scheduler", ["DDIMScheduler", "DPMSolverMultistepScheduler", "FlowMatchEulerDiscreteScheduler"]
)
def test_class_conditional_unet_matches_a_guided_scheduler_loop(diffusers, scheduler):
    """No diffusers pipeline guides a UNet2DModel; the reference is DiTPipeline's loop with the real scheduler
    (the model gets the scheduler's timesteps: floats, sigma x 1000, for flow matching)."""
    unet = tiny_unet(diffusers, num_class_embeds=11)  # classes 0..9 and the null class 10
    sched = make_scheduler(diffusers, scheduler, **({"clip_sample": False} if scheduler == "DDIMScheduler" else {}))
    labels, scale = torch.tensor([2, 7, 7]), 3.0
    x = torch.randn((3, 3, 8, 8), generator=torch.Generator().manual_seed(6))
    sched.set_timesteps(STEPS)
    with torch.no_grad():
        for t in sched.timesteps:
            out = unet(torch.cat([x, x]), t, class_labels=torch.cat([labels, torch.full_like(labels, 10)])).sample
            cond, uncond = out.chunk(2)
            x = sched.step(uncond + scale * (cond - uncond), t, x).prev_sample
    expected = (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()

    pipe = diffusers.DDPMPipeline(unet, make_scheduler(diffusers, scheduler, **sched.config))
    images, _ = run_env(pipe, labels.tolist(), seed=6, guidance_scale=scale, num_classes=10, null_class=10)
    np.testing.assert_allclose(images, expected, atol=2e-5)


# ----------------------------------------------------------------------------- the solvers, step by step


@pytest.mark.parametrize(
    "scheduler, config",
    [
        ("DDIMScheduler", {}),
        ("DDIMScheduler", {"clip_sample": False, "prediction_type": "sample"}),
        ("DPMSolverMultistepScheduler", {}),
        ("DPMSolverMultistepScheduler", {"prediction_type": "v_prediction", "final_sigmas_type": "sigma_min"}),
        ("FlowMatchEulerDiscreteScheduler", {}),
        ("FlowMatchEulerDiscreteScheduler", {"shift": 3.0}),
    ],
)
@pytest.mark.parametrize("num_steps", [3, 16])
def test_zero_action_step_equals_the_schedulers_step(diffusers, scheduler, config, num_steps):
    """Each step of the process, fed the same model output, gives the scheduler's ``step`` and its next timestep."""
    from adagen_env.processes import DiffusersProcess
    from adagen_env.processes.sampling import hand_designed_schedule
    from adagen_env.processes.schedules import by_name

    unet, sched = tiny_unet(diffusers), make_scheduler(diffusers, scheduler, **config)
    process = DiffusersProcess(unet, sched, num_steps)
    state = process.reset(torch.zeros(2, dtype=torch.long), torch.Generator().manual_seed(0))
    sched.set_timesteps(num_steps)
    schedule = hand_designed_schedule(process, num_steps, 2)
    flow = scheduler == "FlowMatchEulerDiscreteScheduler"
    for k, t in enumerate(sched.timesteps):
        if flow:  # times are sigmas, the model's timestep sigma x 1000
            torch.testing.assert_close(state.t, sched.sigmas[k].double().expand(2), atol=1e-6, rtol=0)
        else:
            assert state.t.tolist() == [int(t)] * 2
        expected = sched.step(state.cond, t, state.x).prev_sample
        state = process.step(state, by_name(process.parameters, schedule[k]), num_steps, None)
        torch.testing.assert_close(state.x, expected, atol=1e-5, rtol=1e-5)
    assert state.t.tolist() == ([0.0, 0.0] if flow else [-1, -1])


# ----------------------------------------------------------------------------- per-sample actions


def test_actions_are_per_sample(diffusers):
    """A sample's actions change its own timesteps and image only; the 2M memory is each sample's own."""
    pipe = diffusers.DiTPipeline(tiny_dit(diffusers), tiny_vae(diffusers), diffusers.DPMSolverMultistepScheduler())
    labels = [3, 3, 3]
    base, base_times = run_env(pipe, labels, seed=8)
    actions = np.zeros((STEPS, 3, 2), np.float32)
    actions[:, 0] = [0.7, -0.5]  # sample 0: larger steps early, less guidance
    actions[:, 2, 1] = 0.8  # sample 2: its own guidance only
    images, times = run_env(pipe, labels, seed=8, actions=actions)
    assert not torch.equal(times[:, 0], base_times[:, 0])  # sample 0 has its own timesteps
    assert torch.equal(times[:, 1:], base_times[:, 1:])
    np.testing.assert_allclose(images[1], base[1], atol=1e-6)
    assert np.abs(images[0] - base[0]).max() > 1e-3 and np.abs(images[2] - base[2]).max() > 1e-3
    # every sample taking sample 0's actions: sample 0's image is the same as beside the others
    every = np.repeat(actions[:, :1], 3, axis=1)
    alone, _ = run_env(pipe, labels, seed=8, actions=every)
    np.testing.assert_allclose(images[0], alone[0], atol=1e-5)


def test_single_env_and_observations(diffusers):
    pipe = diffusers.DDIMPipeline(tiny_unet(diffusers), diffusers.DDIMScheduler())
    env = gym.make(ENV_ID, pipeline=pipe, num_steps=4)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs) and obs["time"][0] == pytest.approx(751 / 1000)
    assert env.action_space.shape == (1,)  # an unconditional model has no guidance to choose
    for _ in range(4):
        obs, reward, terminated, _, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
    assert terminated and reward == 0.0 and obs["time"][0] == 0.0
    assert env.unwrapped.core.images().shape == (1, 3, 8, 8)


# ----------------------------------------------------------------------------- clear errors


def test_unsupported_models_and_schedulers_are_one_clear_error(diffusers):
    from adagen_env.processes import DiffusersProcess

    unet = tiny_unet(diffusers)
    with pytest.raises(ValueError, match=r"model must be one of \['DiTTransformer2DModel'"):
        DiffusersProcess(torch.nn.Conv2d(3, 3, 1), diffusers.DDIMScheduler(), STEPS)
    with pytest.raises(
        ValueError,
        match=r"scheduler must be one of \['DDIMScheduler', 'DPMSolverMultistepScheduler', "
        r"'FlowMatchEulerDiscreteScheduler'\]",
    ):
        DiffusersProcess(unet, diffusers.EulerDiscreteScheduler(), STEPS)
    with pytest.raises(ValueError, match="supported is dpmsolver\\+\\+ of order 1 or 2.*use_karras_sigmas=True"):
        DiffusersProcess(unet, diffusers.DPMSolverMultistepScheduler(use_karras_sigmas=True), STEPS)
    with pytest.raises(ValueError, match="deterministic Euler step on a fixed shift; not use_dynamic_shifting=True"):
        DiffusersProcess(unet, diffusers.FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True), STEPS)
    with pytest.raises(ValueError, match="timestep_spacing='leading'"):
        DiffusersProcess(unet, diffusers.DDIMScheduler(timestep_spacing="linspace"), STEPS)
    with pytest.raises(ValueError, match="prediction_type in"):
        DiffusersProcess(unet, diffusers.DDIMScheduler(thresholding=True), STEPS)
    with pytest.raises(ValueError, match="follows the pipeline's 10-step schedule"):
        gym.make_vec(
            ENV_ID, num_envs=2, pipeline=diffusers.DDIMPipeline(unet, diffusers.DDIMScheduler()), num_steps=STEPS
        ).unwrapped.core.process.check_num_steps(5)


def test_class_conditional_models_without_classes_are_one_clear_error(diffusers):
    from adagen_env.processes import DiffusersProcess

    timestep_classes = tiny_unet(diffusers, class_embed_type="timestep")
    with pytest.raises(ValueError, match="needs num_classes="):
        DiffusersProcess(timestep_classes, diffusers.DDIMScheduler(), STEPS)
    assert DiffusersProcess(timestep_classes, diffusers.DDIMScheduler(), STEPS, num_classes=5).num_classes == 5
    with pytest.raises(ValueError, match="guidance_scale > 1 needs the null class"):
        DiffusersProcess(
            tiny_unet(diffusers, num_class_embeds=11), diffusers.DDIMScheduler(), STEPS, guidance_scale=2.0
        )
    with pytest.raises(ValueError, match="class_embed_type='identity' is not supported"):
        DiffusersProcess(tiny_unet(diffusers, class_embed_type="identity"), diffusers.DDIMScheduler(), STEPS)


@pytest.mark.slow  # starts a Python process
def test_the_package_imports_without_diffusers():
    """diffusers is optional: importing adagen_env never imports it, and the env asks for it by name."""
    code = (
        "import sys; sys.modules['diffusers'] = None\n"
        "import gymnasium as gym, torch, adagen_env\n"
        "from adagen_env.processes import DiffusersProcess\n"
        "assert 'AdaGen/Diffusers-v0' in gym.registry\n"
        "try:\n"
        "    DiffusersProcess(torch.nn.Conv2d(3, 3, 1), None, 10)\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install 'adagen[diffusers]'" in result.stdout


def test_a_pipeline_whose_image_size_differs_from_the_data_is_one_clear_error(diffusers):
    from adagen_env.data.datasets import ImageDataset
    from adagen_env.rewards import AdversarialScorer

    pipe = diffusers.DDIMPipeline(tiny_unet(diffusers), diffusers.DDIMScheduler())  # 3x8x8 images
    wrong = ImageDataset(np.zeros((4, 16, 16, 3), np.uint8), np.zeros(4, np.int64), 256, 1)
    with pytest.raises(ValueError, match="real images are 3x16x16 .* makes 3x8x8"):
        gym.make_vec(ENV_ID, num_envs=2, pipeline=pipe, num_steps=STEPS, reward=AdversarialScorer(real=wrong))
    right = ImageDataset(np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4, np.int64), 256, 1)
    env = gym.make_vec(ENV_ID, num_envs=2, pipeline=pipe, num_steps=2, reward=AdversarialScorer(real=right))
    env.reset(seed=0)
    for _ in range(2):
        _, reward, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
    assert np.isfinite(reward).all() and (reward > 0).all()
