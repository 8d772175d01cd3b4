"""The Slack gateway against the fake Slack Web API and a real Redis, on a manual clock."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from bot.clock import ManualClock
from bot.config import Settings
from bot.errors import SlackNotAuthorized, SlackRateLimited, SlackRefused, SlackUnavailable
from bot.localslack import SlackWebApi
from bot.slack.blocks import Message
from bot.slack.gateway import POST, UPDATE, SlackGateway
from bot.slack.serve import make_web_client
from bot.store.throttle import SendBudgets, SendRate
from tests.fixtures.slack_api import SlackApiFactory

CHANNEL = "CGATEWAY"
HELLO = Message(text="hello")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def api(make_slack_api: SlackApiFactory, clock: ManualClock) -> SlackWebApi:
    return await make_slack_api(clock=clock)


def gateway_for(
    api: SlackWebApi,
    redis: aioredis.Redis,
    clock: ManualClock,
    token: str = "xoxb-test",
    **rates: SendRate,
) -> SlackGateway:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, slack_bot_token=token, slack_api_url=api.url
    )
    budgets = SendBudgets(redis, clock, key_prefix="gw-test:throttle:")
    return SlackGateway(make_web_client(settings), budgets, clock, **rates)


async def test_a_thread_post_whose_card_is_gone_lands_in_the_channel(
    api: SlackWebApi, redis_client: aioredis.Redis, clock: ManualClock
) -> None:
    """The outcome is never lost with its card: it falls back to the channel itself."""
    gateway = gateway_for(api, redis_client, clock)
    posted = await gateway.post(CHANNEL, HELLO, thread_ts="1700000000.000001")
    assert not posted.in_thread
    assert posted.channel == CHANNEL
    assert [m.text for m in api.messages(CHANNEL)] == ["hello"]


async def test_a_429_is_raised_with_its_wait_and_blocks_the_workspace_for_edits(
    api: SlackWebApi, redis_client: aioredis.Redis, clock: ManualClock
) -> None:
    """chat.update is limited per workspace: one 429 blocks edits in every channel, no sleep."""
    gateway = gateway_for(api, redis_client, clock)
    card = await gateway.post(CHANNEL, HELLO)
    api.rate_limit("chat.update", retry_after=7)
    with pytest.raises(SlackRateLimited) as limited:
        await gateway.update(CHANNEL, card.ts, Message(text="edited"))
    assert limited.value.retry_after == 7
    assert limited.value.channel is None
    calls = len(api.calls_to("chat.update"))
    with pytest.raises(SlackRateLimited):
        await gateway.update("COTHER", card.ts, Message(text="edited"))
    assert len(api.calls_to("chat.update")) == calls
    assert gateway.blocked_for(UPDATE, "COTHER") == pytest.approx(7)
    assert gateway.blocked_for(POST, CHANNEL) == 0
    clock.advance(8)
    await gateway.update(CHANNEL, card.ts, Message(text="edited"))
    assert api.messages(CHANNEL)[0].text == "edited"


async def test_paced_sends_share_one_budget_across_gateways(
    api: SlackWebApi, redis_client: aioredis.Redis, clock: ManualClock
) -> None:
    """Two processes' gateways draw on the same Redis budget; interactive sends do not."""
    rate = SendRate(interval=60, burst=2)
    first = gateway_for(api, redis_client, clock, post_rate=rate)
    second = gateway_for(api, redis_client, clock, post_rate=rate)
    await first.post(CHANNEL, HELLO, paced=True)
    await second.post(CHANNEL, HELLO, paced=True)
    with pytest.raises(SlackRateLimited) as limited:
        await first.post(CHANNEL, HELLO, paced=True)
    assert 0 < limited.value.retry_after <= 60
    await second.post(CHANNEL, HELLO)
    assert len(api.messages(CHANNEL)) == 3
    clock.advance(61)
    await second.post(CHANNEL, HELLO, paced=True)


async def test_refusals_and_outages_are_typed(
    api: SlackWebApi, redis_client: aioredis.Redis, clock: ManualClock
) -> None:
    """An edit of a missing message is refused for good; an unreachable Slack may be retried."""
    gateway = gateway_for(api, redis_client, clock)
    with pytest.raises(SlackRefused) as refused:
        await gateway.update(CHANNEL, "1700000000.000009", HELLO)
    assert refused.value.error == "message_not_found"
    url = api.url
    await api.stop()
    unreachable = gateway_for(api, redis_client, clock)
    assert url
    with pytest.raises(SlackUnavailable):
        await unreachable.post(CHANNEL, HELLO)


async def test_a_refused_token_is_its_own_error_so_nothing_is_dropped_for_it(
    api: SlackWebApi, redis_client: aioredis.Redis, clock: ManualClock
) -> None:
    """invalid_auth is neither "gone for good" nor a network blip: the operator must act."""
    gateway = gateway_for(api, redis_client, clock, token="xoxb-revoked")
    with pytest.raises(SlackNotAuthorized) as refused:
        await gateway.post(CHANNEL, HELLO)
    assert refused.value.error == "invalid_auth"
    assert not isinstance(refused.value, SlackRefused | SlackUnavailable)
