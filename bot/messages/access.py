"""What the bot says to someone whose role does not allow what they asked for.

Every refusal names who can help: the admins by mention when there are any, otherwise the
bot's operator and the setting that grants the role.
"""

from __future__ import annotations

from collections.abc import Collection

from bot.messages.text import listing, mention, mention_listed


def _people(users: Collection[str]) -> str:
    # BOT_ADMINS and BOT_APPROVERS may name Slack user groups (S…) beside people.
    return listing([mention_listed(user) for user in sorted(users)[:5]], "or")


def who_grants(admins: Collection[str], setting: str) -> str:
    """Who can add someone to ``setting``: an admin by name, or the bot's operator."""
    if not admins:
        return f"Nobody is an admin yet: the bot's operator must set {setting}."
    return f"Ask an admin ({_people(admins)}) or the bot's operator to add you to {setting}."


def only_in_channels(channels: Collection[str]) -> str:
    listed = ", ".join(f"<#{channel}>" for channel in sorted(channels)[:5])
    return f"This bot only answers in {listed}; run the command there."


def only_admins_change_things(admins: Collection[str]) -> str:
    return (
        f"Only bot admins may run commands that change things. {who_grants(admins, 'BOT_ADMINS')}"
    )


def only_approvers(what: str, admins: Collection[str], approvers: Collection[str]) -> str:
    """An approver-only action refused; the approvers who could do it are named."""
    others = f" {_people(approvers)} can do it now." if approvers else ""
    return f"Only restore approvers may {what}.{others} {who_grants(admins, 'BOT_APPROVERS')}"


def four_eyes(what: str, requester: str, approvers: Collection[str]) -> str:
    """The four-eyes rule: the requester may not approve their own request."""
    others = [user for user in approvers if user != requester]
    named = f" ({_people(others)})" if others else ""
    return f"Four-eyes rule: an approver other than {mention(requester)}{named} must {what}."


def only_requester_or_approver_cancels(requester: str) -> str:
    return (
        f"Only {mention(requester)}, who requested this restore, or a restore approver may "
        "cancel it."
    )
