"""The package layering the project promises: `asr` is the core; training, eval and serving build on it, not on each other."""

import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("asr", "training", "eval", "serving")
ALLOWED = {"asr": set(), "training": {"asr"}, "eval": {"asr"}, "serving": {"asr"}}


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_it_builds_on(package):
    wrong = {
        f"{path.relative_to(ROOT)} imports {', '.join(sorted(found - ALLOWED[package] - {package}))}"
        for path in (ROOT / package).rglob("*.py")
        if "proto" not in path.parts and (found := imported_packages(path)) - ALLOWED[package] - {package}
    }
    assert not wrong, sorted(wrong)


def test_each_package_adds_its_commands_to_asr():
    registered = {entry.name: entry.value for entry in entry_points(group="transfer_asr.commands")}
    assert registered == {package: f"{package}.cli:add_commands" for package in ("eval", "serving", "training")}
