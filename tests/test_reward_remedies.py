"""The adversarial reward's overfitting diagnostics and remedies, and the trajectory reward (issue 24)."""

import io
import math
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch

import adagen_env  # noqa: F401  (registers the envs)
from adagen_agents.cli import main
from adagen_agents.train import discriminator_line
from adagen_env.data.datasets import load_digits
from adagen_env.envs import ScheduleVectorEnv
from adagen_env.rewards import SCORERS, AdversarialScorer, TrajectoryScorer, make_scorer
from adagen_env.rewards import adversarial as adversarial_module
from adagen_env.rewards.augment import augment

# the presets on the digits (adversarial-latent scores a diffusers pipeline's latents: tests/test_reward_scaling.py)
ADVERSARIAL = sorted(name for name in SCORERS if name.startswith("adversarial") and name != "adversarial-latent")
SMALL = dict(update_every=8, steps=2)  # an update every 8 samples, 2 steps: fast, and crossing updates
POOL = 20  # trajectory pools of 2 starts per class: fast to solve


def _noise(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(10, (n,), generator=g)


def _rewards_over_updates(scorer, seeds=(10, 11, 12)) -> torch.Tensor:
    """Rewards of calls of 6 samples each; with update_every=8, three calls cross one update."""
    return torch.cat([scorer(*_noise(6, seed)) for seed in seeds])


def _trained_on_noise(steps: int = 20, **options) -> AdversarialScorer:
    """One update of ``steps`` steps, noise as the fakes."""
    scorer = AdversarialScorer(update_every=64, batch_size=64, steps=steps, **options)
    scorer(*_noise(64, 0))
    return scorer


# ---------------------------------------------------------------------- plain adversarial, diagnostics


def test_plain_adversarial_is_unchanged():
    assert SCORERS["adversarial"] is AdversarialScorer
    rewards = _rewards_over_updates(AdversarialScorer(**SMALL), seeds=(10, 11, 12, 13, 14, 15))
    # recorded before the remedies existed: three updates in, the same rewards
    recorded = [0.20489885, 0.31928059, 0.29463837, 0.28105000, 0.38866571, 0.41850400, 0.51984674, 0.28917933]
    torch.testing.assert_close(rewards[[0, 1, 2, 12, 13, 14, 30, 31]], torch.tensor(recorded), atol=1e-6, rtol=0)
    off = AdversarialScorer(augment=None, r1=0.0, lecam=0.0, replay=0.0, ensemble=1, shaping="prob", **SMALL)
    assert torch.equal(_rewards_over_updates(off, seeds=(10, 11, 12, 13, 14, 15)), rewards)


def test_diagnostics_appear_after_one_update_and_reach_the_log():
    scorer = AdversarialScorer(**SMALL)
    assert all(math.isnan(scorer.stats[k]) for k in ("heldout_logit", "overfit_gap", "ada_rt"))
    _rewards_over_updates(scorer)
    stats = scorer.stats
    assert stats["updates"] == 1 and "ada_p" not in stats
    assert all(math.isfinite(stats[k]) for k in ("real_logit", "heldout_logit", "overfit_gap", "ada_rt"))
    assert stats["overfit_gap"] == pytest.approx(stats["real_logit"] - stats["heldout_logit"])
    assert -1 <= stats["ada_rt"] <= 1
    heldout = load_digits("heldout")
    logits = scorer.discriminator(heldout.to_float(), heldout.label_tensor())
    assert stats["heldout_logit"] == pytest.approx(logits.mean().item(), abs=1e-6)
    line = discriminator_line(10, 0.5, stats)
    assert f"real (held-out) {stats['heldout_logit']:.2f}" in line and f"gap {stats['overfit_gap']:.2f}" in line


def test_heldout_logit_is_nan_without_validation_images():
    scorer = AdversarialScorer(real=load_digits("train"), **SMALL)  # real images of one's own: no default
    _rewards_over_updates(scorer)
    assert math.isnan(scorer.stats["heldout_logit"]) and math.isnan(scorer.stats["overfit_gap"])
    assert math.isfinite(scorer.stats["real_logit"])


def test_validation_images_change_nothing_but_the_diagnostic():
    digits = load_digits("heldout")
    runs = [AdversarialScorer(validation=v, **SMALL) for v in (digits, load_digits("train"))]
    rewards = [_rewards_over_updates(s, seeds=(10, 11, 12, 13)) for s in runs]
    assert torch.equal(rewards[0], rewards[1])
    assert runs[0].stats["heldout_logit"] != runs[1].stats["heldout_logit"]


# ---------------------------------------------------------------------- remedies


def test_augment_is_differentiable_and_the_identity_at_probability_zero():
    images = torch.rand(6, 1, 8, 8, requires_grad=True)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(augment(images, 0.0, generator), images)
    changed = augment(images, 1.0, generator)
    assert changed.shape == images.shape and not torch.equal(changed, images)
    (grad,) = torch.autograd.grad(changed.sum(), images)
    assert grad.abs().sum() > 0


def test_diffaug_trains_on_augmented_inputs_and_scores_plain_ones():
    plain, diffaug = AdversarialScorer(**SMALL), AdversarialScorer(augment="diffaug", **SMALL)
    images, labels = _noise(5, 3)
    assert torch.equal(plain.score(images, labels), diffaug.score(images, labels))  # same seed, same init
    _rewards_over_updates(plain), _rewards_over_updates(diffaug)
    assert not torch.equal(plain.score(images, labels), diffaug.score(images, labels))  # trained differently
    expected = torch.sigmoid(diffaug.discriminator(images, labels))  # scoring sees the images as they are
    torch.testing.assert_close(diffaug.score(images, labels), expected)


def test_ada_raises_p_while_the_discriminator_is_sure_of_the_reals():
    scorer = _trained_on_noise(augment="ada")  # noise is easy to tell: r_t ends far above the target
    assert scorer.stats["ada_rt"] > adversarial_module.ADA_TARGET
    assert scorer.stats["ada_p"] == pytest.approx(20 * 64 / adversarial_module.ADA_IMAGES)
    scorer(*_noise(64, 1))
    assert scorer.stats["ada_p"] == pytest.approx(2 * 20 * 64 / adversarial_module.ADA_IMAGES)


def test_r1_penalty_is_zero_for_a_constant_discriminator_and_positive_otherwise():
    scorer = AdversarialScorer(r1=0.5)
    reals = torch.rand(4, 1, 8, 8, requires_grad=True)
    assert scorer.r1_penalty(0 * reals.sum(dim=(1, 2, 3)) + 1.0, reals).item() == 0.0
    # logit = sum of pixels: every gradient is 1, so ||grad||^2 = 64 and the penalty 0.5 / 2 * 64
    assert scorer.r1_penalty(reals.sum(dim=(1, 2, 3)), reals).item() == pytest.approx(16.0)


def test_r1_flattens_the_discriminator_on_the_real_images():
    def gradient_norm(scorer: AdversarialScorer) -> float:
        reals = scorer.real_images[:64].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(scorer.discriminator(reals, scorer.real_labels[:64]).sum(), reals)
        return grad.pow(2).flatten(1).sum(1).mean().item()

    assert gradient_norm(_trained_on_noise(r1=1.0)) < 0.5 * gradient_norm(_trained_on_noise())


def test_lecam_penalises_logits_beyond_the_other_sides_moving_average():
    scorer = AdversarialScorer(lecam=0.3)
    one = torch.ones(3)
    # the first step sets the averages: a_real = 1, a_fake = -1; reals above -1, fakes below 1: (2^2) + (2^2)
    assert scorer.lecam_penalty(0, one, -one).item() == pytest.approx(8.0)
    # the averages move 1 % of the way: 0.97 and -0.97; reals below a_fake and fakes above a_real cost nothing
    assert scorer.lecam_penalty(0, -2 * one, 2 * one).item() == 0.0
    torch.testing.assert_close(scorer.state_dict()["lecam_average"], torch.tensor([[0.97, -0.97]]))


def test_replay_draws_that_share_of_past_fakes_and_keeps_the_newest(monkeypatch):
    monkeypatch.setattr(adversarial_module, "REPLAY_CAPACITY", 12)
    scorer = AdversarialScorer(replay=0.5, **SMALL)
    labels = torch.zeros(8, dtype=torch.long)
    fakes, _ = scorer.draw_fakes(torch.zeros(8, 1, 8, 8), labels, 8)
    assert (fakes == 0).all()  # nothing to replay before the first update
    scorer(torch.ones(8, 1, 8, 8), labels)  # one update: its fakes go to the buffer
    fakes, _ = scorer.draw_fakes(torch.zeros(8, 1, 8, 8), labels, 8)
    assert [int(f.max()) for f in fakes].count(1) == 4
    scorer(torch.full((8, 1, 8, 8), 0.5), labels)
    assert len(scorer.replay_images) == 12 and (scorer.replay_images[-8:] == 0.5).all()


def test_ensemble_rewards_the_mean_of_its_members_probabilities_and_trains_each():
    scorer = AdversarialScorer(ensemble=3, **SMALL)
    images, labels = _noise(5, 3)
    members = [torch.sigmoid(d(images, labels)) for d in scorer.discriminators]
    assert len(members) == 3 and not torch.equal(members[0], members[1])  # different seeds
    torch.testing.assert_close(scorer.score(images, labels), torch.stack(members).mean(0))
    before = [[p.clone() for p in d.parameters()] for d in scorer.discriminators]
    _rewards_over_updates(scorer)
    for old, d in zip(before, scorer.discriminators):
        assert any(not torch.equal(a, b) for a, b in zip(old, d.parameters()))


def test_logd_is_the_log_of_the_probability_within_minus_ten_and_zero():
    images, labels = _noise(50, 4)
    prob = AdversarialScorer().score(images, labels)
    logd = AdversarialScorer(shaping="logd").score(images, labels)
    torch.testing.assert_close(logd, prob.log())
    trained = _trained_on_noise(steps=40, shaping="logd")
    rewards = trained.score(*_noise(200, 5))
    assert (rewards >= adversarial_module.LOGD_FLOOR).all() and (rewards <= 0).all()


def test_class_norm_standardises_each_class_by_its_fakes():
    images, labels = torch.rand(200, 1, 8, 8), torch.arange(200) % 10
    scorer = AdversarialScorer(shaping="class-norm", update_every=200, batch_size=64, steps=2)
    plain = AdversarialScorer(update_every=200, batch_size=64, steps=2)
    assert torch.equal(scorer(images, labels), plain(images, labels))  # no statistics before an update
    z = torch.logit(scorer.score(images, labels).double())  # the standardised logits of the fakes just seen
    for c in range(10):
        assert z[labels == c].mean().item() == pytest.approx(0.0, abs=1e-4)
        assert z[labels == c].std(unbiased=False).item() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_every_adversarial_preset_learns_real_digits_from_noise(name):
    scorer = SCORERS[name](update_every=64, batch_size=64, steps=20)
    scorer(*_noise(64, 0))
    heldout = load_digits("heldout")
    real = scorer.score(heldout.to_float(), heldout.label_tensor()).mean()
    noise = scorer.score(_noise(len(heldout), 1)[0], heldout.label_tensor()).mean()
    assert real > noise


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_every_adversarial_preset_resumes_exactly_from_its_state_dict(name):
    scorer = SCORERS[name](**SMALL)
    _rewards_over_updates(scorer, seeds=(10, 11, 12, 13))  # two updates: replay and class stats are in use
    buffer = io.BytesIO()
    torch.save(scorer.state_dict(), buffer)
    buffer.seek(0)
    resumed = SCORERS[name](seed=123, **SMALL)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(_rewards_over_updates(resumed), _rewards_over_updates(scorer))
    assert resumed.stats == scorer.stats
    copy = pickle.loads(pickle.dumps(make_scorer(name)))
    assert copy.name == name  # what a policy card records


def test_remedy_options_are_checked():
    for options in ({"augment": "flip"}, {"shaping": "rank"}, {"r1": -1.0}, {"replay": 1.0}, {"ensemble": 0}):
        with pytest.raises(ValueError):
            AdversarialScorer(**options)
    with pytest.raises(ValueError, match="projected"):
        AdversarialScorer(discriminator="projected", r1=1.0)


def test_train_help_lists_every_reward(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "10000")  # no wrapping inside a name
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in SCORERS)


