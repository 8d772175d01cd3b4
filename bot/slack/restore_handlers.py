"""The restore card's buttons and `/restore start`: Bolt listeners in front of the workflow.

Each listener acknowledges first (nothing but parsing stands before ``ack()``), then hands
the click to ``RestoreWorkflow`` (bot/restore/workflow.py), which decides, calls Atlassian
and redraws the card. What the workflow answers is a typed result; this module words it
for the clicker alone. The workflow never sees Slack's payloads, and this module never
decides anything about a restore.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import RestoreRefused
from bot.messages import restore as rt
from bot.restore.clicks import Checking, ClickOrigin, ClickResult, NotAllowed, Refused
from bot.restore.workflow import RestoreRequest, RestoreWorkflow
from bot.runtime import Services
from bot.slack import blocks
from bot.slack import commands as cmd
from bot.slack import restore_blocks as rb
from bot.slack.answer_window import AnswerWindow
from bot.slack.handlers import Invocation, Reply, make_reply, run_reporting_failures

log = logging.getLogger(__name__)

ClickWork = Callable[[str, str, str, ClickOrigin], Awaitable[ClickResult]]

#: Clicks whose post-ack work may run at once; a storm of clicks on one card waits its turn,
#: already acknowledged, instead of asking Redis for a connection per click (its pool is
#: bounded, and a click that found it full would fail).
MAX_CONCURRENT_CLICKS = 32


class RestoreHandlers:
    """Bolt listeners for the restore card, and ``/restore start``."""

    def __init__(
        self, services: Services, workflow: RestoreWorkflow, slack: AsyncWebClient
    ) -> None:
        self._services = services
        self._workflow = workflow
        self._slack = slack
        self._click_slots = asyncio.Semaphore(MAX_CONCURRENT_CLICKS)
        self._refusals_told = AnswerWindow(services.clock)

    def register(self, app: AsyncApp) -> None:
        app.action(rb.ACTION_START)(self._on_start_click)
        app.action(rb.ACTION_CANCEL)(self._on_cancel_click)
        app.action(re.compile("^" + re.escape(rb.ACTION_ANSWER_PREFIX)))(self._on_answer_click)

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
                    team_id=who.team_id or None,
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

    async def _start(
        self, session_id: str, user: str, action_id: str, origin: ClickOrigin
    ) -> ClickResult:
        return await self._workflow.start_clicked(session_id, user, origin=origin)

    async def _cancel(
        self, session_id: str, user: str, action_id: str, origin: ClickOrigin
    ) -> ClickResult:
        return await self._workflow.cancel_clicked(session_id, user, origin=origin)

    async def _answer(
        self, session_id: str, user: str, action_id: str, origin: ClickOrigin
    ) -> ClickResult:
        parsed = rb.parse_answer_action_id(action_id)
        if parsed is None:
            return await self._workflow.unknown_action(session_id, user, action_id)
        check, consent = parsed
        return await self._workflow.answer_clicked(
            session_id, user, origin=origin, check=check, consent=consent
        )

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
            click = work(session_id, user, action_id, click_origin(body))
            await run_reporting_failures(
                what, reply, self._answer_click(reply, (user, action_id), click)
            )

    async def _answer_click(
        self, reply: Reply, clicker: tuple[str, str], click: Awaitable[ClickResult]
    ) -> None:
        """Run the click in a slot and tell the clicker what came of it.

        ``clicker`` is the user and the button they pressed: with the sentence, what makes
        a refusal identical to one told just now.
        """
        async with self._click_slots:
            result = await click
            said = rt.click_reply(result)
            if said is not None and self._tell(clicker, result, said):
                await reply(blocks.error_message(said, trusted=True))
        if isinstance(result, Checking):
            # Told first, settled after: the clicker must not wait in silence for Redis.
            settled = await self._workflow.settle(result)
            await reply(blocks.error_message(rt.settled_reply(settled), trusted=True))

    def _tell(self, clicker: tuple[str, str], result: ClickResult, said: str) -> bool:
        """Whether to say ``said``: a refusal told to this person for this button just now
        is not said again."""
        if not isinstance(result, Refused | NotAllowed):
            return True
        user, action_id = clicker
        return self._refusals_told.first_in_window(user, result.session_id, action_id, said)


def click_origin(body: dict[str, Any]) -> ClickOrigin:
    """Where Slack says a click was made: its workspace, channel and message."""
    container = body.get("container") or {}
    team = body.get("team") or {}
    channel = body.get("channel") or {}
    message = body.get("message") or {}
    return ClickOrigin(
        team_id=str(team.get("id", "") if isinstance(team, dict) else ""),
        channel=str(container.get("channel_id") or channel.get("id") or ""),
        message_ts=str(container.get("message_ts") or message.get("ts") or ""),
    )


__all__ = ["RestoreHandlers"]
