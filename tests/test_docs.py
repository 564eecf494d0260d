"""The docs: generated pages are current, the README is a guide, and the names the docs show import."""

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TEST_COMMAND = 'pip install torch==2.13.0 -e ".[test,rllib,bench,clients,diffusers]" && python -m pytest -q'


def generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_generated_page_is_current(monkeypatch):
    monkeypatch.setenv("COLUMNS", generator().HELP_COLUMNS)
    assert generator().stale_pages() == [], "run python docs/generate.py"


def test_the_readme_is_a_guide_not_a_log():
    lines = README.splitlines()
    assert len(lines) <= 400
    assert not re.search(r"20\d\d-\d\d-\d\d", README), "dated lines belong in CHANGELOG.md"
    assert 'reward="classifier"' not in README  # the reward that shows hacking is no quick start


def test_ci_runs_the_readme_test_command():
    assert TEST_COMMAND in README
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()


def shown_imports() -> list[tuple[str, str]]:
    """Every ``from adagen_env... import a, b`` and ``from adagen_agents... import ...`` in the docs' code."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for module, names in re.findall(
            r"^\s*from (adagen_env[\w.]*|adagen_agents[\w.]*) import \(?([\w, ]+)", path.read_text(), re.M
        ):
            found += [(module, name.strip()) for name in names.split(",") if name.strip()]
    return found


@pytest.mark.parametrize("module, name", sorted(set(shown_imports())))
def test_every_name_the_docs_import_exists(module, name):
    if module == "adagen_agents.rllib":
        pytest.importorskip("ray")
    assert hasattr(importlib.import_module(module), name), f"from {module} import {name}"
