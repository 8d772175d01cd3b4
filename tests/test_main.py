"""The `backup-bot` entry point: what bare `backup-bot` starts, and bad settings at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SLACK_AND_REDIS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "REDIS_URL")


def _run(
    args: list[str], tmp_path: Path, stdin: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in SLACK_AND_REDIS}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_bare_backup_bot_without_slack_credentials_opens_the_console(tmp_path: Path) -> None:
    """With no Slack credentials, `backup-bot` alone runs the console on the demo org."""
    finished = _run([], tmp_path, "/backup policy list\nexpect pol-acme-jira\n")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "pol-acme-confluence" in finished.stdout


def test_a_malformed_setting_stops_bare_backup_bot_with_one_line(tmp_path: Path) -> None:
    """A malformed variable stops `backup-bot` with exit 2 and one line naming it."""
    finished = _run([], tmp_path, "", ATLASSIAN_SITES="acme")
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("backup-bot: ATLASSIAN_SITES is invalid")
