"""The `backup-bot` entry point: what bare `backup-bot` starts, and bad settings at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SLACK_AND_REDIS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "REDIS_URL")


def _run(
    args: list[str],
    tmp_path: Path,
    stdin: str = "",
    *,
    drop: tuple[str, ...] = SLACK_AND_REDIS,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    """`backup-bot ARGS` without the variables in ``drop``, with ``extra_env``, no .env file."""
    env = {key: value for key, value in os.environ.items() if key not in drop}
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


SETTINGS = ("ATLASSIAN_ORG_ID", "ATLASSIAN_EMAIL", "ATLASSIAN_API_TOKEN", "ATLASSIAN_API_URL")


def _run_bare(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`backup-bot ARGS` with no bot settings at all but ``env``."""
    return _run(args, tmp_path, drop=SLACK_AND_REDIS + SETTINGS, **env)


def test_help_says_what_the_bare_command_does_and_every_option_shows_its_default(
    tmp_path: Path,
) -> None:
    """`backup-bot --help` explains bare `backup-bot`; each option with a default says it."""
    from bot.__main__ import build_parser

    top = _run_bare(["--help"], tmp_path)
    assert top.returncode == 0
    said = " ".join(top.stdout.split())
    assert "runs `serve` when Slack credentials are configured" in said
    assert "opens the local `console` otherwise" in said
    assert "--as bob" in said
    parser = build_parser()
    commands = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if action.default in (None, False, "==SUPPRESS==") or action.dest == "help":
                continue
            assert "default" in (action.help or ""), f"{name} {action.option_strings}"


def test_serve_without_settings_names_every_missing_one_and_the_slack_modes(
    tmp_path: Path,
) -> None:
    """All missing settings in one line, with how to choose Socket Mode or HTTP mode."""
    finished = _run_bare(["serve"], tmp_path)
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == [
        "backup-bot: SLACK_BOT_TOKEN, ATLASSIAN_ORG_ID, ATLASSIAN_EMAIL, ATLASSIAN_API_TOKEN "
        "are not set; set them in the environment or .env. No Slack mode is configured: set "
        "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)."
    ]


def test_a_token_without_its_slack_prefix_is_refused_before_slack_is_called(
    tmp_path: Path,
) -> None:
    """A bot token that is not xoxb-… stops start-up naming the prefix (Slack is never asked)."""
    finished = _run_bare(
        ["serve"],
        tmp_path,
        SLACK_BOT_TOKEN="xapp-looks-like-an-app-token",
        SLACK_SIGNING_SECRET="signing-secret-9911",
        ATLASSIAN_ORG_ID="org",
        ATLASSIAN_EMAIL="a@example.com",
        ATLASSIAN_API_TOKEN="atlassian-token-4411",
        # Nothing listens here: reaching Slack would fail differently.
        SLACK_API_URL="http://127.0.0.1:9/api/",
    )
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == [
        "backup-bot: SLACK_BOT_TOKEN must be a Slack bot token starting with xoxb-; it does "
        "not, so the bot did not call Slack with it."
    ]
    assert "xapp-looks-like" not in finished.stderr
