"""The one way out to Slack: posts, card edits and private answers, within Slack's limits.

Everything the bot sends to a channel goes through ``SlackGateway``: command cards, restore
cards, the tracker's edits and thread posts. It does three things nobody else should:

- **Budgets.** ``chat.postMessage`` is limited per channel (about 1 a second with short
  bursts) and ``chat.update`` per workspace (Tier 3, about 50 a minute for the whole app).
  Paced sends (the tracker's) take from budgets kept in Redis on the injected clock, shared
  by every process; interactive sends (a card edit caused by a click) are sent at once, so
  the edit budget leaves room for them (``CARD_EDIT_RATE``).
- **429s.** A rate-limited answer blocks its budget (the channel's, or the workspace's for
  ``chat.update``) for ``Retry-After`` seconds on the injected clock, in Redis for every
  process and in memory so a backlog costs no Redis call per waiting send. The gateway
  never sleeps: it raises ``SlackRateLimited`` and the caller decides when to try again.
  The Web API client must therefore not carry the SDK's rate-limit retry handler, which
  would sleep on the real clock while holding the caller's send slot.
- **Errors as types.** Slack's answers map, through one table, to the error tree in
  ``bot.errors``: ``SlackRefused`` when no retry can help, ``SlackUnavailable`` when one
  may, ``SlackRateLimited`` with the wait.

A thread post whose parent card is gone falls back to the channel itself, so an outcome
is never lost with its card. Every call is counted by method and outcome in
``backup_bot_slack_api_calls_total`` (a 429 as ``rate_limited``), and every send held back
without a call in ``backup_bot_slack_sends_deferred_total``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.errors import (
    SlackError,
    SlackNotAuthorized,
    SlackRateLimited,
    SlackRefused,
    SlackUnavailable,
)
from bot.observability import metrics
from bot.runtime import Services
from bot.slack.blocks import Message
from bot.store.throttle import SendBudgets, SendRate

log = logging.getLogger(__name__)

# Any 60 s window holds at most 60/interval + burst - 1 calls. Card edits: 42 for the whole
# workspace, since Slack counts chat.update per app and workspace (about 50 a minute); the
# other 8 or so stay free for the edits people cause by clicking restore cards, which are
# sent at once and must not meet a 429 because the tracker spent the minute's budget. Posts:
# 59 per channel (Slack allows about 1 a second per channel, short bursts tolerated).
CARD_EDIT_RATE: Final = SendRate(interval=60 / 40, burst=3)
POST_RATE: Final = SendRate(interval=60 / 57, burst=3)

POST: Final = "chat.postMessage"
UPDATE: Final = "chat.update"
EPHEMERAL: Final = "chat.postEphemeral"
# Slack counts these methods' calls for the whole workspace; the others per channel.
_WORKSPACE_WIDE: Final = frozenset({UPDATE})


class _Verdict(enum.Enum):
    REFUSED = "refused"
    LIMITED = "limited"
    UNAUTHORIZED = "unauthorized"


# Slack errors no retry can fix. Anything not listed is taken as worth another try.
_ERROR_VERDICTS: Final[Mapping[str, _Verdict]] = {
    "ratelimited": _Verdict.LIMITED,
    **{
        error: _Verdict.REFUSED
        for error in (
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "message_not_found",
            "cant_update_message",
            "edit_window_closed",
            "thread_not_found",
            "invalid_blocks",
            "invalid_blocks_format",
            "invalid_arguments",
            "msg_too_long",
            "no_text",
            "restricted_action",
            "user_not_in_channel",
        )
    },
    # The token itself: no retry fixes it until the operator does, so nothing is dropped.
    **{
        error: _Verdict.UNAUTHORIZED
        for error in (
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
            "token_expired",
            "missing_scope",
            "not_allowed_token_type",
            "no_permission",
            "team_access_not_granted",
        )
    },
}
# A thread post whose parent is gone goes to the channel instead.
_PARENT_GONE: Final = frozenset({"thread_not_found", "message_not_found"})
# How each failure is counted in backup_bot_slack_api_calls_total{outcome}.
_OUTCOME_LABELS: Final[Mapping[type[SlackError], str]] = {
    SlackRateLimited: "rate_limited",
    SlackRefused: "refused",
    SlackUnavailable: "unavailable",
}


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message landed; ``in_thread`` is False when a thread post fell back."""

    channel: str
    ts: str
    in_thread: bool = False


