"""The restore card's buttons and `/restore start`, in front of the workflow.

A click is acknowledged first (nothing but reading its payload stands before the ack):
over HTTP by ``serve.http_application``, which hands it to ``RestoreHandlers.take``
without Bolt's dispatch, and over Socket Mode by the Bolt listener registered here. Either
way it is queued as a ``CardClick`` and a worker hands it to ``RestoreWorkflow``
(bot/restore/workflow.py), which decides, calls Atlassian and redraws the card. What the
workflow answers is a typed result; this module words it for the clicker alone. The
workflow never sees Slack's payloads, and this module never decides anything about a
restore.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import RestoreRefused
from bot.messages import restore as rt
from bot.observability import metrics
from bot.observability.context import (
    Outcome,
    RequestKind,
    RequestScope,
    close_request,
    current_request,
    enter_request,
    new_scope,
    note_outcome,
)
from bot.restore.clicks import Checking, ClickOrigin, ClickResult, NotAllowed, Refused
from bot.restore.workflow import RestoreRequest, RestoreWorkflow
from bot.runtime import Services
from bot.slack import blocks
from bot.slack import commands as cmd
from bot.slack import restore_blocks as rb
from bot.slack.answer_window import AnswerWindow
from bot.slack.card_clicks import CardClick, from_bolt
from bot.slack.handlers import Invocation, Reply, reply_at, run_reporting_failures
from bot.slack.instrumentation import action_name

log = logging.getLogger(__name__)

ClickWork = Callable[[str, str, str, ClickOrigin], Awaitable[ClickResult]]

#: Clicks whose post-ack work may run at once (see ``RestoreHandlers.take``).
MAX_CONCURRENT_CLICKS = 32
#: Places in the queue of acknowledged clicks waiting for a worker: a click is acknowledged
#: once it has one. With none free it waits for one (workers free a place with every click
#: they take up) at most ``PLACE_WAIT_SECONDS``, well inside Slack's 3 s, and is otherwise
#: not taken: over HTTP a 503, so Slack tells the clicker the app did not answer; over
#: Socket Mode a private "press again". A client that waits for its answers before sending
#: more (a load generator) is slowed to the workers' pace; a storm of separate clicks beyond
#: it is turned away instead of growing the process without bound.
QUEUE_PLACES = 1_000
PLACE_WAIT_SECONDS = 1.0
#: Clicks turned away are logged together, once a minute at most.
TURNED_AWAY_LOG_EVERY_SECONDS = 60.0


class RestoreHandlers:
    """The restore card's clicks, queued and worked, and ``/restore start``."""

    def __init__(
        self, services: Services, workflow: RestoreWorkflow, slack: AsyncWebClient
    ) -> None:
        self._services = services
        self._workflow = workflow
        self._slack = slack
        self._queued: deque[tuple[CardClick, RequestScope]] = deque()
        self._places = asyncio.Semaphore(QUEUE_PLACES)
        self._workers = 0
        self._turned_away = 0
        self._turned_away_logged: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._refusals_told = AnswerWindow(services.clock)

    def register(self, app: AsyncApp) -> None:
        app.action(rb.ACTION_START)(self._on_card_click)
        app.action(rb.ACTION_CANCEL)(self._on_card_click)
        app.action(re.compile("^" + re.escape(rb.ACTION_ANSWER_PREFIX)))(self._on_card_click)

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

    async def _on_card_click(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A card button through Bolt (Socket Mode; over HTTP, ``take`` is called without
        Bolt): acknowledged, queued, and the listener done. The click is counted in the
        metrics when its work is, not when this returns."""
        if not await self.place():
            # Acknowledged and told, not left unacknowledged: Bolt would hand a click it
            # never saw acknowledged to the unhandled-request answer ("not a button").
            await ack()
            scope = current_request()
            if scope is not None:
                scope.counted = True  # counted as turned away, as over HTTP
            async with self._services.pending.track():
                await self._tell_turned_away(from_bolt(body, action))
            return
        await ack()
        scope = current_request()
        if scope is not None:
            scope.counted = True  # not by Bolt's completion handler: the worker counts it
        self.take(from_bolt(body, action), scope)

    async def _tell_turned_away(self, click: CardClick) -> None:
        said = rt.click_turned_away()
        if not self._refusals_told.first_in_window(
            click.user, click.session_id, click.action_id, said
        ):
            return  # told just now: pressing on does not earn a post each time
        reply = reply_at(
            click.response_url,
            self._slack,
            Invocation(user_id=click.user, channel_id=click.channel),
        )
        await reply(blocks.error_message(said, trusted=True))

    async def place(self) -> bool:
        """A place in the queue for one more click, at once or as soon as a worker frees one
        (at most ``PLACE_WAIT_SECONDS`` later); ``take`` fills it. False if none came: the
        click is then turned away (``_turn_away``)."""
        if not self._places.locked():
            await self._places.acquire()  # a free place: taken without waiting
            return True
        try:
            await asyncio.wait_for(self._places.acquire(), PLACE_WAIT_SECONDS)
        except TimeoutError:
            self._turn_away()
            return False
        return True

    def _turn_away(self) -> None:
        """Note a click not taken for want of a place: counted in the metrics, and in the
        log at once, then at most once a minute (on the next one turned away, with the count
        since the line before)."""
        metrics.count_turned_away()
        self._turned_away += 1
        now = time.monotonic()
        last = self._turned_away_logged
        if last is None or now - last >= TURNED_AWAY_LOG_EVERY_SECONDS:
            log.warning(
                "%d restore card clicks were not taken: all %d places for waiting clicks are full",
                self._turned_away,
                QUEUE_PLACES,
            )
            self._turned_away, self._turned_away_logged = 0, now

    def take(self, click: CardClick, scope: RequestScope | None = None) -> None:
        """An acknowledged click, queued in the place ``place`` gave it for the next free worker.

        At most ``MAX_CONCURRENT_CLICKS`` workers run at once, each taking clicks in the
        order they came: a storm of clicks on one card waits its turn as small records,
        instead of asking Redis for a connection per click (its pool is bounded, and a
        click that found it full would fail). Shutdown lets queued clicks finish too.
        """
        self._services.pending.begin()
        self._queued.append(
            (click, scope or new_scope(RequestKind.ACTION, action_name(click.action_id)))
        )
        if self._workers < MAX_CONCURRENT_CLICKS:
            self._workers += 1
            self._keep(self._work())

    def _keep(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _work(self) -> None:
        try:
            while self._queued:
                click, scope = self._queued.popleft()
                self._places.release()
                await self._work_one(click, scope)
        finally:
            self._workers -= 1

    async def _work_one(self, click: CardClick, scope: RequestScope) -> None:
        token = enter_request(scope)
        settling: _Settling | None = None
        try:
            settling = await self._handle(click)
        except Exception:  # one click's failure must not stop the clicks behind it
            note_outcome(Outcome.ERROR)
            log.exception("a restore card click failed after its acknowledgement")
        finally:
            try:
                close_request(token)
                if settling is None:
                    # Counted once its work is done, whichever way it came.
                    metrics.count_request(scope.kind, scope.name, scope.outcome)
                else:
                    # Its settling counts as pending before the click stops counting, so a
                    # shutdown's drain never sees nothing pending in between.
                    self._settle_later(settling, scope)
            finally:
                self._services.pending.end()

    async def _handle(self, click: CardClick) -> _Settling | None:
        """Work one click and tell the clicker; what is left to settle, if Redis did not
        confirm the decision."""
        what, work = self._work_for(click.action_id)
        reply = reply_at(
            click.response_url,
            self._slack,
            Invocation(user_id=click.user, channel_id=click.channel),
        )
        outcome = work(click.session_id, click.user, click.action_id, click.origin)
        answered = self._answer_click(reply, (click.user, click.action_id), outcome)
        checking = await run_reporting_failures(what, reply, answered)
        return None if checking is None else _Settling(what, reply, checking)

    def _work_for(self, action_id: str) -> tuple[str, ClickWork]:
        if action_id == rb.ACTION_START:
            return "the Start button", self._start
        if action_id == rb.ACTION_CANCEL:
            return "the Cancel button", self._cancel
        return "a consent button", self._answer

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

    async def _answer_click(
        self, reply: Reply, clicker: tuple[str, str], click: Awaitable[ClickResult]
    ) -> Checking | None:
        """Tell the clicker what came of the click; the click, if it is still being checked.

        ``clicker`` is the user and the button they pressed: with the sentence, what makes
        a refusal identical to one told just now.
        """
        result = await click
        said = rt.click_reply(result)
        if said is not None and self._tell(clicker, result, said):
            await reply(blocks.error_message(said, trusted=True))
        return result if isinstance(result, Checking) else None

    def _settle_later(self, settling: _Settling, scope: RequestScope) -> None:
        """Told first, settled after, outside the worker: settling may take a minute of
        waiting for Redis, and the clicks queued behind this one must not wait for it."""
        pending = self._services.pending
        task = self._keep(self._settle(settling, scope))
        pending.begin()
        # Even a task cancelled before it ever ran gives its place back.
        task.add_done_callback(lambda _task: pending.end())

    async def _settle(self, settling: _Settling, scope: RequestScope) -> None:
        token = enter_request(scope)
        try:
            await run_reporting_failures(settling.what, settling.reply, self._settled(settling))
        finally:
            metrics.count_request(scope.kind, scope.name, scope.outcome)
            close_request(token)

    async def _settled(self, settling: _Settling) -> None:
        settled = await self._workflow.settle(settling.checking)
        await settling.reply(blocks.error_message(rt.settled_reply(settled), trusted=True))

    def _tell(self, clicker: tuple[str, str], result: ClickResult, said: str) -> bool:
        """Whether to say ``said``: a refusal told to this person for this button just now
        is not said again."""
        if not isinstance(result, Refused | NotAllowed):
            return True
        user, action_id = clicker
        return self._refusals_told.first_in_window(user, result.session_id, action_id, said)


@dataclass(frozen=True, slots=True)
class _Settling:
    """A click Redis did not confirm: what it was, how to answer its clicker, the decision."""

    what: str
    reply: Reply
    checking: Checking


__all__ = ["RestoreHandlers"]
