"""The restore card's buttons and the restore form: Bolt listeners in front of the workflow.

Each listener acknowledges first (nothing but parsing stands before ``ack()``), then hands
the click to ``RestoreWorkflow`` (bot/restore/workflow.py), which decides, calls Atlassian
and redraws the card. What the workflow answers is a typed result; this module words it
for the clicker alone. The workflow never sees Slack's payloads, and this module never
decides anything about a restore.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian import rules
from bot.atlassian.models import Product
from bot.errors import BotError, RestoreRefused
from bot.messages import restore as rt
from bot.restore.clicks import Checking, ClickResult
from bot.restore.workflow import RestoreRequest, RestoreWorkflow
from bot.runtime import Services
from bot.slack import blocks
from bot.slack import commands as cmd
from bot.slack import restore_blocks as rb
from bot.slack.handlers import Invocation, Reply, make_reply, run_reporting_failures

log = logging.getLogger(__name__)

ClickWork = Callable[[str, str, str], Awaitable[ClickResult]]


class RestoreHandlers:
    """Bolt listeners for the restore card and form, and ``/restore start``."""

    def __init__(
        self, services: Services, workflow: RestoreWorkflow, slack: AsyncWebClient
    ) -> None:
        self._services = services
        self._workflow = workflow
        self._slack = slack

    def register(self, app: AsyncApp) -> None:
        app.action(rb.ACTION_START)(self._on_start_click)
        app.action(rb.ACTION_CANCEL)(self._on_cancel_click)
        app.action(re.compile("^" + re.escape(rb.ACTION_ANSWER_PREFIX)))(self._on_answer_click)
        app.action(rb.MODAL_PRODUCT_ACTION)(self._on_modal_product)
        app.view(rb.MODAL_CALLBACK)(self._on_modal_submit)

    # -- requesting --------------------------------------------------------------------

    async def start(self, command: cmd.RestoreStart, who: Invocation, reply: Reply) -> None:
        """``/restore start``: the workflow checks, records and posts the card, or refuses."""
        try:
            await self._workflow.request(
                RestoreRequest(
                    backup_id=command.backup_id,
                    dest_cloud_id=command.dest_cloud_id,
                    dest_label=command.dest_label,
                    include_attachments=command.include_attachments,
                    include_users_and_groups=command.include_users_and_groups,
                    requester=who.user_id,
                    channel=who.channel_id,
                )
            )
        except RestoreRefused as refused:
            link = await self._permalink(refused.card_channel, refused.card_ts)
            if link is None:
                raise
            raise RestoreRefused(
                f"{refused.reason} {rt.open_card(link)}",
                refused.possible_from,
                mrkdwn=True,
            ) from refused

    async def _permalink(self, channel: str | None, ts: str | None) -> str | None:
        """A link to a card, when Slack gives one; a refusal reads fine without it."""
        if not channel or not ts:
            return None
        try:
            answer = await self._slack.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError:
            log.info("no permalink for %s/%s", channel, ts, exc_info=True)
            return None
        link = answer.get("permalink")
        return link if isinstance(link, str) else None

    # -- the card's buttons --------------------------------------------------------------

    async def _on_start_click(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await self._clicked(ack, body, action, respond, "the Start button", self._start)

    async def _on_cancel_click(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await self._clicked(ack, body, action, respond, "the Cancel button", self._cancel)

    async def _on_answer_click(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await self._clicked(ack, body, action, respond, "a consent button", self._answer)

    async def _start(self, session_id: str, user: str, action_id: str) -> ClickResult:
        return await self._workflow.start_clicked(session_id, user)

    async def _cancel(self, session_id: str, user: str, action_id: str) -> ClickResult:
        return await self._workflow.cancel_clicked(session_id, user)

    async def _answer(self, session_id: str, user: str, action_id: str) -> ClickResult:
        parsed = rb.parse_answer_action_id(action_id)
        check, consent = parsed if parsed is not None else ("", "")
        return await self._workflow.answer_clicked(session_id, user, check=check, consent=consent)

    async def _clicked(
        self,
        ack: Any,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Any,
        what: str,
        work: ClickWork,
    ) -> None:
        async with self._services.pending.track():
            await ack()
            user = str(body.get("user", {}).get("id", ""))
            channel = str((body.get("channel") or {}).get("id", ""))
            reply = make_reply(respond, self._slack, Invocation(user_id=user, channel_id=channel))
            session_id = str(action.get("value", ""))
            action_id = str(action.get("action_id", ""))
            await run_reporting_failures(
                what, reply, self._answer_click(reply, work(session_id, user, action_id))
            )

    async def _answer_click(self, reply: Reply, click: Awaitable[ClickResult]) -> None:
        result = await click
        said = rt.click_reply(result)
        if said is not None:
            await reply(blocks.error_message(said, trusted=True))
        if isinstance(result, Checking):
            # Told first, settled after: the clicker must not wait in silence for Redis.
            settled = await self._workflow.settle(result)
            await reply(blocks.error_message(rt.settled_reply(settled), trusted=True))

    # -- the modal -----------------------------------------------------------------------

    async def open_modal(self, trigger_id: str, who: Invocation) -> None:
        """Open at once with the product picker: no I/O stands between the ack and views.open."""
        view = rb.restore_modal(
            channel_id=who.channel_id, product=None, backups=[], destinations=[]
        )
        await self._slack.views_open(trigger_id=trigger_id, view=view)

    async def _on_modal_product(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        async with self._services.pending.track():
            await ack()
            try:
                await self._fill_modal(body, action)
            except Exception:
                # A view action has no response_url: the log is the only place left to tell.
                log.exception("could not fill the restore form")

    async def _fill_modal(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        view = body.get("view") or {}
        view_id = str(view.get("id", ""))
        channel_id = str(view.get("private_metadata", ""))
        selected = (action.get("selected_option") or {}).get("value", "")
        try:
            product = Product(selected)
        except ValueError:
            return
        await self._slack.views_update(
            view_id=view_id, view=rb.loading_modal(channel_id=channel_id)
        )
        note = None
        try:
            backups = await self._restorable_backups(product)
        except BotError as exc:
            backups, note = [], exc.user_message
        destinations = sorted(self._services.sites.aliases.items())
        await self._slack.views_update(
            view_id=view_id,
            view=rb.restore_modal(
                channel_id=channel_id,
                product=product,
                backups=backups,
                destinations=destinations,
                note=note,
            ),
        )

    async def _restorable_backups(self, product: Product) -> list[rb.RestorableBackup]:
        now = self._services.clock.now()
        sites = self._services.sites
        return [
            rb.RestorableBackup(
                backup=backup,
                site=sites.name(backup.cloud_id),
                age=rules.describe_age(backup.created_at, now) if backup.created_at else "?",
                expiry=rules.backup_expiry(backup),
            )
            for backup in await self._workflow.restorable_backups(product)
        ]

    async def _on_modal_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async with self._services.pending.track():
            await self._submit_modal(ack, body, view)

    async def _submit_modal(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = (view.get("state") or {}).get("values") or {}

        def picked(block: str, action: str) -> str | None:
            option = (values.get(block, {}).get(action) or {}).get("selected_option") or {}
            value = option.get("value")
            return str(value) if value else None

        backup_choice = picked(rb.BLOCK_BACKUP, rb.ACTION_BACKUP)
        backup_id, source_cloud_id = (
            rb.parse_backup_option_value(backup_choice) if backup_choice else (None, None)
        )
        dest_cloud_id = picked(rb.BLOCK_DEST, rb.ACTION_DEST)
        errors = {}
        if not backup_id:
            errors[rb.BLOCK_BACKUP] = "Pick a backup to restore."
        if not dest_cloud_id:
            errors[rb.BLOCK_DEST] = "Pick the site to restore onto."
        elif source_cloud_id and dest_cloud_id.lower() == source_cloud_id.lower():
            errors[rb.BLOCK_DEST] = (
                "The backup was taken from this site; pick another site to restore onto."
            )
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        channel = str(view.get("private_metadata", ""))
        who = Invocation(user_id=user, channel_id=channel)
        reply = make_reply(_no_response_url, self._slack, who)
        refusal = self._services.access.command_refusal(user, channel, changes_things=True)
        if refusal:
            await reply(blocks.error_message(refusal, trusted=True))
            return
        chosen = (values.get(rb.BLOCK_OPTIONS, {}).get(rb.ACTION_OPTIONS) or {}).get(
            "selected_options"
        ) or []
        options = {str(o.get("value")) for o in chosen}
        command = cmd.RestoreStart(
            backup_id=backup_id or "",
            dest_cloud_id=dest_cloud_id or "",
            dest_label=self._services.sites.name(dest_cloud_id),
            include_attachments="attachments" in options,
            include_users_and_groups="users" in options,
        )
        await run_reporting_failures("the restore form", reply, self.start(command, who, reply))


async def _no_response_url(**_: Any) -> None:
    raise RuntimeError("view submissions carry no response_url")


__all__ = ["RestoreHandlers"]
