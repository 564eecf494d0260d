"""Shared fixtures for the environment and sampling tests."""

import os

import numpy as np
import pytest
import torch
from hypothesis import settings

import adagen_env  # noqa: F401  (registers the environments)
from adagen_env.processes import MaskGITProcess

# property-based tests (tests/test_fuzz.py): a short profile by default and in CI, a long one on demand
settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True)
settings.register_profile("long", max_examples=1000, deadline=None)
settings.register_profile("medium", max_examples=150, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def _single_thread():
    # The test machine is small and shared: one intra-op thread is several times faster there
    # than oversubscribed cores. Every comparison in the tests runs within one process, so the
    # thread count cannot make two compared results differ.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def process() -> MaskGITProcess:
    """The default process, with the shipped generator weights."""
    return MaskGITProcess()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def count_passes():
    """``count_passes(module)`` -> a list that gains the batch size of each forward pass of ``module``
    until the test ends. The shipped generators are shared by every process, so the hooks come off
    at teardown rather than counting (and slowing) the passes of later tests."""
    hooks = []

    def count(module: torch.nn.Module) -> list[int]:
        passes: list[int] = []
        hooks.append(module.register_forward_hook(lambda _module, args, _out: passes.append(len(args[0]))))
        return passes

    yield count
    for hook in hooks:
        hook.remove()
