"""Who may do what: deny by default, decided without I/O (it runs before Slack's ack).

A role is held by a user listed by id in ``BOT_ADMINS`` / ``BOT_APPROVERS`` or by a member of
a Slack user group listed there (``S…``), as last read by the ``GroupRoster``
(``bot.access.groups``). Four-eyes compares people: the requester's user id with the
clicker's, whatever group either belongs to. A group whose members cannot be known (Slack
has not answered for longer than the roster trusts a reading) grants nothing, and a user
who might hold the role only through it is refused changes with a sentence saying why.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

from bot.access.groups import Grant, GroupRoster, is_group_id
from bot.messages import access as words
from bot.messages import roles as role_texts


class Role(enum.StrEnum):
    ADMIN = "admin"
    APPROVER = "approver"
    VIEWER = "viewer"


DIRECT: str = ""


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """A role a user holds, and the user group it comes through (None: listed by id)."""

    role: Role
    via_group: str | None


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    # User ids and user group ids, as listed in the settings.
    admins: frozenset[str]
    approvers: frozenset[str]
    channels: frozenset[str]
    four_eyes: bool = False
    groups: GroupRoster | None = None

    @classmethod
    def build(
        cls,
        *,
        admins: Collection[str],
        approvers: Collection[str] = (),
        channels: Collection[str] = (),
        four_eyes: bool = False,
        groups: GroupRoster | None = None,
    ) -> AccessPolicy:
        return cls(
            admins=frozenset(admins),
            approvers=frozenset(approvers or admins),
            channels=frozenset(channels),
            four_eyes=four_eyes,
            groups=groups,
        )

    @staticmethod
    def group_ids(*lists: Collection[str]) -> frozenset[str]:
        """The user group ids among settings' lists, for the roster to read."""
        return frozenset(entry for listed in lists for entry in listed if is_group_id(entry))

    def _holds(self, user_id: str, role: Role) -> Grant:
        listed = self.admins if role is Role.ADMIN else self.approvers
        if user_id in listed:
            return Grant(via=DIRECT)
        groups = sorted(entry for entry in listed if is_group_id(entry))
        if not groups:
            return Grant()
        if self.groups is None:
            return Grant(unknown=tuple(groups))
        return self.groups.grant(user_id, groups)

    def is_admin(self, user_id: str) -> bool:
        return self._holds(user_id, Role.ADMIN).granted

    def is_approver(self, user_id: str) -> bool:
        return self._holds(user_id, Role.APPROVER).granted

    def grants(self, user_id: str) -> list[RoleGrant]:
        """The roles ``user_id`` holds and where each comes from; empty for a viewer."""
        held = []
        for role in (Role.ADMIN, Role.APPROVER):
            grant = self._holds(user_id, role)
            if grant.granted:
                held.append(RoleGrant(role, grant.via or None))
        return held

    def roles(self, user_id: str) -> list[Role]:
        return [grant.role for grant in self.grants(user_id)] or [Role.VIEWER]

    def _unknown_refusal(self, grant: Grant, role: Role) -> str | None:
        if not grant.unknown:
            return None
        minutes = self.groups.problem_minutes(grant.unknown) if self.groups else None
        return role_texts.membership_unknown(role.value, grant.unknown, minutes)

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
        if needs is Role.VIEWER:
            return None
        grant = self._holds(user_id, needs)
        if grant.granted:
            return None
        unknown = self._unknown_refusal(grant, needs)
        if unknown:
            return unknown
        if needs is Role.ADMIN:
            return words.only_admins_change_things(self.admins)
        return words.only_approvers("run this command", self.admins, self.approvers)

    def command_refusal(self, user_id: str, channel_id: str, *, changes_things: bool) -> str | None:
        """Why this user may not run this command here, or None when they may.

        For callers that know only whether the command changes things (the restore form);
        a parsed command's role comes from its declaration, see :meth:`role_refusal`.
        """
        return self.role_refusal(user_id, channel_id, Role.ADMIN if changes_things else Role.VIEWER)

    def _decider_refusal(
        self, user_id: str, requester: str, doing: str, doing_here: str
    ) -> str | None:
        grant = self._holds(user_id, Role.APPROVER)
        if not grant.granted:
            return self._unknown_refusal(grant, Role.APPROVER) or words.only_approvers(
                doing, self.admins, self.approvers
            )
        if self.four_eyes and user_id == requester:
            return words.four_eyes(doing_here, requester, self.approvers)
        return None

    def start_refusal(self, user_id: str, requester: str) -> str | None:
        """Why this user may not start a restore requested by ``requester``, or None."""
        return self._decider_refusal(user_id, requester, "start a restore", "start this restore")

    def consent_refusal(self, user_id: str, requester: str) -> str | None:
        """Consenting to a validation check is as destructive as starting: same rule."""
        return self._decider_refusal(user_id, requester, "answer consent checks", "give consent")

    def cancel_refusal(self, user_id: str, requester: str) -> str | None:
        if user_id == requester:
            return None
        grant = self._holds(user_id, Role.APPROVER)
        if grant.granted:
            return None
        return self._unknown_refusal(
            grant, Role.APPROVER
        ) or words.only_requester_or_approver_cancels(requester)
