"""Who may do what: deny by default, decided from settings alone so it costs no I/O."""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass


class Role(enum.StrEnum):
    ADMIN = "admin"
    APPROVER = "approver"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    admins: frozenset[str]
    approvers: frozenset[str]
    channels: frozenset[str]
    four_eyes: bool = False

    @classmethod
    def build(
        cls,
        *,
        admins: Collection[str],
        approvers: Collection[str] = (),
        channels: Collection[str] = (),
        four_eyes: bool = False,
    ) -> AccessPolicy:
        return cls(
            admins=frozenset(admins),
            approvers=frozenset(approvers or admins),
            channels=frozenset(channels),
            four_eyes=four_eyes,
        )

    def roles(self, user_id: str) -> list[Role]:
        roles = []
        if user_id in self.admins:
            roles.append(Role.ADMIN)
        if user_id in self.approvers:
            roles.append(Role.APPROVER)
        return roles or [Role.VIEWER]

    def _who_grants(self) -> str:
        if not self.admins:
            return "Nobody is an admin yet: the bot's operator must set BOT_ADMINS."
        listed = ", ".join(f"<@{admin}>" for admin in sorted(self.admins)[:5])
        return f"Ask an admin ({listed}) or the bot's operator to add you to BOT_ADMINS."

    def channel_refusal(self, channel_id: str) -> str | None:
        """Why this channel may not be used, or None when it may."""
        if not self.channels or channel_id in self.channels:
            return None
        listed = ", ".join(f"<#{channel}>" for channel in sorted(self.channels)[:5])
        return f"This bot only answers in {listed}; run the command there."

    def role_refusal(self, user_id: str, channel_id: str, needs: Role) -> str | None:
        """Why this user may not run a command needing ``needs`` here, or None when they may."""
        channel_refusal = self.channel_refusal(channel_id)
        if channel_refusal:
            return channel_refusal
        if needs is Role.ADMIN and user_id not in self.admins:
            return f"Only bot admins may run commands that change things. {self._who_grants()}"
        if needs is Role.APPROVER and user_id not in self.approvers:
            return (
                "Only restore approvers may run this command. Ask the bot's operator to add you "
                "to BOT_APPROVERS."
            )
        return None

    def command_refusal(self, user_id: str, channel_id: str, *, changes_things: bool) -> str | None:
        """Why this user may not run this command here, or None when they may.

        For callers that know only whether the command changes things (the restore form);
        a parsed command's role comes from its declaration, see :meth:`role_refusal`.
        """
        return self.role_refusal(user_id, channel_id, Role.ADMIN if changes_things else Role.VIEWER)

    def start_refusal(self, user_id: str, requester: str) -> str | None:
        """Why this user may not start a restore requested by ``requester``, or None."""
        if user_id not in self.approvers:
            return (
                "Only restore approvers may start a restore. Ask the bot's operator to add you "
                "to BOT_APPROVERS."
            )
        if self.four_eyes and user_id == requester:
            return (
                "Four-eyes rule: a different approver than the requester must start this restore."
            )
        return None

    def consent_refusal(self, user_id: str, requester: str) -> str | None:
        """Consenting to a validation check is as destructive as starting: same rule."""
        if user_id not in self.approvers:
            return (
                "Only restore approvers may answer consent checks. Ask the bot's operator to add "
                "you to BOT_APPROVERS."
            )
        if self.four_eyes and user_id == requester:
            return "Four-eyes rule: a different approver than the requester must give consent."
        return None

    def cancel_refusal(self, user_id: str, requester: str) -> str | None:
        if user_id == requester or user_id in self.approvers:
            return None
        return "Only the requester or a restore approver may cancel this restore."
