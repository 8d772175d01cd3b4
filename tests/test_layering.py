"""Core packages reach Slack only through their ports, never by importing Slack code."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

CORE_PACKAGES = [
    "bot.atlassian",
    "bot.store",
    "bot.restore",
    "bot.tracking",
    "bot.access",
    "bot.messages",
    "bot.assurance",
]


def _folder(package: str) -> list[Path]:
    module = importlib.import_module(package)
    path = Path(str(module.__file__))
    return sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_no_core_module_imports_the_slack_package(package: str) -> None:
    """Not one import statement in a core package names bot.slack."""
    offenders = []
    for path in _folder(package):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("bot.slack")]
    assert offenders == []


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_importing_a_core_package_loads_nothing_of_slack(package: str) -> None:
    """A fresh interpreter that imports the package has loaded no Slack module at all."""
    probe = (
        f"import sys, {package}; "
        "print(sorted(m for m in sys.modules if m.startswith(('bot.slack', 'slack_'))))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "[]"
