"""What the storage and policy commands do once acknowledged: create, show, update, activate.

Part of ``CommandHandlers`` (bot/slack/handlers.py), kept apart because a policy change is
the one answer that must compare before and after: each changed option is said as
``before → after``, and storages are named rather than shown as ids.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.atlassian.client import UNSET, AtlassianClient
from bot.atlassian.models import Product
from bot.config import SiteDirectory
from bot.errors import BotError, NotFoundError, Refused, UsageError
from bot.messages import policies as policy_words
from bot.slack import blocks, policy_blocks
from bot.slack import commands as cmd
from bot.slack.blocks import Message
from bot.slack.commands import escape_mrkdwn
from bot.slack.invocation import Invocation

log = logging.getLogger(__name__)

Reply = Callable[[Message], Awaitable[None]]


class PolicyCommands:
    """The storage and policy commands; ``CommandHandlers`` supplies the client and cards."""

    _atlassian: AtlassianClient
    _sites: SiteDirectory

    if TYPE_CHECKING:
        # CommandHandlers' own: the clock's now, a site's name, and a change posted in the
        # channel (or told privately when Slack refuses the card).
        @property
        def _now(self) -> datetime: ...

        def _site(self, cloud_id: str | None) -> str: ...

        async def announce_change(
            self, who: Invocation, reply: Reply, message: Message, line: str
        ) -> None: ...

    async def policy_list(self, command: cmd.PolicyList, who: Invocation, reply: Reply) -> None:
        policies = await self._atlassian.list_policies()
        names = await self._storage_names()
        await reply(policy_blocks.policies_message(policies, self._sites, names))

    async def policy_show(self, command: cmd.PolicyShow, who: Invocation, reply: Reply) -> None:
        policy = await self._atlassian.get_policy(command.policy_id)
        names = await self._storage_names()
        await reply(policy_blocks.policy_message(policy, self._sites, self._now, names))

    async def storage_create(
        self, command: cmd.StorageCreate, who: Invocation, reply: Reply
    ) -> None:
        storage = await self._atlassian.create_storage(
            name=command.name,
            region=command.region,
            prefix=command.prefix,
            role_identifier=command.role,
            principal_tag=command.tag,
            cloud_id=command.cloud_id,
        )
        await self.announce_change(
            who,
            reply,
            blocks.storage_message(storage, self._sites),
            policy_words.storage_created(who.user_id),
        )

    async def policy_create(self, command: cmd.PolicyCreate, who: Invocation, reply: Reply) -> None:
        if isinstance(command.storage_id, str):
            await self._check_storage_of(command.cloud_id, command.storage_id, "the new policy")
        policy = await self._atlassian.create_policy(
            cloud_id=command.cloud_id,
            product=command.product,
            include_attachments=command.include_attachments,
            include_personal_spaces=command.include_personal_spaces,
            storage_id=command.storage_id,
        )
        await self.announce_change(
            who,
            reply,
            policy_blocks.policy_message(
                policy, self._sites, self._now, await self._storage_names()
            ),
            policy_words.policy_created(who.user_id),
        )

    async def policy_update(self, command: cmd.PolicyUpdate, who: Invocation, reply: Reply) -> None:
        try:
            current = await self._atlassian.get_policy(command.policy_id)
        except NotFoundError:
            raise Refused(policy_words.no_such_policy(command.policy_id)) from None
        if isinstance(command.storage_id, str):
            await self._check_storage_of(
                current.cloud_id, command.storage_id, f"policy `{current.policy_id}`"
            )
        if command.include_personal_spaces is not None and current.product != Product.CONFLUENCE:
            raise UsageError(
                "personal-spaces applies only to Confluence policies.", cmd.PolicyUpdate.usage
            )
        storage: str | Any | None = UNSET
        if command.storage_id is cmd.ATLASSIAN_STORAGE:
            storage = None
        elif isinstance(command.storage_id, str):
            storage = command.storage_id
        policy = await self._atlassian.update_policy(
            command.policy_id,
            storage_id=storage,
            include_attachments=command.include_attachments,
            include_personal_spaces=command.include_personal_spaces,
        )
        names = await self._storage_names()
        await self.announce_change(
            who,
            reply,
            policy_blocks.policy_message(policy, self._sites, self._now, names),
            policy_words.policy_updated(
                who.user_id, policy.policy_id, policy_words.policy_changes(current, policy, names)
            ),
        )

    async def _storage_names(self) -> dict[str, str]:
        """Storage names by id, so policies name their storage; none when it cannot be listed."""
        try:
            storages = await self._atlassian.list_storages()
        except BotError:
            log.info("could not list storages for their names", exc_info=True)
            return {}
        return {s.storage_id: s.storage_name for s in storages if s.storage_name}

    async def _check_storage_of(self, cloud_id: str, storage_id: str, what: str) -> None:
        """A policy's storage must exist and belong to the policy's site; say which is wrong."""
        site = escape_mrkdwn(self._site(cloud_id))
        try:
            storage = await self._atlassian.get_storage(storage_id)
        except NotFoundError:
            raise Refused(policy_words.no_such_storage(storage_id, site)) from None
        if storage.cloud_id and storage.cloud_id.lower() != cloud_id.lower():
            raise Refused(
                policy_words.storage_of_another_site(
                    escape_mrkdwn(storage.storage_name or storage.storage_id),
                    escape_mrkdwn(self._site(storage.cloud_id)),
                    site,
                    what,
                )
            )

    async def policy_activate(
        self, command: cmd.PolicyActivate, who: Invocation, reply: Reply
    ) -> None:
        profile = self._atlassian.profile
        if not profile.has_activation:
            raise Refused(
                f"{profile.name[0].upper()}{profile.name[1:]} has no policy activation: its "
                "policies are active from the start and back up when `/backup run` asks."
            )
        await self._atlassian.activate_policy(command.policy_id)
        policy = await self._atlassian.get_policy(command.policy_id)
        await self.announce_change(
            who,
            reply,
            policy_blocks.policy_message(
                policy, self._sites, self._now, await self._storage_names()
            ),
            policy_words.policy_activated(who.user_id),
        )


__all__ = ["PolicyCommands"]
