"""device="cuda" and bf16 autocast.

On the CPU (always run): every registered paradigm and a tiny diffusers DiT and UNet run under
bf16 autocast (CPU autocast does bf16 for real), give float32 images in [0, 1] of the declared
shape, and stay close to the float32 run with the same noise and actions; bad settings are
one clear error; ``adagen --autocast`` works. On CUDA (skipped without a GPU): every process's
env with and without bf16, PPO, the adversarial scorer, the Evaluator and the diffusers adapter.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_diffusers_adapter import tiny_dit, tiny_unet, tiny_vae

import adagen_env
from adagen_agents.cli import main
from adagen_agents.ppo import PPO, PPOConfig
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.evaluation.metrics import Evaluator
from adagen_env.paradigms import PARADIGMS, make_process
from adagen_env.processes.autocast import AutocastProcess
from adagen_env.processes.sampling import sample
from adagen_env.rewards import AdversarialScorer

N = 50  # samples per episode batch
SEED = 3
LABELS = torch.arange(N) % 10
# Mean |bf16 - float32| per pixel over the batch, measured here (torch 2.13, CPU, N = 50, seed 3;
# zero / random actions): MaskGIT 0.018 / 0.013, diffusion 0.0024 / 0.040, flow 0.0012 / 0.0013,
# flow-Heun 0.0011 / 0.0013, VAR 0.035 / 0.033. The bounds are about 3x that. For scale, float32
# batches with other noise (seed 4) differ by 0.11 (MaskGIT) to 0.19 (VAR). The token paradigms
# are discrete: a near-tie between two grey levels can flip, and the tokens revealed after it
# follow. Diffusion under random actions is the loosest: a sample still near t = 1 (alpha = 0.007)
# when a large step comes gets its clean estimate as (x - sigma * eps) / alpha, which multiplies
# bf16's error in eps by about 150 (at N = 100 it measured 0.068, a quarter of the samples > 0.05).
TOLERANCE = {  # (zero actions, random actions)
    "maskgit-digits": (0.05, 0.05),
    "diffusion-digits": (0.01, 0.12),
    "flow-digits": (0.005, 0.005),
    "flow-heun-digits": (0.005, 0.005),
    "var-digits": (0.1, 0.1),
}
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def episode(env: gym.vector.VectorEnv, actions: np.ndarray | None) -> torch.Tensor:
    """The images after one seeded episode of ``actions`` (T, N, P), zeros when None; observations checked."""
    obs, _ = env.reset(seed=SEED, options={"labels": LABELS.numpy()})
    core = env.unwrapped.core
    for t in range(core.num_steps):
        step = np.zeros(env.action_space.shape, np.float32) if actions is None else actions[t]
        obs, _, terminated, _, _ = env.step(step)
        assert env.observation_space.contains(obs)  # numpy float32 observations, within their bounds
    assert terminated.all()
    return core.images()


def random_actions(env: gym.vector.VectorEnv) -> np.ndarray:
    core = env.unwrapped.core
    return np.random.default_rng(1).uniform(-1, 1, (core.num_steps, *env.action_space.shape)).astype(np.float32)


def check_images(images: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert images.shape == shape and images.dtype == torch.float32
    assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1


def mean_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.cpu() - b.cpu()).abs().mean().item()


# ------------------------------------------------------------------------------------ CPU: bf16 autocast


@pytest.mark.parametrize("name", list(PARADIGMS))
def test_bf16_episodes_are_float32_images_close_to_float32(name):
    env_id = PARADIGMS[name].env_id
    full = gym.make_vec(env_id, num_envs=N, reward=None)
    half = gym.make_vec(env_id, num_envs=N, reward=None, autocast="bf16")
    process = half.unwrapped.core.process
    assert isinstance(process, AutocastProcess) and process.autocast_dtype == torch.bfloat16
    shape = (N, 1, *process.image_shape)
    for actions, tolerance in zip((None, random_actions(full)), TOLERANCE[name]):
        reference, images = episode(full, actions), episode(half, actions)
        check_images(images, shape)
        assert mean_difference(images, reference) < tolerance
        if actions is None:  # the zero action is the plain sampler under the same autocast, bit for bit
            assert torch.equal(images, sample(process, LABELS, seed=SEED))


@pytest.fixture(scope="module")
def diffusers():
    return pytest.importorskip("diffusers")


def diffusers_pipelines(diffusers) -> dict:
    """A guided DiT with a VAE (latents) and an unconditional UNet in pixels, tiny and random."""
    return {
        "dit": diffusers.DiTPipeline(tiny_dit(diffusers), tiny_vae(diffusers), diffusers.DPMSolverMultistepScheduler()),
        "unet": diffusers.DDIMPipeline(tiny_unet(diffusers), diffusers.DDIMScheduler()),
    }


@pytest.mark.parametrize("kind", ["dit", "unet"])
def test_bf16_diffusers_episodes_are_float32_images_close_to_float32(diffusers, kind):
    # mean |bf16 - float32| measured (torch 2.13, CPU, zero / random actions): DiT 0.0018 / 0.0018, UNet
    # 0.0066 / 0.0053; the same env with other noise differs by 0.14 (DiT) and 0.42 (UNet). Bound: 3x UNet's
    pipeline = diffusers_pipelines(diffusers)[kind]
    full = gym.make_vec(adagen_env.DIFFUSERS_ENV_ID, num_envs=8, pipeline=pipeline, num_steps=4)
    half = gym.make_vec(adagen_env.DIFFUSERS_ENV_ID, num_envs=8, pipeline=pipeline, num_steps=4, autocast="bf16")
    process = half.unwrapped.core.process
    labels = (LABELS[:8] % process.num_classes).numpy()  # the unconditional UNet has one class
    for actions in (None, random_actions(full)):
        images = []
        for env in (full, half):
            env.reset(seed=SEED, options={"labels": labels})
            for t in range(4):
                obs, *_ = env.step(np.zeros(env.action_space.shape, np.float32) if actions is None else actions[t])
                assert env.observation_space.contains(obs)
            images.append(env.unwrapped.core.images())
        assert images[0].shape[-2:] == process.image_shape
        check_images(images[1], tuple(images[0].shape))
        assert mean_difference(images[1], images[0]) < 0.02


def test_bad_autocast_values_are_one_clear_error_before_any_work(monkeypatch, diffusers):
    def no_loading(*args, **kwargs):
        raise AssertionError("the generator was loaded before the autocast setting was checked")

    monkeypatch.setattr("adagen_env.envs.core.make_process", no_loading)
    for bad in ("fp32", "BF16", True, torch.bfloat16):
        with pytest.raises(ValueError, match=r"autocast must be one of None, 'off', 'bf16'; got"):
            ScheduleVectorEnv(4, process="maskgit-digits", autocast=bad)
        with pytest.raises(ValueError, match="autocast must be one of"):
            gym.make("AdaGen/Flow-Digits-v0", autocast=bad)
        with pytest.raises(ValueError, match="autocast must be one of"):
            make_process("var-digits", autocast=bad)
    pipeline = diffusers_pipelines(diffusers)["unet"]
    with pytest.raises(ValueError, match="autocast must be one of"):
        gym.make_vec(adagen_env.DIFFUSERS_ENV_ID, num_envs=2, pipeline=pipeline, autocast="fp16")
    for off in (None, "off"):  # off is the process itself, unwrapped
        assert not isinstance(
            ScheduleVectorEnv(2, process=make_process("flow-digits"), autocast=off).core.process, AutocastProcess
        )


def test_cli_autocast_flag_and_a_bf16_policy_runs_without_it(tmp_path, capsys):
    grid = tmp_path / "grid.png"
    main(["sample", "--label", "3", "--n", "4", "--steps", "2", "--autocast", "bf16", "--out", str(grid)])
    assert grid.is_file()
    with pytest.raises(SystemExit):  # argparse: a value the spec refuses
        main(["sample", "--label", "3", "--autocast", "fp32", "--out", str(grid)])
    assert "argument --autocast: autocast must be one of None, 'off', 'bf16'; got 'fp32'" in capsys.readouterr().err
    policy = tmp_path / "policy.pt"
    main(
        [
            "train",
            "--steps",
            "2",
            "--num-envs",
            "8",
            "--episodes-per-update",
            "8",
            "--epochs",
            "1",
            "--minibatches",
            "1",
            "--updates",
            "1",
            "--eval-every",
            "0",
            "--final-samples",
            "20",
            "--threads",
            "1",
            "--autocast",
            "bf16",
            "--out",
            str(policy),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    assert "learned (ppo)" in capsys.readouterr().out
    for autocast in ("off", "bf16"):
        main(
            [
                "sample",
                "--policy",
                str(policy),
                "--label",
                "1",
                "--n",
                "4",
                "--autocast",
                autocast,
                "--out",
                str(grid),
                "--overwrite",
            ]
        )
        assert grid.is_file()


# ------------------------------------------------------------------------------------ CUDA


@cuda
@pytest.mark.parametrize("autocast", [None, "bf16"])
@pytest.mark.parametrize("name", list(PARADIGMS))
def test_every_process_env_runs_on_cuda(name, autocast):
    env = gym.make_vec(PARADIGMS[name].env_id, num_envs=N, reward="classifier", device="cuda", autocast=autocast)
    process = env.unwrapped.core.process
    assert process.device.type == "cuda"
    images = episode(env, None)
    assert images.device.type == "cuda"
    check_images(images, (N, 1, *process.image_shape))
    assert torch.equal(images, sample(process, LABELS, seed=SEED))  # zero action = the plain sampler, on cuda
    check_images(episode(env, random_actions(env)), (N, 1, *process.image_shape))


@cuda
@pytest.mark.parametrize("autocast", [None, "bf16"])
def test_two_ppo_updates_on_cuda(autocast, tmp_path):
    env = ScheduleVectorEnv(
        num_envs=16, process="maskgit-digits", num_steps=2, reward="adversarial", device="cuda", autocast=autocast
    )
    agent = PPO(env, PPOConfig(episodes_per_update=32, minibatches=2, epochs=2))
    stats = []
    agent.learn(2, lambda a, s: stats.append(s))
    assert agent.updates == 2 and all(np.isfinite(s["policy_loss"]) for s in stats)
    assert next(agent.actor.parameters()).device.type == "cuda"
    path = agent.save(tmp_path / "ckpt.pt", env="AdaGen/MaskGIT-Digits-v0", num_steps=2)
    resumed = PPO.load(
        path,
        ScheduleVectorEnv(
            num_envs=16, process="maskgit-digits", num_steps=2, reward="adversarial", device="cuda", autocast=autocast
        ),
    )
    assert resumed.updates == 2


@cuda
def test_adversarial_scorer_on_cuda():
    scorer = AdversarialScorer(device="cuda", update_every=16, steps=2, batch_size=8)
    images = torch.rand(16, 1, 8, 8, device="cuda")
    rewards = scorer(images, torch.arange(16, device="cuda") % 10)  # scores, then trains on them
    assert rewards.device.type == "cuda" and rewards.shape == (16,)
    assert scorer.stats["updates"] == 1 and np.isfinite(scorer.stats["loss"])
    restored = AdversarialScorer(device="cuda", update_every=16, steps=2, batch_size=8)
    restored.load_state_dict(scorer.state_dict())
    labels = torch.zeros(16, dtype=torch.long)  # on the CPU: the scorer moves them
    assert torch.allclose(restored.score(images, labels), scorer.score(images, labels))


@cuda
def test_evaluator_on_cuda():
    images = sample(make_process("flow-digits", "cuda", "bf16"), torch.arange(200) % 10, seed=0)
    on_cuda = Evaluator(device="cuda").evaluate(images, torch.arange(200) % 10)
    on_cpu = Evaluator().evaluate(images.cpu(), torch.arange(200) % 10)
    for key, value in on_cpu.items():  # up to TF32 convolutions and k-NN radii ties (1 of 200 is 0.005)
        assert on_cuda[key] == pytest.approx(value, rel=0.02, abs=0.02), key


@cuda
@pytest.mark.parametrize("autocast", [None, "bf16"])
def test_diffusers_adapter_on_cuda(diffusers, autocast):
    pipeline = diffusers_pipelines(diffusers)["dit"].to("cuda")
    env = gym.make_vec(adagen_env.DIFFUSERS_ENV_ID, num_envs=8, pipeline=pipeline, num_steps=4, autocast=autocast)
    process = env.unwrapped.core.process
    assert process.device.type == "cuda"
    env.reset(seed=SEED, options={"labels": LABELS[:8].numpy()})
    for _ in range(4):
        obs, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
        assert env.observation_space.contains(obs)
    images = env.unwrapped.core.images()
    check_images(images, (8, 3, *process.image_shape))
    assert torch.equal(images, sample(process, LABELS[:8], seed=SEED))
