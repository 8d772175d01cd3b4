"""Every key the bot writes follows the layout: ``<prefix>{<family>}:<name>`` (bot.store.keys).

A key outside it would land in a slot of its own on a Redis Cluster, and a script or MGET
naming it beside its family's keys would fail there. This drives the bot through a
restore with consent, a backup the tracker follows, housekeeping and the user-group roster,
then reads every key back from the standalone server.
"""

from __future__ import annotations

import re

import pytest
import redis.asyncio as aioredis

from bot.background import housekeeping_once
from bot.store.keys import check_prefix, family_prefix
from tests.fixtures.bot_harness import ADMIN, HarnessFactory
from tests.fixtures.tracking import wired_tracker
from tests.test_restore_flow import GROUP, LICENCE, SPACE, answer, click, staged_for_consent

LAYOUT = re.compile(r"^bbot:\{(restore|tracking|roles)\}:[^{}]+$")


async def test_every_key_the_bot_writes_carries_its_familys_hash_tag(
    make_bot_harness: HarnessFactory, redis_client: aioredis.Redis
) -> None:
    """After a restore, a tracked backup, housekeeping and a roster refresh: all keys fit."""
    harness = await make_bot_harness(bot_admins=f"{ADMIN},SOPS")
    harness.slack.set_usergroup("SOPS", [ADMIN])
    roster = harness.services.access.groups
    assert roster is not None
    await roster.refresh()
    await staged_for_consent(harness)
    for check in (SPACE, GROUP, LICENCE):
        await click(harness, answer(check))
    await harness.slash("run pol-acme-jira", user=ADMIN)
    tracker = wired_tracker(harness, "layout")
    await tracker.poll_once()
    await housekeeping_once(harness.bot)

    keys = sorted(await redis_client.keys("*"))
    assert len(keys) > 20
    matches = {key: LAYOUT.match(key) for key in keys}
    assert [key for key, match in matches.items() if match is None] == []
    families = {match.group(1) for match in matches.values() if match is not None}
    assert families == {"restore", "tracking", "roles"}


def test_a_prefix_with_a_brace_is_refused_and_tagging_is_idempotent() -> None:
    """A brace in the prefix would move every key's slot; a tagged prefix is not tagged twice."""
    with pytest.raises(ValueError, match="may not contain"):
        check_prefix("bbot{x}:")
    tagged = family_prefix("bbot:", "restore")
    assert tagged == "bbot:{restore}:"
    assert family_prefix(tagged, "restore") == tagged
