"""Atlassian's refusals retold in the user's words: sites by alias, fields by the option typed.

Atlassian writes its refusals for API clients: cloud ids, JSON field names, the API's own
identifiers. The bot passes on what Atlassian found, in the names the user typed, and ends
with the command that fixes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

# Each request field Atlassian may name, as the option the user typed for it.
OPTION_OF_FIELD: Final = {
    "roleIdentifier": "role=",
    "storageName": "name=",
    "storageRegion": "region=",
    "storagePrefix": "prefix=",
    "principalTag": "tag=",
    "cloudId": "site=",
    "storageId": "storage=",
    "includeAttachments": "attachments=",
    "includePersonalSpaces": "personal-spaces=",
    "includeUsersAndGroups": "users=",
}
_FIELD: Final = re.compile(r"\b(" + "|".join(OPTION_OF_FIELD) + r")\b")
_CLOUD_ID: Final = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)


def in_users_words(message: str, site_name: Callable[[str], str]) -> str:
    """Atlassian's sentence with each cloud id named by its alias and each field by its option.

    ``site_name`` returns a site's alias (or, for a site the bot has no alias for, "a site
    the bot has no alias for").
    """
    named = _CLOUD_ID.sub(lambda found: site_name(found.group(0)), message)
    return _FIELD.sub(lambda found: f"`{OPTION_OF_FIELD[found.group(1)]}`", named)


def atlassian_refused(message: str, site_name: Callable[[str], str], usage: str) -> str:
    """One sentence (plain text, escaped by whoever shows it): what Atlassian refused, in the
    user's words, and how the command is typed."""
    said = in_users_words(message, site_name).rstrip(". ")
    return f"Atlassian refused: {said}. Change the command and run it again: `{usage}`"


def atlassian_busy(message: str, site_name: Callable[[str], str], next_step: str) -> str:
    """Atlassian refused because something is already running: what, and when to try again."""
    said = in_users_words(message, site_name).rstrip(". ")
    return f"Atlassian refused: {said}. {next_step}"


SITE_WITHOUT_ALIAS: Final = "a site with no alias in ATLASSIAN_SITES"


__all__ = [
    "OPTION_OF_FIELD",
    "SITE_WITHOUT_ALIAS",
    "atlassian_busy",
    "atlassian_refused",
    "in_users_words",
]