class SlackGateway:
    """Sends to Slack within its limits and raises Slack's failures as ``SlackError``s."""

    def __init__(
        self,
        client: AsyncWebClient,
        budgets: SendBudgets,
        clock: Clock,
        *,
        card_edit_rate: SendRate = CARD_EDIT_RATE,
        post_rate: SendRate = POST_RATE,
    ) -> None:
        self._client = client
        self._budgets = budgets
        self._clock = clock
        self._rates: Mapping[str, SendRate] = {UPDATE: card_edit_rate, POST: post_rate}
        # Budgets known to be spent, so waiting sends cost no Redis call: (method, scope).
        self._blocked: dict[tuple[str, str | None], datetime] = {}

    @property
    def client(self) -> AsyncWebClient:
        return self._client

    def blocked_for(self, method: str, channel: str | None) -> float:
        """Seconds until ``method`` may go to ``channel`` again, as far as this process knows."""
        until = self._blocked.get((method, _scope(method, channel)))
        if until is None:
            return 0.0
        left = (until - self._clock.now()).total_seconds()
        if left <= 0:
            self._blocked.pop((method, _scope(method, channel)), None)
            return 0.0
        return left

    async def post(
        self,
        channel: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        paced: bool = False,
    ) -> Posted:
        """Post ``message`` (in the thread of ``thread_ts``, falling back to the channel)."""
        arguments: dict[str, Any] = {"channel": channel, **message.as_kwargs()}
        if thread_ts:
            arguments["thread_ts"] = thread_ts
        try:
            response = await self._send(
                POST, channel, paced, lambda: self._client.chat_postMessage(**arguments)
            )
        except SlackRefused as exc:
            if not thread_ts or exc.error not in _PARENT_GONE:
                raise
            log.warning("the card in %s is gone; posting without a thread", channel)
            return await self.post(channel, message, paced=paced)
        return Posted(
            channel=str(response.get("channel") or channel),
            ts=str(response.get("ts") or ""),
            in_thread=bool(thread_ts),
        )

    async def update(self, channel: str, ts: str, message: Message, *, paced: bool = False) -> None:
        """Edit the message at ``ts`` to show ``message``."""
        await self._send(
            UPDATE,
            channel,
            paced,
            lambda: self._client.chat_update(channel=channel, ts=ts, **message.as_kwargs()),
        )

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        """Answer ``user`` privately in ``channel``."""
        await self._send(
            EPHEMERAL,
            channel,
            False,
            lambda: self._client.chat_postEphemeral(
                channel=channel, user=user, **message.as_kwargs()
            ),
        )

    async def _send(
        self,
        method: str,
        channel: str,
        paced: bool,
        call: Callable[[], Awaitable[Any]],
    ) -> Any:
        scope = _scope(method, channel)
        rate = self._rates.get(method)
        waiting = self.blocked_for(method, channel)
        if waiting > 0:
            metrics.count_slack_deferred(method)
            raise SlackRateLimited(method, waiting, channel=scope)
        if paced and rate is not None:
            wait = await self._budgets.take(_budget_name(method, scope), rate)
            if wait > 0:
                self._blocked[(method, scope)] = self._clock.now() + timedelta(seconds=wait)
                metrics.count_slack_deferred(method)
                raise SlackRateLimited(method, wait, channel=scope, error="budget")
        try:
            result = await call()
        except SlackApiError as exc:
            error = await self._translate(method, channel, exc)
            metrics.count_slack_call(method, _OUTCOME_LABELS.get(type(error), "unavailable"))
            raise error from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            metrics.count_slack_call(method, _OUTCOME_LABELS[SlackUnavailable])
            raise SlackUnavailable(method, type(exc).__name__, channel=channel) from None
        metrics.count_slack_call(method, "ok")
        return result

    async def _translate(self, method: str, channel: str, exc: SlackApiError) -> SlackError:
        response = exc.response
        status = getattr(response, "status_code", None)
        error = str(response.get("error", "")) if response is not None else ""
        verdict = _Verdict.LIMITED if status == 429 else _ERROR_VERDICTS.get(error)
        if verdict is _Verdict.LIMITED:
            scope = _scope(method, channel)
            retry_after = _retry_after(response)
            until = self._clock.now() + timedelta(seconds=retry_after)
            self._blocked[(method, scope)] = until
            rate = self._rates.get(method)
            window = rate.window if rate is not None else 0.0
            await self._budgets.block_until(
                _budget_name(method, scope), until + timedelta(seconds=window)
            )
            where = "the workspace" if scope is None else channel
            log.info("Slack rate-limits %s in %s for %.0f s", method, where, retry_after)
            return SlackRateLimited(method, retry_after, channel=scope)
        if verdict is _Verdict.REFUSED:
            return SlackRefused(method, error, channel=channel)
        if verdict is _Verdict.UNAUTHORIZED:
            log.error(
                "Slack refused the bot's token for %s (%s); check SLACK_BOT_TOKEN", method, error
            )
            return SlackNotAuthorized(method, error, channel=channel)
        return SlackUnavailable(method, error or f"HTTP {status}", channel=channel)


def gateway_for(services: Services, client: AsyncWebClient) -> SlackGateway:
    """The gateway every send goes through, its budgets shared through Redis."""
    budgets = SendBudgets(
        services.redis, services.clock, key_prefix=f"{services.operations.key_prefix}throttle:"
    )
    return SlackGateway(client, budgets, services.clock)


def _scope(method: str, channel: str | None) -> str | None:
    return None if method in _WORKSPACE_WIDE else channel


def _budget_name(method: str, scope: str | None) -> str:
    return method if scope is None else f"{method}:{scope}"


def _retry_after(response: Any) -> float:
    headers = getattr(response, "headers", None) or {}
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name) if hasattr(headers, "get") else None
        if value is not None:
            try:
                return max(1.0, float(value))
            except (TypeError, ValueError):
                break
    return 1.0


__all__ = [
    "CARD_EDIT_RATE",
    "EPHEMERAL",
    "POST",
    "POST_RATE",
    "UPDATE",
    "Posted",
    "SlackGateway",
    "gateway_for",
]
