"""The restore surface on Slack: cards and threads through the gateway, patient with 429s."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.restore.ports import CardView
from bot.restore.session import SessionState
from bot.slack import restore_blocks as rb
from bot.slack.gateway import gateway_for
from bot.slack.restore_surface import RATE_LIMITED_ATTEMPTS, SlackRestoreSurface
from tests.fixtures.bot_harness import BOT_TOKEN, CHANNEL, BotHarness
from tests.test_restore_blocks import FACTS, make_session


async def test_a_rate_limited_card_redraw_waits_the_retry_after_and_goes_through(
    bot_harness: BotHarness,
) -> None:
    """Slack answers 429 to a card edit: the surface waits Retry-After (on the clock), retries."""
    harness = bot_harness
    clock = harness.simulator.clock
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    client = AsyncWebClient(token=BOT_TOKEN, base_url=harness.slack.url)
    surface = SlackRestoreSurface(
        gateway_for(harness.services, client),
        sites=harness.services.sites,
        clock=clock,
        sleep=sleep,
    )
    session = make_session(SessionState.AWAITING_START)
    place = await surface.post_card(CHANNEL, CardView(session, FACTS))
    drawn = session.model_copy(
        update={"channel": place.channel, "card_ts": place.ts, "state": SessionState.CANCELLED}
    )
    harness.slack.rate_limit("chat.update", count=2, retry_after=3)

    assert await surface.redraw(CardView(drawn, FACTS))
    assert slept == [3.0, 3.0]
    edited = harness.slack.message(CHANNEL, place.ts)
    assert edited is not None
    assert rb.STATE_LINES[SessionState.CANCELLED] in str(edited.blocks)

    harness.slack.rate_limit("chat.update", count=5, retry_after=3)
    assert not await surface.redraw(CardView(drawn, FACTS))
    assert len(slept) == 2 + RATE_LIMITED_ATTEMPTS - 1
