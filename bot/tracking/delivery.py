"""Delivery: one outbox entry, or one card edit, handed to where it goes.

Given a notification and the operation it is about, ``Delivery`` decides where it goes
(the card's thread, or the notify channel, or nowhere when that place does not exist) and
hands it to the ``SlackPort``, the restore workflow (``RestoreOutcomes``) or, for an adopted
operation's announcement, both Slack and the store. It answers what happened as a value:
``DONE`` (acknowledge the entry: sent, or not worth sending) or ``Later`` (keep it, and when
to try again). It never waits; the sender decides when to come back.

How Slack's answers are taken: a rate limit or a spent budget waits for ``retry_after``; a
refusal (channel gone, message not editable) drops the entry, since no retry can fix it; an
outage or any other failure is retried after ``SEND_RETRY_SECONDS``. A final-state message is
therefore never dropped while Slack may still take it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from bot.errors import SlackNotAuthorized, SlackRateLimited, SlackRefused, SlackUnavailable
from bot.store.operations import OperationStore, TrackedOperation
from bot.store.outbox import (
    Announce,
    Destination,
    NoticePost,
    Notification,
    PolicyNudge,
    RestoreHook,
)
from bot.tracking.cycle import CycleStats
from bot.tracking.ports import RestoreOutcomes, SlackPort
from bot.tracking.status import GONE_STATUS, restore_for_workflow

log = logging.getLogger(__name__)

# Retry soon after a Slack failure that is not a rate limit, without waiting a whole cycle.
SEND_RETRY_SECONDS: Final = 5.0
# A refused token needs the operator: retry now and then, without flooding the log.
TOKEN_RETRY_SECONDS: Final = 60.0


class Done:
    """The entry needs nothing more: acknowledge it."""


DONE: Final = Done()


@dataclass(frozen=True, slots=True)
class Later:
    """Keep the entry and try it again after ``seconds`` (None: at the next poll)."""

    seconds: float | None = None
    # The limit is the whole workspace's (card edits): no other card may go either.
    workspace_wide: bool = False


Outcome = Done | Later


class Delivery:
    """Sends one entry or card edit and says whether it is done."""

    def __init__(
        self,
        store: OperationStore,
        slack: SlackPort,
        *,
        notify_channel: str | None,
        restore_outcomes: RestoreOutcomes | None,
    ) -> None:
        self._store = store
        self._slack = slack
        self._notify_channel = notify_channel
        self._restore_outcomes = restore_outcomes

    async def entry(
        self,
        owner: str,
        operation: TrackedOperation | None,
        notice: Notification,
        stats: CycleStats,
    ) -> Outcome:
        """Deliver ``notice``, queued for ``owner`` (``operation``, if it is one)."""
        if isinstance(notice, RestoreHook):
            return await self._restore_hook(operation)
        if isinstance(notice, Announce):
            return await self._announce(operation, stats)
        if isinstance(notice, NoticePost) and notice.channel:
            channel, thread_ts = notice.channel, None
        elif notice.to is Destination.THREAD:
            if operation is None or not operation.channel or not operation.card_ts:
                return DONE
            channel, thread_ts = operation.channel, operation.card_ts
        else:
            if not self._notify_channel:
                return DONE
            if operation is not None and operation.channel == self._notify_channel:
                # Its card, and so its thread, is already in the notify channel.
                return DONE
            channel, thread_ts = self._notify_channel, None
        if operation is None and not isinstance(notice, PolicyNudge | NoticePost):
            return DONE
        return await self._send(
            f"a notification for {owner} in {channel}",
            stats,
            lambda: self._slack.post(channel, notice, operation, thread_ts=thread_ts),
        )

    async def card(self, operation: TrackedOperation | None, stats: CycleStats) -> Outcome:
        """Redraw the card of ``operation`` as it is now."""
        if operation is None or not operation.channel or not operation.card_ts:
            return DONE
        return await self._send(
            f"the card of {operation.key}", stats, lambda: self._slack.edit_card(operation)
        )

    async def _restore_hook(self, operation: TrackedOperation | None) -> Outcome:
        if operation is None or self._restore_outcomes is None:
            return DONE
        try:
            if operation.status == GONE_STATUS:
                await self._restore_outcomes.gone(operation)
            else:
                await self._restore_outcomes.finished(
                    operation, restore_for_workflow(operation), operation.report_url
                )
        except Exception:
            log.exception("the restore workflow could not finish %s; retrying", operation.key)
            return Later()
        return DONE

    async def _announce(self, operation: TrackedOperation | None, stats: CycleStats) -> Outcome:
        channel = self._notify_channel
        if operation is None or operation.card_ts or not channel:
            return DONE
        posted: list[str] = []

        async def announce() -> None:
            posted.append(await self._slack.announce(operation, channel))

        outcome = await self._send(f"the card of adopted {operation.key}", stats, announce)
        if posted:
            await self._store.update(
                operation.kind, operation.operation_id, {"channel": channel, "card_ts": posted[0]}
            )
        return outcome

    async def _send(
        self, what: str, stats: CycleStats, send: Callable[[], Awaitable[None]]
    ) -> Outcome:
        try:
            await send()
        except SlackRateLimited as exc:
            return Later(exc.retry_after, workspace_wide=exc.channel is None)
        except SlackRefused as exc:
            log.error("Slack refused %s (%s); it is dropped", what, exc.error)
            return DONE
        except SlackNotAuthorized as exc:
            # Kept until the operator fixes the token: an outcome is never dropped for it.
            stats.errors += 1
            log.warning("Slack refused the bot's token for %s (%s); will retry", what, exc.error)
            return Later(TOKEN_RETRY_SECONDS)
        except SlackUnavailable as exc:
            stats.errors += 1
            log.warning("Slack did not take %s (%s); will retry", what, exc.error)
            return Later(SEND_RETRY_SECONDS)
        except Exception:
            stats.errors += 1
            log.exception("could not send %s; will retry", what)
            return Later(SEND_RETRY_SECONDS)
        stats.messages_sent += 1
        return DONE


__all__ = ["DONE", "SEND_RETRY_SECONDS", "Delivery", "Done", "Later", "Outcome"]
