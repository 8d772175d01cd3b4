"""The help is acknowledged with a body encoded once per topic: byte for byte what Bolt
would send for the same message, over the real bot on loopback HTTP."""

from __future__ import annotations

from slack_bolt.response import BoltResponse

from bot.slack import blocks
from bot.slack import commands as cmd
from tests.fixtures.bot_harness import BotHarness


def bolts_own(message: blocks.Message) -> BoltResponse:
    """The response Bolt builds for ``ack(response_type="ephemeral", text=..., blocks=...)``."""
    body = {"text": message.text, "response_type": "ephemeral", "blocks": message.blocks}
    return BoltResponse(status=200, body=body)


async def test_help_is_acknowledged_with_the_body_bolt_would_build(
    bot_harness: BotHarness,
) -> None:
    for text, topic in (("help", None), ("help policy", "policy")):
        response = await bot_harness.driver.slash(text=text)
        expected = bolts_own(blocks.help_message(cmd.help_text(topic)))
        assert response.status == 200
        assert response.text == expected.body
        headers = {name.lower(): value for name, value in response.headers.items()}
        assert headers["content-type"].startswith("application/json")
        assert response.json["response_type"] == "ephemeral"
