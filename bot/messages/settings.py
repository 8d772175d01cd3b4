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


def slack_refused_token(name: str, error: str) -> str:
    return f"{name} was refused by Slack ({error})."


def slack_unreachable(problem: object) -> str:
    return f"SLACK_API_URL: cannot reach Slack ({problem})."


def redis_unreachable(url: str, problem: object) -> str:
    return f"REDIS_URL: cannot reach Redis at {url} ({problem})."


GROUP_TRUST_SHORTER_THAN_CACHE = (
    "BOT_GROUP_STALE_SECONDS must be at least BOT_GROUP_CACHE_SECONDS: a reading of "
    "a user group is trusted at least as long as it is cached."
)


def redis_mode_unreachable(mode: str, where: str, problem: object) -> str:
    return f"Redis ({mode}): cannot reach {where} ({problem})."


def setting_invalid(name: str, problem: str) -> str:
    return f"{name} is invalid: {problem}."


def account_id_needed_to(api_name: str, operation: str) -> str:
    return f"ATLASSIAN_ACCOUNT_ID is not set; {api_name} needs it to {operation}."


def account_id_needed(api_name: str) -> str:
    return (
        f"ATLASSIAN_ACCOUNT_ID is not set; {api_name} needs the org admin's "
        "Atlassian account id (sent as X-Atl-Account-Id) to activate policies: set it, "
        "or set ATLASSIAN_API_VERSION=v1 for an org in the EAP."
    )


def api_version_switch(api_name: str, version: str, default_url: str) -> str:
    return (
        f"if the org uses {api_name}, set ATLASSIAN_API_VERSION={version} "
        f"(and ATLASSIAN_API_URL to {default_url} or your proxy of it)"
    )


def probe_answered(status: str, tried: str, switch: str) -> str:
    return f"Atlassian answered {status} to {tried}; {switch}."


def probe_unreadable(tried: str, problem: str, switch: str | None = None) -> str:
    if switch is None:
        return f"The policy list from {tried} could not be read: {problem}"
    return f"The policy list from {tried} could not be read ({problem}); {switch}."


__all__ = [
    "BACKUP_BOT_DESCRIPTION",
    "BACKUP_BOT_EPILOG",
    "GROUP_TRUST_SHORTER_THAN_CACHE",
    "NO_SLACK_MODE",
    "account_id_needed",
    "account_id_needed_to",
    "api_version_switch",
    "atlassian_refused_token",
    "missing_settings",
    "probe_answered",
    "probe_unreadable",
    "redis_mode_unreachable",
    "redis_unreachable",
    "setting_invalid",
    "simulator_settings",
    "slack_refused_token",
    "slack_unreachable",
    "wrong_token_prefix",
]
