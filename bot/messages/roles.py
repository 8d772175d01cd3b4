"""What people are told about roles that come from Slack user groups."""

from __future__ import annotations

from collections.abc import Sequence

from bot.messages.text import group_mention


def role_line(role: str, via_group: str | None) -> str:
    """One role in ``/backup whoami``: where it comes from."""
    if via_group is None:
        return f"*{role}* (listed by name in the bot's settings)"
    return f"*{role}* (as a member of the Slack user group {group_mention(via_group)})"


def membership_unknown(role: str, groups: Sequence[str], minutes: int | None) -> str:
    """A change refused because the groups that could grant the role cannot be read."""
    named = ", ".join(group_mention(group) for group in groups)
    since = (
        "the bot has not been able to read them yet"
        if minutes is None
        else f"Slack has not answered for {minutes} minutes"
    )
    return (
        f"The {role} role comes from Slack user groups ({named}) whose members the bot cannot "
        f"check right now: {since}, so changes and decisions are refused to be safe. Read-only "
        "commands still work; try again in a few minutes."
    )


__all__ = ["membership_unknown", "role_line"]
