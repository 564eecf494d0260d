"""The adversarial reward: a discriminator trained online inside the scorer, in and out of the envs."""

import io
import pickle

import numpy as np
import pytest
import torch

from adagen_env.data.datasets import load_digits
from adagen_env.envs import ScheduleEnv, ScheduleVectorEnv
from adagen_env.models.discriminator import Discriminator
from adagen_env.rewards.adversarial import AdversarialScorer


def _noise(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(10, (n,), generator=g)


def _parameters(scorer: AdversarialScorer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in scorer.discriminator.parameters()]


def _rewards_over_updates(scorer: AdversarialScorer) -> torch.Tensor:
    """Rewards of three calls of 6 with update_every=8: crosses one update, so RNG and buffer matter."""
    return torch.cat([scorer(*_noise(6, seed)) for seed in (10, 11, 12)])


def test_discriminator_is_tiny_and_gives_one_logit_per_image():
    d = Discriminator()
    assert 10_000 < sum(p.numel() for p in d.parameters()) < 100_000
    assert d(*_noise(5, 0)).shape == (5,)


def test_rewards_are_probabilities_one_per_sample():
    scorer = AdversarialScorer()
    rewards = scorer(*_noise(7, 0))
    assert rewards.shape == (7,) and rewards.dtype == torch.float32
    assert ((rewards > 0) & (rewards < 1)).all()


def test_updates_only_once_the_buffer_holds_update_every_samples():
    scorer = AdversarialScorer(update_every=16, steps=2, batch_size=8)
    before = _parameters(scorer)
    first = scorer(*_noise(10, 0))
    assert scorer.stats["updates"] == 0
    assert all(torch.equal(a, b) for a, b in zip(before, _parameters(scorer)))
    again = scorer(*_noise(10, 0))
    assert torch.equal(first, again)  # scored before the update, with unchanged weights
    assert scorer.stats["updates"] == 1 and scorer.fake_images == []
    assert not all(torch.equal(a, b) for a, b in zip(before, _parameters(scorer)))
    assert all(np.isfinite(scorer.stats[k]) for k in ("loss", "real_logit", "fake_logit"))


def test_score_rewards_like_a_call_but_neither_buffers_nor_trains():
    scorer = AdversarialScorer(update_every=4, steps=2, batch_size=4)
    images, labels = _noise(6, 0)
    before = _parameters(scorer)
    scored = scorer.score(images, labels)
    assert scorer.fake_images == [] and scorer.stats["updates"] == 0
    assert all(torch.equal(a, b) for a, b in zip(before, _parameters(scorer)))
    assert torch.equal(scored, scorer(images, labels))  # the call scores first, then trains
    with pytest.raises(ValueError, match="labels must lie in"):
        scorer.score(images, torch.full((6,), 10))


def test_discriminator_learns_real_digits_from_noise():
    scorer = AdversarialScorer(update_every=256, steps=100, batch_size=64)
    scorer(*_noise(256, 0))  # one update of 100 steps: noise as the fakes
    assert scorer.stats["real_logit"] > scorer.stats["fake_logit"]
    heldout = load_digits("heldout")
    real = scorer(heldout.to_float(), heldout.label_tensor()).mean()
    noise = scorer(_noise(len(heldout), 1)[0], heldout.label_tensor()).mean()
    assert real > 0.8 and noise < 0.2


def test_same_seed_reproduces_and_another_seed_differs():
    runs = [_rewards_over_updates(AdversarialScorer(update_every=8, steps=2, seed=s)) for s in (0, 0, 1)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_state_dict_round_trip_resumes_exactly():
    scorer = AdversarialScorer(update_every=8, steps=2)
    _rewards_over_updates(scorer)  # one update done, 6 samples left in the buffer
    buffer = io.BytesIO()
    torch.save(scorer.state_dict(), buffer)
    buffer.seek(0)
    resumed = AdversarialScorer(update_every=8, steps=2, seed=123)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.stats == scorer.stats
    assert torch.equal(_rewards_over_updates(resumed), _rewards_over_updates(scorer))


def test_pickle_round_trip_resumes_exactly():
    scorer = AdversarialScorer(update_every=8, steps=2)
    _rewards_over_updates(scorer)
    copy = pickle.loads(pickle.dumps(scorer))
    assert copy.stats == scorer.stats
    assert torch.equal(_rewards_over_updates(copy), _rewards_over_updates(scorer))


def test_vector_env_trains_the_discriminator_as_episodes_finish():
    scorer = AdversarialScorer(update_every=16, steps=1)
    env = ScheduleVectorEnv(num_envs=8, num_steps=2, reward=scorer)
    assert env.core.scorer is scorer
    env.reset(seed=0)
    actions = np.zeros((8, env.single_action_space.shape[0]), dtype=np.float32)
    for episode in range(2):
        for _ in range(2):
            _, reward, terminated, _, _ = env.step(actions)
        assert terminated.all() and ((reward > 0) & (reward < 1)).all()
        assert scorer.stats["updates"] == episode  # 8, then 16 finished samples
        env.step(actions)  # autoreset step


def test_single_env_episode_and_pickled_env():
    scorer = AdversarialScorer(update_every=2, steps=1)
    env = ScheduleEnv(num_steps=2, reward=scorer)
    for seed in (0, 1):
        env.reset(seed=seed)
        for _ in range(2):
            _, reward, terminated, _, _ = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        assert terminated and 0 < reward < 1
    assert scorer.stats["updates"] == 1
    copy = pickle.loads(pickle.dumps(env))
    assert copy.core.scorer.stats == scorer.stats
    copy.reset(seed=0)
    copy.step(np.zeros(env.action_space.shape, dtype=np.float32))
    _, reward, terminated, _, _ = copy.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert terminated and 0 < reward < 1
