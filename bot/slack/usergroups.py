"""The Slack side of user-group roles: members read with ``usergroups.users.list``."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.access.groups import GroupRoster


class SlackGroupMembers:
    """``GroupMembersSource`` over the Web API (scope ``usergroups:read``)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def members(self, group_id: str) -> frozenset[str]:
        response = await self._client.usergroups_users_list(usergroup=group_id)
        users = response.get("users") or []
        return frozenset(str(user) for user in users)


def register_group_events(app: AsyncApp, roster: GroupRoster | None) -> None:
    """``subteam_members_changed``: read that group again at once, not at the end of the TTL.

    Subscribed in the manifest whatever the settings, so it is answered (and ignored) when
    no role comes from a user group.
    """

    async def on_members_changed(event: dict[str, Any]) -> None:
        group_id = str(event.get("subteam_id", ""))
        if roster is not None and group_id:
            await roster.refresh([group_id], force=True)

    app.event("subteam_members_changed")(on_members_changed)


__all__ = ["SlackGroupMembers", "register_group_events"]
