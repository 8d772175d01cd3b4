"""The restore workflow's surface on Slack: its cards and their threads, sent through the gateway.

``SlackRestoreSurface`` implements ``bot.restore.ports.RestoreSurface``. Every send is
interactive (someone's click or command caused it), so it goes at once; when Slack
answers 429, the send waits the ``Retry-After`` it was given (with the injected sleep) and
tries again, a bounded number of times, since a restore card that lags behind its session
misleads whoever looks at it. ``RestoreCards`` draws the card the tracker edits for a
restore that has a session (``card_for``, called by the tracker's Slack side).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from bot.atlassian.models import Restore
from bot.clock import Clock
from bot.config import SiteDirectory
from bot.errors import SlackError, SlackRateLimited, SlackRefused
from bot.messages import commands as commands_words
from bot.restore.notices import Notice
from bot.restore.ports import CardPlace, CardView, Sleep
from bot.restore.session import RestoreSession
from bot.restore.workflow import RestoreWorkflow
from bot.slack import restore_blocks as rb
from bot.slack.blocks import Message
from bot.slack.gateway import SlackGateway
from bot.slack.handlers import SlackPostFailed
from bot.store.operations import TrackedOperation

log = logging.getLogger(__name__)

# A rate-limited send is tried this many times in all, waiting at most this long in total.
RATE_LIMITED_ATTEMPTS: Final = 3
RATE_LIMITED_WAIT_SECONDS: Final = 60.0
# Slack errors that mean the bot cannot post in the channel until someone invites it.
_NOT_IN_CHANNEL: Final = frozenset({"not_in_channel", "channel_not_found", "is_archived"})

_T = TypeVar("_T")


class SlackRestoreSurface:
    """Posts, redraws and threads restore cards on Slack."""

    def __init__(
        self,
        gateway: SlackGateway,
        *,
        sites: SiteDirectory,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._gateway = gateway
        self._sites = sites
        self._clock = clock
        self._sleep = sleep

    def render(self, view: CardView) -> Message:
        """The card as Block Kit, for the session in ``view`` as it stands."""
        session = view.session
        return rb.restore_card(
            session,
            view.facts,
            source=self._sites.name(session.source_cloud_id),
            now=self._clock.now(),
            restore_status=view.restore_status,
        )

    async def post_card(self, channel: str, view: CardView) -> CardPlace:
        try:
            posted = await self._patiently(lambda: self._gateway.post(channel, self.render(view)))
        except SlackRefused as exc:
            if exc.error in _NOT_IN_CHANNEL:
                raise SlackPostFailed(commands_words.CANNOT_POST_HERE, error=exc.error) from None
            raise SlackPostFailed(
                commands_words.card_refused(exc.error, "restore card"), error=exc.error
            ) from None
        return CardPlace(channel=posted.channel, ts=posted.ts)

    async def redraw(self, view: CardView) -> bool:
        session = view.session
        if session.card_ts is None:
            return False
        ts = session.card_ts
        try:
            await self._patiently(
                lambda: self._gateway.update(session.channel, ts, self.render(view))
            )
        except SlackError:
            log.warning("could not redraw restore card %s", session.session_id, exc_info=True)
            return False
        return True

    async def notice(self, session: RestoreSession, notice: Notice) -> None:
        if session.card_ts is None:
            return
        ts = session.card_ts
        try:
            await self._patiently(
                lambda: self._gateway.post(
                    session.channel, rb.notice_message(notice, session), thread_ts=ts
                )
            )
        except SlackError:
            log.warning(
                "could not post in the thread of restore %s", session.session_id, exc_info=True
            )

    async def _patiently(self, send: Callable[[], Awaitable[_T]]) -> _T:
        """``send``, waiting out Slack's rate limit a bounded number of times."""
        waited = 0.0
        for attempt in range(1, RATE_LIMITED_ATTEMPTS + 1):
            try:
                return await send()
            except SlackRateLimited as exc:
                if attempt == RATE_LIMITED_ATTEMPTS or waited + exc.retry_after > (
                    RATE_LIMITED_WAIT_SECONDS
                ):
                    raise
                waited += exc.retry_after
                await self._sleep(exc.retry_after)
        raise AssertionError("unreachable: the last attempt returns or raises")


class RestoreCards:
    """Draws a restore's card for the tracker: the session's card while a session owns it."""

    def __init__(self, workflow: RestoreWorkflow, surface: SlackRestoreSurface) -> None:
        self._workflow = workflow
        self._surface = surface

    async def card_for(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> Message | None:
        """None when no session owns the restore: the tracker draws its generic card."""
        view = await self._workflow.card_view(operation, restore, report_url)
        return None if view is None else self._surface.render(view)


__all__ = ["RATE_LIMITED_ATTEMPTS", "RestoreCards", "SlackRestoreSurface"]
