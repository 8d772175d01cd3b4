"""Hostile and malformed input at the edges: unsigned bodies, resent events, path tricks and
malformed settings each get the right answer, and none of them does work twice or at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import httpx
import pytest

from bot.errors import NotFoundError
from bot.simulator.seed import ACME_JIRA_POLICY
from tests.fixtures.bot_harness import ADMIN, BotHarness
from tests.test_client_unit import Recorder, make_client
from tests.test_serve import REDIS_PASSWORD, assert_no_secret, run_serve, serve_env

BACKUP_BOT = str(Path(sys.executable).with_name("backup-bot"))
RESPONSE_URL = "https://hooks.slack.com/commands/T1/999/secret-response-url"


# -- requests not validly signed ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"payload=%7Bbad", {}),
        (b"payload=%7Bbad", {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}),
        (b"payload=%7B%22type%22%3A", {"X-Slack-Request-Timestamp": "1e9"}),
        (
            f"command=%2Fbackup&text=help&response_url={RESPONSE_URL}".encode(),
            {"X-Slack-Request-Timestamp": "1793523600", "X-Slack-Signature": "v0=" + "ab" * 32},
        ),
    ],
    ids=["unsigned-garbage", "timestamp-abc", "no-signature", "wrong-signature"],
)
async def test_requests_not_validly_signed_get_401_before_parsing_and_one_log_line(
    bot_harness: BotHarness,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    headers: dict[str, str],
) -> None:
    """Garbage, a malformed timestamp or a wrong signature: 401, one line, no body logged."""
    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            bot_harness.running.url,
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )
    assert response.status_code == 401
    refusals = [r for r in caplog.records if "refused a Slack request" in r.getMessage()]
    assert len(refusals) == 1
    assert not [r for r in caplog.records if r.exc_info]
    for record in caplog.records:
        assert RESPONSE_URL not in record.getMessage()
        assert "%7B" not in record.getMessage()
    assert bot_harness.simulator.world.calls == []


@pytest.mark.parametrize("body", [b"payload=%7Bbad", b"payload=%5B1%2C2%5D", b"payload=%22text%22"])
async def test_a_signed_body_that_is_no_slack_payload_gets_400_and_one_line(
    bot_harness: BotHarness, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    """Correctly signed but not a payload (a broken JSON, a list, a string): 400, not a 500
    with a traceback, and the body is not logged."""
    caplog.set_level(logging.DEBUG)
    response = await bot_harness.driver.post_signed(body)
    assert response.status == 400
    assert not [r for r in caplog.records if r.exc_info]
    assert len([r for r in caplog.records if "not a Slack payload" in r.getMessage()]) == 1
    for record in caplog.records:
        assert body.decode() not in record.getMessage()
        assert body.decode().removeprefix("payload=") not in record.getMessage()
    assert bot_harness.simulator.world.calls == []


# -- resent events --------------------------------------------------------------------------


def home_opened(harness: BotHarness, event_id: str) -> bytes:
    return json.dumps(
        {
            "token": "verification",
            "team_id": harness.slack.team_id,
            "api_app_id": harness.slack.app_id,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1_793_523_600,
            "event": {
                "type": "app_home_opened",
                "user": ADMIN,
                "channel": "D0HOME",
                "tab": "home",
                "event_ts": "1793523600.000100",
            },
        }
    ).encode()


async def test_an_event_slack_resends_is_handled_once_across_replicas(
    make_bot_harness: object,
) -> None:
    """The first delivery publishes the Home tab; three resends, some to a second replica,
    are acknowledged without calling Atlassian or Slack again."""
    first: BotHarness = await make_bot_harness()  # type: ignore[operator]
    second: BotHarness = await make_bot_harness(slack=first.slack)  # type: ignore[operator]
    body = home_opened(first, "Ev0RESENT1")
    response = await first.driver.post_signed(body)
    assert response.status == 200
    await first.slack.wait_for(lambda api: api.home(ADMIN) is not None)
    await first.settle()
    atlassian_calls = len(first.simulator.world.calls)
    for retry, harness in ((1, second), (2, first), (3, second)):
        resent = await harness.driver.post_signed(
            body,
            extra_headers={"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "timeout"},
        )
        assert resent.status == 200
        await harness.settle()
    await asyncio.sleep(0.2)
    assert len(first.slack.calls_to("views.publish")) == 1
    assert len(first.simulator.world.calls) == atlassian_calls


async def test_different_events_are_each_handled(bot_harness: BotHarness) -> None:
    """The marker is per event id: two openings of the Home tab publish it twice."""
    for event_id in ("Ev0FIRST", "Ev0SECOND"):
        response = await bot_harness.driver.post_signed(home_opened(bot_harness, event_id))
        assert response.status == 200
    await bot_harness.slack.wait_for(lambda api: len(api.calls_to("views.publish")) == 2)


# -- ids that are dot segments --------------------------------------------------------------


@pytest.mark.parametrize("segment", [".", "..", "", " .. "])
async def test_the_client_never_builds_a_path_with_a_dot_or_empty_segment(segment: str) -> None:
    """`GET backups/..` would become a list of every backup: refused before any request."""
    api = Recorder()
    async with make_client(api) as client:
        with pytest.raises(NotFoundError):
            await client.get_backup(segment)
        with pytest.raises(NotFoundError):
            await client.list_backups(segment)
        with pytest.raises(NotFoundError):
            await client.get_export(cloud_id=segment, export_id="exp-1")
    assert api.requests == []


@pytest.mark.parametrize(
    ("text", "named"), [("list ..", "`..`"), ("policy show .", "`.`"), ("show ..", "`..`")]
)
async def test_dot_ids_typed_in_slack_reach_no_listing(
    bot_harness: BotHarness, text: str, named: str
) -> None:
    """`/backup list ..` names the id it cannot find instead of listing every backup."""
    response = await bot_harness.slash(text)
    answer = bot_harness.reply_text(response)
    assert named in answer
    assert ACME_JIRA_POLICY not in answer
    listed = [
        call.path
        for call in bot_harness.simulator.world.calls
        if call.path.rstrip("/").endswith(("/backups", "/policies"))
    ]
    assert listed == []


@pytest.mark.parametrize("text", ["list ..", "policy show .", "show ..", "schedule .. weekly"])
async def test_dot_ids_are_refused_by_their_format_before_atlassian_is_asked(
    bot_harness: BotHarness, text: str
) -> None:
    """`..` is no id: the parser says so, rather than claiming Atlassian does not know it."""
    answer = bot_harness.reply_text(await bot_harness.slash(text))
    assert "is not a valid" in answer
    assert "Atlassian" not in answer
    assert bot_harness.simulator.world.calls == []


# -- malformed REDIS_URL --------------------------------------------------------------------

MALFORMED_REDIS_URLS = [
    ("notaurl", "must start with redis://"),
    ("http://127.0.0.1:6379/0", "must start with redis://"),
    ("redis://127.0.0.1:notaport/0", "port is not a number"),
    (f"redis://:{REDIS_PASSWORD}@127.0.0.1:notaport/0", "port is not a number"),
    ("redis://127.0.0.1:6379/zero", "database number"),
]


@pytest.mark.parametrize(("url", "problem"), MALFORMED_REDIS_URLS)
async def test_a_malformed_redis_url_stops_serve_with_one_line(
    tmp_path: Path, url: str, problem: str
) -> None:
    """`serve` names REDIS_URL and what is wrong, exits 2, and never shows the URL."""
    code, lines = await run_serve(serve_env(REDIS_URL=url), tmp_path)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("backup-bot: REDIS_URL is invalid:")
    assert problem in lines[0]
    assert url not in lines[0]
    assert_no_secret(lines)


@pytest.mark.parametrize(("url", "problem"), MALFORMED_REDIS_URLS[:3])
async def test_a_malformed_redis_url_stops_the_console_with_one_line(
    tmp_path: Path, url: str, problem: str
) -> None:
    """The console, which uses REDIS_URL when it is set, says the same instead of a traceback."""
    process = await asyncio.create_subprocess_exec(
        BACKUP_BOT,
        "console",
        "--script",
        str(Path(__file__).parents[1] / "examples" / "backup.txt"),
        env={"PATH": "/usr/bin:/bin", "REDIS_URL": url},
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    lines = stderr.decode().splitlines()
    assert process.returncode == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("backup-bot: REDIS_URL is invalid:")
    assert problem in lines[0]
