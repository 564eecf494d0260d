"""The evaluation's ensemble: five independently trained feature networks that differ in
architecture and objective, shipped small, reproducible by their script, and replaceable."""

import pytest
import torch

from adagen_env.data.datasets import load_digits
from adagen_env.data.user_data import load_features
from adagen_env.evaluation.metrics import NETWORK_SPACES, SPACES, Evaluator
from adagen_env.models.feature_networks import NETWORKS
from adagen_env.runtime.files import atomic_save
from adagen_env.training.train_feature_networks import contrastive_view, nt_xent, train_mlp_classifier


def test_the_ensemble_is_five_networks_of_different_architectures_and_objectives():
    assert len(NETWORKS) == 5 and SPACES == (*NETWORK_SPACES, "pixels")
    kinds = {(n.architecture, n.objective) for n in NETWORKS.values()}
    assert len(kinds) == 5  # no two share both architecture and objective
    assert {n.architecture for n in NETWORKS.values()} == {"CNN", "MLP"}
    assert len({n.objective for n in NETWORKS.values()}) >= 4
    assert sum(not n.needs_labels for n in NETWORKS.values()) == 3
    images = load_digits("heldout").to_float()[:20]
    for name, network in NETWORKS.items():
        assert network.weights.stat().st_size < 1_000_000, name  # small enough to ship
        model = network.load_shipped()
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        features = model.features(images)
        assert features.shape[0] == 20 and features.ndim == 2 and torch.isfinite(features).all()


def test_the_spaces_disagree_with_each_other():
    # independent networks: their features are not one space rescaled (reference FD ranks differ)
    evaluator = Evaluator()
    dims = {space: evaluator.reference_features_in(space).shape[1] for space in SPACES}
    assert dims == {
        "classifier": 64,
        "encoder": 32,
        "mlp_classifier": 64,
        "conv_autoencoder": 32,
        "contrastive": 64,
        "pixels": 64,
    }


def test_the_shipped_mlp_classifier_is_reproduced_by_its_script():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the script trains
    try:
        model = train_mlp_classifier(load_digits("train"))
    finally:
        torch.set_num_threads(threads)
    shipped = NETWORKS["mlp_classifier"].load_shipped().state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, shipped[key], atol=1e-4, rtol=1e-4)


def test_the_contrastive_loss_rewards_matching_views():
    a = torch.randn(16, 8)
    assert nt_xent(a, a) < nt_xent(a, torch.randn(16, 8))
    x = load_digits("train").to_float()[:8]
    generator = torch.Generator().manual_seed(0)
    view = contrastive_view(x, generator)
    assert view.shape == x.shape and 0 <= view.min() and view.max() <= 1 and not torch.equal(view, x)


def test_networks_replace_shipped_ones_by_space_name_and_unknown_names_are_refused():
    shipped = NETWORKS["contrastive"].load_shipped()
    evaluator = Evaluator(spaces=("contrastive", "pixels"), networks={"contrastive": shipped})
    assert evaluator.networks["contrastive"] is shipped and evaluator.classifier is None
    with pytest.raises(ValueError, match="networks are named by space"):
        Evaluator(spaces=("pixels",), networks={"inception": shipped})


def test_a_features_file_from_before_the_ensemble_still_loads(tmp_path):
    classifier, encoder = NETWORKS["classifier"].load_shipped(), NETWORKS["encoder"].load_shipped()
    old = {
        "image_shape": [1, 8, 8],
        "classifier": {"num_classes": 10, "channels": 1, "state_dict": classifier.state_dict()},
        "encoder": {"config": NETWORKS["encoder"].config(encoder), "state_dict": encoder.state_dict()},
        "info": {},
    }
    atomic_save(old, tmp_path / "old.pt")
    networks, shape = load_features(tmp_path / "old.pt")
    assert list(networks) == ["classifier", "encoder"] and shape == (1, 8, 8)
    images = load_digits("heldout").to_float()[:5]
    torch.testing.assert_close(networks["classifier"].features(images), classifier.features(images))
    atomic_save({"image_shape": [1, 8, 8], "networks": {"inception": {}}, "info": {}}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a features file"):
        load_features(tmp_path / "bad.pt")
