"""What the command line says: help texts, the simulator's settings, start-up refusals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

BACKUP_BOT_DESCRIPTION = (
    "Slack chat-ops for Atlassian Cloud backup and restore. With no command, backup-bot "
    "runs `serve` when Slack credentials are configured (SLACK_BOT_TOKEN with "
    "SLACK_APP_TOKEN or SLACK_SIGNING_SECRET), and opens the local `console` otherwise."
)
BACKUP_BOT_EPILOG = (
    "`backup-bot COMMAND --help` lists a command's options with their defaults, e.g. "
    "console --script FILE --as bob --four-eyes --memory --api v2, serve --http --port 3000."
)


def simulator_settings(api: str, url: str, settings: Mapping[str, str]) -> str:
    """What the simulator prints at start: where it listens, then a `.env` ready to paste."""
    lines = [f"Simulated Atlassian backup API ({api}) at {url} (Ctrl-C stops it)", ""]
    lines.append("Settings for the bot (paste into .env):")
    lines += [f"{name}={value}" for name, value in settings.items()]
    return "\n".join(lines)


def missing_settings(names: Sequence[str]) -> str:
    """Every missing setting in one sentence."""
    if len(names) == 1:
        return f"{names[0]} is not set; set it in the environment or .env."
    return f"{', '.join(names)} are not set; set them in the environment or .env."


NO_SLACK_MODE = (
    "No Slack mode is configured: set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET "
    "(HTTP mode)."
)


def wrong_token_prefix(name: str, prefix: str, kind: str) -> str:
    return (
        f"{name} must be a Slack {kind} starting with {prefix}; it does not, so the bot did "
        "not call Slack with it."
    )


def atlassian_refused_token(hint: str) -> str:
    return f"Atlassian refused the bot's credentials at start-up. {hint}"


__all__ = [
    "BACKUP_BOT_DESCRIPTION",
    "BACKUP_BOT_EPILOG",
    "NO_SLACK_MODE",
    "atlassian_refused_token",
    "missing_settings",
    "simulator_settings",
    "wrong_token_prefix",
]
