"""The App Home tab: built from the simulator, Redis and restore sessions, published to Slack."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import AccessPolicy
from bot.atlassian.models import Backup, Policy
from bot.config import SiteDirectory
from bot.localslack import SlackDriver, SlackWebApi, view_errors
from bot.restore.session import RestoreSession, SessionState
from bot.runtime import Services
from bot.simulator.seed import (
    ACME_CLOUD_ID,
    ACME_JIRA_POLICY,
    JIRA_COMPLETE_BACKUP,
    SANDBOX_CLOUD_ID,
)
from bot.slack.home import PolicyOverview, home_view, publish_home, register_home
from bot.store.operations import OperationKind, TrackedOperation
from tests.fixtures.services import ADMIN
from tests.fixtures.simulator import RunningSimulator

SECRET = "home-signing-secret"
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


async def add_running_backup(services: Services) -> TrackedOperation:
    return await services.operations.register(
        OperationKind.BACKUP,
        "bkp-running-1",
        cloud_id=ACME_CLOUD_ID,
        product="JIRA",
        channel="COPS",
        card_ts="1.000001",
        started_by=ADMIN,
        status="IN_PROGRESS",
        policy_id=ACME_JIRA_POLICY,
    )


async def add_waiting_session(services: Services, requester: str = "UREQ") -> RestoreSession:
    return await services.sessions.create(
        backup_id=JIRA_COMPLETE_BACKUP,
        product="JIRA",
        source_cloud_id=ACME_CLOUD_ID,
        dest_cloud_id=SANDBOX_CLOUD_ID,
        dest_label="<!channel> sandbox",
        include_attachments=True,
        include_users_and_groups=False,
        requester=requester,
        channel="COPS",
    )


def home_text(api: SlackWebApi, user: str) -> str:
    home = api.home(user)
    assert home is not None, "no Home tab was published"
    return json.dumps(home.blocks)


async def test_published_home_shows_policies_running_operations_and_waiting_restores(
    services: Services, slack_api: SlackWebApi
) -> None:
    """An approver's Home lists each policy's latest backup, what runs now and what awaits them."""
    await add_running_backup(services)
    await add_waiting_session(services)
    client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url)

    await publish_home(client, services, ADMIN)

    text = home_text(slack_api, ADMIN)
    assert ACME_JIRA_POLICY in text
    assert "bkp-acme-confluence-incomplete" in text  # the Confluence policy's newest backup
    assert "expires" in text
    assert "bkp-running-1" in text
    assert "Restore of `bkp-acme-jira-complete`" in text
    assert "&lt;!channel&gt; sandbox" in text
    assert "<!channel>" not in text
    home = slack_api.home(ADMIN)
    assert home is not None
    assert view_errors({"type": "home", "blocks": home.blocks}) == []


async def test_home_of_a_viewer_or_the_requester_under_four_eyes_has_nothing_to_decide(
    services: Services, slack_api: SlackWebApi
) -> None:
    """Only approvers see waiting restores, and with four-eyes not their own requests."""
    await add_waiting_session(services, requester=ADMIN)
    client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url)
    four_eyes = replace(services, access=AccessPolicy.build(admins=[ADMIN], four_eyes=True))

    await publish_home(client, services, "UVIEWER")
    await publish_home(client, four_eyes, ADMIN)

    assert "No restore is waiting for you." in home_text(slack_api, "UVIEWER")
    assert "No restore is waiting for you." in home_text(slack_api, ADMIN)


async def test_home_says_in_one_line_when_atlassian_is_unreachable(
    services: Services, simulator: RunningSimulator, slack_api: SlackWebApi
) -> None:
    """A failing API leaves a one-line note in place of the policies; the rest still shows."""
    await add_running_backup(services)
    simulator.world.faults.queue(status=503, count=8, path_contains="/policies")
    client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url)

    await publish_home(client, services, ADMIN)

    text = home_text(slack_api, ADMIN)
    assert "Atlassian could not be reached" in text
    assert "bkp-running-1" in text
    assert ACME_JIRA_POLICY not in text


def test_home_view_stays_within_slack_limits_for_large_organisations() -> None:
    """Hundreds of policies, operations and sessions give a valid tab of at most 100 blocks."""
    policies = [
        PolicyOverview(
            Policy(
                policy_id=f"pol-{n}",
                cloud_id=f"{n:08d}-0000-4000-8000-000000000000",
                product="JIRA",
            ),
            Backup(
                backup_id=f"bkp-{n}",
                status="COMPLETE",
                created_at=NOW - timedelta(days=2),
                expiry_time=NOW + timedelta(days=12),
            ),
        )
        for n in range(500)
    ]
    running = [
        TrackedOperation(
            kind=OperationKind.EXPORT,
            operation_id=f"exp-{n}",
            cloud_id=ACME_CLOUD_ID,
            product="CONFLUENCE",
            channel="COPS",
            card_ts=None,
            started_by="U<script>",
            registered_at=NOW.isoformat(),
            status="IN_PROGRESS",
        )
        for n in range(300)
    ]
    sessions = [
        RestoreSession(
            session_id=f"s{n}",
            state=SessionState.AWAITING_START,
            version=1,
            backup_id=f"bkp-{n}",
            product="JIRA",
            source_cloud_id=ACME_CLOUD_ID,
            dest_cloud_id=SANDBOX_CLOUD_ID,
            dest_label="sandbox",
            include_attachments=True,
            include_users_and_groups=True,
            requester="UREQ",
            channel="COPS",
            created_at=NOW,
            updated_at=NOW,
            decision_deadline=NOW + timedelta(hours=24),
        )
        for n in range(100)
    ]
    view = home_view(
        now=NOW,
        sites=SiteDirectory({}),
        policies=policies,
        atlassian_note=None,
        running=running,
        awaiting=sessions,
    )

    assert len(view["blocks"]) <= 100
    assert view_errors(view) == []
    text = json.dumps(view, ensure_ascii=False)
    assert "…and 460 more" in text
    assert "…and 260 more" in text
    assert "U&lt;script&gt;" in text


@asynccontextmanager
async def serving(app: AsyncApp) -> AsyncIterator[str]:
    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/slack/events"
    finally:
        await runner.cleanup()


async def test_app_home_opened_event_publishes_the_tab_through_bolt(
    services: Services, slack_api: SlackWebApi
) -> None:
    """Opening the Home tab (a signed app_home_opened event) publishes that user's tab."""
    await add_running_backup(services)
    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-test", base_url=slack_api.url), signing_secret=SECRET
    )
    register_home(app, services)
    event = {
        "token": "verification",
        "team_id": slack_api.team_id,
        "api_app_id": slack_api.app_id,
        "type": "event_callback",
        "event_id": "Ev0HOME",
        "event_time": 1_793_523_600,
        "event": {
            "type": "app_home_opened",
            "user": ADMIN,
            "channel": "D0HOME",
            "tab": "home",
            "event_ts": "1793523600.000100",
        },
    }
    async with serving(app) as url, SlackDriver(url, SECRET, slack_api) as driver:
        response = await driver.post_signed(json.dumps(event).encode())
        assert response.status == 200
        await slack_api.wait_for(lambda api: api.home(ADMIN) is not None)

    assert "bkp-running-1" in home_text(slack_api, ADMIN)
    assert ACME_JIRA_POLICY in home_text(slack_api, ADMIN)


async def test_home_starts_with_the_status_could_we_restore_today(
    services: Services, slack_api: SlackWebApi
) -> None:
    """The top of Home is `/backup status`: each policy's loss window and open restores."""
    await add_waiting_session(services)
    client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url)

    await publish_home(client, services, ADMIN)

    home = slack_api.home(ADMIN)
    assert home is not None
    top = json.dumps(home.blocks[:6])
    assert "Could we restore today?" in top
    assert f"`{ACME_JIRA_POLICY}`" in top
    assert "restoring now loses 8 days" in top
    assert "1 restore open" in json.dumps(home.blocks)
    assert view_errors({"type": "home", "blocks": home.blocks}) == []
