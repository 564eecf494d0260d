"""What gets installed, and which way the imports go: the library never imports the agents or the benchmarks."""

import ast
from pathlib import Path

import pytest
from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def code_strings(path: Path) -> list[str]:
    """The string constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_the_library_imports_neither_agents_nor_benchmarks():
    for path in sorted((ROOT / "adagen_env").rglob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top not in {"agents", "adagen_agents", "benchmarks"}, f"{path.relative_to(ROOT)} imports {module}"
        assert not [text for text in code_strings(path) if "benchmarks" in text], f"{path} reads benchmark files"


def test_nothing_imports_the_agents_folder_by_its_folder_name():
    for folder in ("adagen_env", "agents", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tops = {module.split(".")[0] for module in imported_modules(path)}
            assert "agents" not in tops, f"{path.relative_to(ROOT)}: import adagen_agents, the installed name"


def test_every_library_package_is_installed_and_agents_install_as_adagen_agents():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    agents = {"adagen_agents", *(f"adagen_agents.{p}" for p in find_packages(str(ROOT / "agents")))}
    assert set(setuptools["packages"]) == {*find_packages(str(ROOT), include=["adagen_env", "adagen_env.*"]), *agents}
    assert setuptools["package-dir"] == {"adagen_agents": "agents"}
    assert config["project"]["scripts"] == {"adagen": "adagen_agents.cli:main"}
