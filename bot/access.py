"""Who may do what: deny by default, decided from settings alone so it costs no I/O."""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

from bot.messages import access as words


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

    def channel_refusal(self, channel_id: str) -> str | None:
        """Why this channel may not be used, or None when it may."""
        if not self.channels or channel_id in self.channels:
            return None
        return words.only_in_channels(self.channels)

    def role_refusal(self, user_id: str, channel_id: str, needs: Role) -> str | None:
        """Why this user may not run a command needing ``needs`` here, or None when they may."""
        channel_refusal = self.channel_refusal(channel_id)
        if channel_refusal:
            return channel_refusal
        if needs is Role.ADMIN and user_id not in self.admins:
            return words.only_admins_change_things(self.admins)
        if needs is Role.APPROVER and user_id not in self.approvers:
            return words.only_approvers("run this command", self.admins, self.approvers)
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
            return words.only_approvers("start a restore", self.admins, self.approvers)
        if self.four_eyes and user_id == requester:
            return words.four_eyes("start this restore", requester, self.approvers)
        return None

    def consent_refusal(self, user_id: str, requester: str) -> str | None:
        """Consenting to a validation check is as destructive as starting: same rule."""
        if user_id not in self.approvers:
            return words.only_approvers("answer consent checks", self.admins, self.approvers)
        if self.four_eyes and user_id == requester:
            return words.four_eyes("give consent", requester, self.approvers)
        return None

    def cancel_refusal(self, user_id: str, requester: str) -> str | None:
        if user_id == requester or user_id in self.approvers:
            return None
        return words.only_requester_or_approver_cancels(requester)
