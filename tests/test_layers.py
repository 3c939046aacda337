"""The layers of DESIGN.md section 2 hold, and `make lint` notices when they do not.

import-linter checks the contracts in pyproject.toml; this file adds the rule it cannot
see (no first-party import hidden inside a function to dodge a cycle) and proves that
`make lint` fails when a contract is broken, on a temporary copy of the repository.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("abci_app", "race_node", "race_protocol", "governance", "gpu_sidecar")
# A function may defer an import only to keep the ML stack (torch, vLLM) out of processes
# that never use it, e.g. `race --help`; such a line says so with this marker.
DEFERRED_MARKER = "# deferred:"


def _function_level_first_party_imports() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "gen" in path.relative_to(REPO).parts:
                continue
            source = path.read_text()
            lines = source.splitlines()
            for node in ast.walk(ast.parse(source)):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for inner in ast.walk(node):
                    if not isinstance(inner, ast.Import | ast.ImportFrom):
                        continue
                    names = ([inner.module or ""] if isinstance(inner, ast.ImportFrom)
                             else [alias.name for alias in inner.names])
                    if not any(n.split(".")[0] in PACKAGES for n in names):
                        continue
                    if DEFERRED_MARKER in lines[inner.lineno - 1]:
                        continue
                    found.append(f"{path.relative_to(REPO)}:{inner.lineno}: {names[0]}")
    return found


def test_no_first_party_import_is_hidden_inside_a_function() -> None:
    assert _function_level_first_party_imports() == []


def _copy_repository(target: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                             capture_output=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        source = REPO / name
        if source.is_file():
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    shutil.copytree(REPO / "race_protocol" / "gen", target / "race_protocol" / "gen")
    for shared in (".venv", ".tools"):
        (target / shared).symlink_to(REPO / shared)
    (target / ".cache").mkdir()
    for stamp in (REPO / ".cache").glob(".stamp-*"):
        shutil.copy2(stamp, target / ".cache" / stamp.name)


def _make_lint(copy: Path) -> subprocess.CompletedProcess[str]:
    # The copy's own packages must be the ones imported, not the checkout's editable install.
    # Setup is not under test: its stamps count as up to date.
    return subprocess.run(["make", "-s", "-o", ".venv/.stamp-deps", "-o", ".cache/.stamp-protos",
                           "lint"], cwd=copy, capture_output=True, text=True,
                          env={"PATH": f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin",
                               "PYTHONPATH": str(copy), "HOME": str(copy)}, timeout=300)


@pytest.mark.timeout(600)
def test_make_lint_fails_when_the_consensus_process_imports_the_node_software(
        tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    _copy_repository(copy)
    assert _make_lint(copy).returncode == 0, "the unbroken copy must lint clean"
    app = copy / "abci_app" / "app.py"
    app.write_text(app.read_text().replace(
        "from race_protocol.gen.tendermint.abci import types_pb2 as abci\n",
        "from race_node.client import rpc  # noqa: F401\n"
        "from race_protocol.gen.tendermint.abci import types_pb2 as abci\n"))

    linted = _make_lint(copy)

    assert linted.returncode != 0
    assert "The consensus process imports neither the node software" in linted.stdout
    assert "BROKEN" in linted.stdout
