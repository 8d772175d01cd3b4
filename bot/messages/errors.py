"""The one sentence each error of bot/errors.py says to a user, with its next step."""

from __future__ import annotations

ATLASSIAN_HINT = "Try again later; if it keeps failing, check the API's status."
AUTH_HINT = (
    "Check ATLASSIAN_EMAIL and ATLASSIAN_API_TOKEN (an org admin's API token from "
    "id.atlassian.com)."
)
FORBIDDEN_HINT = (
    "The API token's owner must be an org admin of ATLASSIAN_ORG_ID and the org must be "
    "entitled to backup and restore."
)
NOT_FOUND_HINT = "Check the id; list commands show the ids that exist."
RULE_HINT = "Change the request as the message says."
CONFLICT_HINT = "Wait for the running operation to finish, then try again."


def did_you_mean(suggestion: str) -> str:
    return f" Did you mean `{suggestion}`?"


def usage(line: str) -> str:
    return f" Usage: `{line}`"


def atlassian_said(message: str, hint: str) -> str:
    return f"Atlassian said: {message.rstrip('.')}. {hint}"


def credentials_refused(hint: str) -> str:
    return f"Atlassian refused the bot's credentials. {hint}"


def not_permitted(hint: str) -> str:
    return f"Atlassian refused the request as not permitted or not entitled. {hint}"


def unknown_id(hint: str) -> str:
    return f"Atlassian does not know that id. {hint}"


def refused(message: str) -> str:
    return f"Atlassian refused: {message.rstrip('.')}."


def refused_busy(message: str, hint: str) -> str:
    return f"Atlassian refused: {message.rstrip('.')}. {hint}"


def rate_limited(retry_after: float | None) -> str:
    wait = f"{retry_after:.0f} s" if retry_after else "a minute"
    return f"Atlassian is rate-limiting the bot; try again in {wait}."


UNAVAILABLE = "The Atlassian backup API is not answering right now; try again in a few minutes."
OUTCOME_UNKNOWN = (
    "Atlassian did not confirm the request and the bot could not find its result; check the "
    "list command before trying again, so nothing runs twice."
)
UNREADABLE = "Atlassian answered in a form the bot cannot read; the details are in the bot's log."