# ---------------------------------------------------------------------- trajectory reward


def _episode(env: ScheduleVectorEnv, seed: int = 0) -> np.ndarray:
    env.reset(seed=seed)
    actions = np.zeros((env.num_envs, env.single_action_space.shape[0]), dtype=np.float32)
    for _ in range(env.core.num_steps):
        _, reward, terminated, _, _ = env.step(actions)
    assert terminated.all()
    return reward


def test_many_step_schedule_earns_the_best_trajectory_reward():
    scorer = TrajectoryScorer(pool_size=POOL)
    rewards = {
        steps: _episode(ScheduleVectorEnv(process="diffusion-digits", num_envs=10, num_steps=steps, reward=scorer))
        for steps in (4, 64)
    }
    assert (rewards[64] > 0.999).all() and (rewards[64] <= 1).all()  # the reference solution itself
    assert (rewards[4] < rewards[64]).all() and (rewards[4] > 0).all()


def test_pool_starts_are_drawn_deterministically_under_a_seed():
    scorer = TrajectoryScorer(pool_size=POOL)
    envs = [ScheduleVectorEnv(process="flow-digits", num_envs=6, num_steps=2, reward=scorer) for _ in range(2)]
    starts = []
    for env, seed in zip(envs + envs[:1], (0, 0, 1)):
        env.reset(seed=seed)
        starts.append(env.core.starts.clone())
        assert torch.equal(scorer.pool.labels[env.core.starts], env.core.labels)
        assert torch.equal(env.core.state.x, scorer.pool.noise[env.core.starts])  # the pool's noise
    assert torch.equal(starts[0], starts[1]) and not torch.equal(starts[0], starts[2])
    envs[0].reset(options={"labels": [3] * 6})  # given labels: pool entries of those classes
    assert (scorer.pool.labels[envs[0].core.starts] == 3).all()


