"""The tracker is core: it reaches Slack only through its port, never by importing Slack code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import bot.tracking

CORE = [Path(bot.tracking.__file__).parent, Path(bot.tracking.__file__).parent.parent / "store"]


def test_no_tracking_or_store_module_imports_the_slack_package() -> None:
    """Not one import statement in bot/tracking or bot/store names bot.slack."""
    offenders = []
    for folder in CORE:
        for path in sorted(folder.glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                offenders += [f"{path.name}: {n}" for n in names if n.startswith("bot.slack")]
    assert offenders == []


def test_importing_the_tracker_loads_nothing_of_slack() -> None:
    """A fresh interpreter that imports bot.tracking has loaded no bot.slack module at all."""
    probe = (
        "import sys, bot.tracking; "
        "print(sorted(m for m in sys.modules if m.startswith(('bot.slack', 'slack_'))))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "[]"
