"""The layering the project promises.

Between packages: `asr` is the core; training, eval and serving build on it, not on each other.
Inside `asr`: the inference path (its top-level modules and asr.streaming) imports neither `asr.corpora`, which builds
on it, nor anything that imports a decoder from `asr.lm`; and no module import runs in a circle.
"""

import ast
import subprocess
import sys
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


ASR = ROOT / "asr"
# The command line is the front of every part, not a part of the inference path.
FRONT = {"asr.cli", "asr.__main__"}
DECODERS = {"asr.decoding", "asr.transcribe", "asr.streaming.stream"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def asr_imports(path: Path) -> set[str]:
    """The asr modules a module imports, at the top or inside functions (`from asr.lm import folder` names asr.lm.folder)."""
    modules = {module_name(p) for p in ASR.rglob("*.py")}
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "asr":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return found - {module_name(path)}


def asr_graph() -> dict[str, set[str]]:
    return {module_name(path): asr_imports(path) for path in ASR.rglob("*.py")}


def test_the_inference_path_does_not_import_the_corpus_tools():
    graph = asr_graph()
    inference = {m for m in graph if (m.count(".") == 1 or m.startswith("asr.streaming.")) and m not in FRONT}
    assert {"asr.audio", "asr.features", "asr.decoding", "asr.transcribe", "asr.streaming.stream"} <= inference
    wrong = {f"{m} imports {i}" for m in inference for i in graph[m] if i.startswith("asr.corpora")}
    assert not wrong, sorted(wrong)


def test_language_models_import_no_decoder_and_no_corpus_tools():
    graph = asr_graph()
    wrong = {
        f"{m} imports {i}"
        for m in graph
        if m.startswith("asr.lm")
        for i in graph[m]
        if i in DECODERS or i.startswith("asr.corpora")
    }
    assert not wrong, sorted(wrong)


def test_no_import_circle_in_asr():
    graph = asr_graph()
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph.get(module, ())):
            if imported in path:
                cycles.append(" -> ".join(path[path.index(imported) :] + [imported]))
            elif imported not in done:
                visit(imported, path + [imported])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert not cycles, cycles


def test_the_command_line_builds_and_shows_help_without_loading_torch():
    # Every `asr` command builds every package's parsers first: torch there costs each --help over a second.
    code = ("import sys\nfrom asr.cli import main\ntry:\n    main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "--max-utterance-ms" in run.stdout
    assert run.stderr.strip() == "False"
