"""The selection network: a feature space for choices only, apart from the evaluation's, shipped small
and reproduced by its script."""

import pytest
import torch

from adagen_env.data.datasets import load_digits
from adagen_env.evaluation.metrics import NETWORK_SPACES, SPACES, Evaluator
from adagen_env.evaluation.selection import ChoiceEvaluator, SelectionEvaluator
from adagen_env.models.feature_networks import NETWORKS
from adagen_env.models.selection import SELECTION_SPACE, SELECTION_WEIGHTS, load_selection_network
from adagen_env.training.train_selection_network import train_selection_network


def test_the_selection_space_is_none_of_the_evaluation_spaces():
    assert SELECTION_SPACE not in SPACES and SELECTION_SPACE not in NETWORK_SPACES
    assert all(network.weights != SELECTION_WEIGHTS for network in NETWORKS.values())
    with pytest.raises(ValueError, match="spaces must be"):
        Evaluator(spaces=(SELECTION_SPACE,))  # the evaluation cannot be asked to score in it
    assert SELECTION_WEIGHTS.stat().st_size < 1_000_000
    model = load_selection_network()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    # its features are its own: not any evaluation network's, whose dimensions are 32 or 64
    images = load_digits("heldout").to_float()[:50]
    assert model.features(images).shape == (50, 48)
    held = load_digits("heldout")
    accuracy = (model(held.to_float()).argmax(1) == held.label_tensor()).double().mean().item()
    assert accuracy > 0.9  # it knows the digits


def test_the_selection_evaluator_scores_fd_in_the_selection_space_only():
    evaluator = SelectionEvaluator()
    train = load_digits("train").to_float()
    heldout = load_digits("heldout").to_float()
    noise = torch.rand(len(heldout), 1, 8, 8, generator=torch.Generator().manual_seed(0))
    real, fake = evaluator.evaluate(heldout), evaluator.evaluate(noise)
    assert set(real) == {"selection_fd", "n"}  # no evaluation space's key
    assert real["selection_fd"] < fake["selection_fd"]
    assert evaluator.evaluate(train)["selection_fd"] == pytest.approx(0.0, abs=1e-6)  # its reference: the train split
    with pytest.raises(ValueError, match="selection"):
        evaluator.space_features(heldout, "classifier")


def test_the_choice_evaluator_gives_every_metric_in_the_selection_space_alone():
    heldout = load_digits("heldout").to_float()
    result = ChoiceEvaluator().evaluate(heldout)
    metrics = {k for k in result if k.endswith(("_fd", "_kid", "_precision", "_recall"))}
    assert metrics == {"selection_fd", "selection_kid", "selection_precision", "selection_recall"}
    assert result["selection_fd"] == pytest.approx(SelectionEvaluator().evaluate(heldout)["selection_fd"], rel=1e-9)
    assert 0.5 < result["selection_precision"] <= 1 and 0.5 < result["selection_recall"] <= 1  # real digits
    with pytest.raises(ValueError, match="spaces must be"):
        Evaluator(spaces=(SELECTION_SPACE,))  # still: only a ChoiceEvaluator scores there


def test_the_shipped_selection_network_is_reproduced_by_its_script():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the script trains
    try:
        model = train_selection_network(load_digits("train"))
    finally:
        torch.set_num_threads(threads)
    shipped = load_selection_network().state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, shipped[key], atol=1e-4, rtol=1e-4)