def test_trajectory_reward_refuses_a_process_that_is_no_ode_sampler():
    with pytest.raises(ValueError, match="needs an ODE sampler.*MaskGITProcess"):
        ScheduleVectorEnv(process="maskgit-digits", num_envs=2, reward=TrajectoryScorer(pool_size=POOL))


def test_trajectory_adversarial_mixes_both_halves_and_resumes():
    scorer = TrajectoryScorer(adversarial=0.5, pool_size=POOL)
    alone = TrajectoryScorer(pool_size=POOL)
    env = ScheduleVectorEnv(process="diffusion-digits", num_envs=10, num_steps=3, reward=scorer)
    ScheduleVectorEnv(process="diffusion-digits", num_envs=10, num_steps=3, reward=alone)
    reward = _episode(env)
    images, labels, starts = env.core.images(), env.core.labels, env.core.starts
    expected = 0.5 * scorer.adversarial.score(images, labels) + 0.5 * alone(images, labels, starts=starts)
    np.testing.assert_allclose(reward, expected.numpy(), atol=1e-6)
    copy = TrajectoryScorer(adversarial=0.5, pool_size=POOL)
    copy.load_state_dict(scorer.state_dict())
    assert torch.equal(copy.adversarial.state_dict()["fake_images"], scorer.adversarial.state_dict()["fake_images"])


def test_gym_make_runs_an_episode_with_the_trajectory_reward():
    env = gym.make("AdaGen/Diffusion-Digits-v0", num_steps=3, reward=TrajectoryScorer(pool_size=POOL))
    env.reset(seed=0)
    for _ in range(3):
        _, reward, terminated, _, _ = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert terminated and 0 < reward <= 1


@pytest.mark.slow
def test_gym_make_by_name_runs_an_episode_with_the_trajectory_reward():
    env = gym.make("AdaGen/Diffusion-Digits-v0", reward="trajectory")  # solves the whole 4,096-start pool
    env.reset(seed=0)
    for _ in range(env.unwrapped.core.num_steps):
        _, reward, terminated, _, _ = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert terminated and 0 < reward <= 1
