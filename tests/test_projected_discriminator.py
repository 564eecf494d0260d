"""The projected discriminator: heads on a frozen feature network that no metric uses."""

import numpy as np
import pytest
import torch

import adagen_env
from adagen_env.data.datasets import ImageDataset, load_digits
from adagen_env.evaluation.metrics import Evaluator
from adagen_env.models.projection_features import load_projection_features
from adagen_env.rewards import AdversarialScorer, make_scorer


def test_its_feature_network_is_none_of_the_evaluators():
    evaluator = Evaluator()
    metric_tensors = [t for net in (evaluator.classifier, evaluator.encoder) for t in net.state_dict().values()]
    features = load_projection_features()
    for tensor in features.state_dict().values():
        assert not any(t.shape == tensor.shape and torch.equal(t, tensor) for t in metric_tensors)
    heldout = load_digits("heldout")
    accuracy = (features(heldout.to_float()).argmax(1) == heldout.label_tensor()).float().mean().item()
    assert accuracy > 0.9  # the shipped weights are a trained digit network, not random


def test_only_the_heads_train_and_the_reward_moves():
    scorer = make_scorer("adversarial-projected")
    frozen = {name: p.clone() for name, p in scorer.discriminator.features.named_parameters()}
    heads = [p.clone() for p in scorer.discriminator.heads.parameters()]
    fakes, labels = torch.rand(256, 1, 8, 8), torch.arange(256) % 10
    before = scorer.score(fakes, labels)
    scorer(fakes, labels)  # 256 samples: one update
    assert scorer.stats["updates"] == 1
    assert all(torch.equal(p, frozen[name]) for name, p in scorer.discriminator.features.named_parameters())
    assert any(not torch.equal(a, b) for a, b in zip(heads, scorer.discriminator.heads.parameters()))
    after = scorer.score(fakes, labels)
    assert after.mean() < before.mean() and ((after > 0) & (after < 1)).all()


def test_it_trains_a_policy_through_the_env_and_pickles():
    import pickle

    env = adagen_env.ScheduleVectorEnv(8, process="maskgit-digits", num_steps=2, reward="adversarial-projected")
    env.reset(seed=0)
    for _ in range(2):
        _, reward, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
    assert np.isfinite(reward).all() and (reward > 0).all()
    copy = pickle.loads(pickle.dumps(env.core.scorer))
    images, labels = torch.rand(4, 1, 8, 8), torch.arange(4)
    assert torch.equal(copy.score(images, labels), env.core.scorer.score(images, labels))


def test_a_feature_network_that_does_not_fit_the_images_is_one_clear_error():
    rgb = ImageDataset(np.zeros((10, 16, 16, 3), np.uint8), np.arange(10) % 2, 256, 2)
    with pytest.raises(ValueError, match="feature network does not take 3x16x16 images"):
        AdversarialScorer(real=rgb, discriminator="projected")
    with pytest.raises(ValueError, match="discriminator must be one of"):
        AdversarialScorer(discriminator="clip")
