"""The experiment layer: generators compared on seeds in every space, reported as data with provenance."""

import json
from importlib.metadata import version

import pytest
import torch

from adagen_env import Report, Verdict, run_experiment
from adagen_env.data.datasets import load_digits
from adagen_env.evaluation.metrics import Evaluator

TRAIN = load_digits("train")


def real_digits(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """A 'generator' of training digits of the asked classes; the seed picks which."""
    images, all_labels = TRAIN.to_float(), TRAIN.label_tensor()
    rng = torch.Generator().manual_seed(seed)
    picks = [torch.nonzero(all_labels == int(c))[:, 0] for c in labels]
    return torch.stack([images[p[torch.randint(len(p), (1,), generator=rng)]][0] for p in picks])


def dimmed(labels: torch.Tensor, seed: int) -> torch.Tensor:
    return 0.6 * real_digits(labels, seed)


@pytest.fixture(scope="module")
def report() -> Report:
    return run_experiment(
        {"real": real_digits, "dimmed": dimmed},
        Evaluator(),
        10,
        500,
        [0, 1],
        title="real vs dimmed",
        nfe={"real": 1, "dimmed": 1},
        log=lambda line: None,
    )


def test_every_contender_is_scored_on_every_seed_in_every_space(report):
    assert list(report.contenders) == ["real", "dimmed"] and report.seeds == [0, 1]
    for contender in report.contenders.values():
        assert len(contender.per_seed) == 2
        for space in report.spaces:
            interval = contender.interval(f"{space}_fd")
            assert interval.low <= interval.value <= interval.high
    assert report.contenders["real"].mean["accuracy"] > 0.9


def test_the_verdict_is_data(report):
    assert report.verdict("real", "dimmed") == Verdict.BETTER
    with pytest.raises(KeyError, match="no comparison"):
        report.comparison("dimmed", "real")
    assert "real beats dimmed" in report.table()


def test_the_report_writes_json_and_markdown_with_provenance(report, tmp_path):
    written = report.write(tmp_path / "out")
    assert [p.name for p in written] == ["out.json", "out.md"]
    data = json.loads(written[0].read_text())
    provenance = data["provenance"]
    for key in ("commit", "dirty", "versions", "torch_threads", "device", "load_average_before", "command"):
        assert key in provenance, key
    assert (
        provenance["versions"]["torch"] == version("torch") and provenance["torch_threads"] == torch.get_num_threads()
    )
    assert Report.from_dict(data).verdict("real", "dimmed") == Verdict.BETTER
    page = written[1].read_text()
    assert page.startswith("# real vs dimmed") and "**real vs dimmed** (better)" in page and "commit" in page


def test_pairs_are_chosen_and_checked():
    generators = {"a": real_digits, "b": dimmed}
    found = run_experiment(
        generators, Evaluator(spaces=("pixels",)), 10, 100, [0], pairs=[("b", "a")], floor=False, log=lambda line: None
    )
    assert [(c.a, c.b) for c in found.comparisons] == [("b", "a")] and found.noise_floor is None
    with pytest.raises(ValueError, match="unknown generators"):
        run_experiment(generators, Evaluator(spaces=("pixels",)), 10, 100, [0], pairs=[("a", "c")])
