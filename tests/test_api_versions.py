"""Both API versions: the v2 reference's shapes, the setting, the rules, and the client against
the simulator over loopback in v1 and v2, activation, schedules, paging and the start-up check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.atlassian import AtlassianClient, RetryPolicy, rules
from bot.atlassian.models import (
    Backup,
    BackupStatus,
    Policy,
    PolicyStatus,
    Product,
    Schedule,
    ScheduleInterval,
)
from bot.atlassian.probe import probe_api_version
from bot.atlassian.schedules import describe_schedule, next_run
from bot.atlassian.versions import V1, V2, ApiVersion, profile_of, resolve_version
from bot.config import SiteDirectory, load_settings
from bot.errors import ConfigError
from bot.simulator.seed import (
    ACME_CLOUD_ID,
    ACME_CONFLUENCE_POLICY,
    ACME_JIRA_POLICY,
    JIRA_COMPLETE_BACKUP,
)
from bot.slack import policy_blocks
from tests.fixtures.atlassian_client import AtlassianClientFactory
from tests.fixtures.bot_harness import CHANNEL, BotHarness
from tests.fixtures.simulator import RunningSimulator

BOTH = pytest.mark.parametrize("api_version", list(ApiVersion))
ON_V2 = pytest.mark.parametrize("api_version", [ApiVersion.V2])
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


# -- the reference's samples, parsed verbatim ----------------------------------------------


def test_the_v2_reference_policy_reads_into_the_domain_policy() -> None:
    """Every field of the reference's get-policy answer lands where the bot reads it."""
    policy = Policy.model_validate(V2_POLICY)
    assert policy.policy_id == "8c1f0c43-policy"
    assert policy.policy_name == "Nightly Jira"
    assert policy.cloud_id == "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
    assert policy.cloud_info is not None
    assert policy.cloud_info.cloud_name == "example"
    assert policy.product is Product.JIRA
    assert policy.status is PolicyStatus.ACTIVE
    assert policy.is_active
    assert policy.storage_id == "storage-42"
    assert policy.include_users_and_groups is True
    assert policy.schedule == Schedule(
        interval=ScheduleInterval.ONCE, start_date=date(2026, 12, 7), schedule_slot="02:00"
    )
    assert policy.last_backup_time == datetime(2026, 11, 30, 2, 14, tzinfo=UTC)
    assert policy.details is not None
    assert policy.details.backup_details is not None
    assert policy.details.backup_details.total_available_backups == 3
    assert policy.created_by == "5b10ac8d82e05b22cc7d4ef5"
    assert policy.unknown_fields == {}


def test_the_v2_reference_backup_reads_into_the_domain_backup() -> None:
    """A CREATED backup with size, selections and expiry as the reference names them."""
    backup = Backup.model_validate(V2_BACKUP)
    assert backup.backup_id == "bkp-7f3a"
    assert backup.name == "Nightly Jira 2026-12-07"
    assert backup.status is BackupStatus.CREATED
    assert backup.selections == ["USERS"]
    assert backup.backup_size is not None
    assert backup.backup_size.users_size == 0.02
    assert backup.backup_size.total_backup_size_in_gb == 12.52
    assert backup.expiry_time == datetime(2027, 1, 6, 2, 0, tzinfo=UTC)
    assert backup.account_id == "5b10ac8d82e05b22cc7d4ef5"
    assert backup.policy_id is None
    assert backup.unknown_fields == {}


def test_a_v1_policy_still_reads_into_the_same_policy() -> None:
    """The EAP's flat shape gives the same site, product and storage."""
    policy = Policy.model_validate(
        {"policyId": "p", "cloudId": "c", "product": "confluence", "storageId": "s"}
    )
    assert (policy.cloud_id, policy.product, policy.storage_id) == ("c", Product.CONFLUENCE, "s")
    assert policy.is_active
    assert policy.schedule is None


def test_a_policy_round_trips_through_its_own_json() -> None:
    """What the tracker stores (by alias) reads back as the same policy."""
    policy = Policy.model_validate(V2_POLICY)
    assert Policy.model_validate_json(policy.model_dump_json(by_alias=True)) == policy


# -- schedules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (
            Schedule(interval="WEEKLY", start_date=date(2026, 12, 7), schedule_slot="02:00"),
            "weekly from 2026-12-07, slot 02:00 UTC",
        ),
        (
            Schedule(interval="ONCE", start_date=date(2026, 12, 7), schedule_slot="23:30-01:30"),
            "once on 2026-12-07, slot 23:30 UTC",
        ),
        (
            Schedule(interval="DAILY", start_date=date(2026, 12, 7)),
            "daily from 2026-12-07, slot not assigned yet",
        ),
        (
            Schedule(interval="MONTHLY", start_date="next month", schedule_slot="EARLY"),
            "monthly from next month, slot EARLY",
        ),
        (None, "no schedule"),
    ],
)
def test_a_schedule_is_said_in_plain_words(schedule: Schedule | None, words: str) -> None:
    """Interval, start date and slot read as a phrase; unknown parts are shown as they came."""
    assert describe_schedule(schedule) == words


def test_the_next_run_is_the_first_slot_after_now() -> None:
    """Weekly slots repeat every 7 days from the start date; a once-only one ends."""
    weekly = Schedule(interval="WEEKLY", start_date=date(2026, 11, 2), schedule_slot="02:00")
    assert next_run(weekly, NOW) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert next_run(weekly, datetime(2026, 12, 7, 2, 0, tzinfo=UTC)) == datetime(
        2026, 12, 14, 2, 0, tzinfo=UTC
    )
    once = weekly.model_copy(update={"interval": ScheduleInterval.ONCE})
    assert next_run(once, NOW) is None
    assert next_run(once, datetime(2026, 11, 1, tzinfo=UTC)) == datetime(
        2026, 11, 2, 2, 0, tzinfo=UTC
    )


# -- the setting ---------------------------------------------------------------------------


def test_the_version_comes_from_the_setting_then_the_url_then_v1() -> None:
    """ATLASSIAN_API_VERSION wins over the URL's last segment; with neither it is v1."""
    assert resolve_version("v2", "https://x.example/backup-management/v1") is ApiVersion.V2
    assert resolve_version(None, "https://x.example/backup-management/v2/") is ApiVersion.V2
    assert resolve_version(None, "http://127.0.0.1:8900/") is ApiVersion.V1


def test_choosing_v2_alone_points_at_atlassians_v2_base() -> None:
    """ATLASSIAN_API_VERSION=v2 without a URL uses the documented v2 base and its rules."""
    settings = load_settings(_env_file=None, atlassian_api_version="V2")
    assert settings.atlassian_api_url == "https://api.atlassian.com/public/backup-management/v2/"
    assert settings.api_profile.rules.retention == timedelta(days=30)
    overridden = load_settings(
        _env_file=None, atlassian_api_version="v2", atlassian_backup_retention_days="21"
    )
    assert overridden.api_profile.rules.retention == timedelta(days=21)


def test_v2_without_an_account_id_stops_start_up_in_one_line() -> None:
    """The line names ATLASSIAN_ACCOUNT_ID and the way back to v1; v1 needs no account id."""
    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None, atlassian_api_version="v2").require_account_id()
    message = str(raised.value)
    assert message.startswith("ATLASSIAN_ACCOUNT_ID is not set; the current backup API (v2)")
    assert "ATLASSIAN_API_VERSION=v1" in message
    assert "\n" not in message
    load_settings(_env_file=None, atlassian_api_version="v1").require_account_id()


def test_an_unknown_version_is_refused_naming_the_setting() -> None:
    """ATLASSIAN_API_VERSION=v3 stops start-up with the variable's name."""
    with pytest.raises(ConfigError, match=r"^ATLASSIAN_API_VERSION is invalid"):
        load_settings(_env_file=None, atlassian_api_version="v3")


# -- the rules of each version -------------------------------------------------------------


def test_a_v2_backup_without_expiry_time_expires_after_30_days_and_says_so() -> None:
    """The retention of the version that answered decides the expiry and the refusal's rule."""
    backup = Backup(backup_id="b", status="COMPLETE", created_at=NOW - timedelta(days=31)).kept_for(
        V2.rules.retention
    )
    assert rules.backup_expiry(backup) == NOW - timedelta(days=1)
    verdict = rules.restorability(backup, [], NOW)
    assert verdict.reason.endswith("(backups are kept 30 days).")


def test_an_expiry_time_is_used_as_given() -> None:
    """expiryTime is never recomputed from a retention, whichever the version."""
    given = NOW + timedelta(hours=5)
    backup = Backup(backup_id="b", status="COMPLETE", created_at=NOW, expiry_time=given)
    assert rules.backup_expiry(backup.kept_for(V2.rules.retention)) == given


def test_the_cadence_refusal_quotes_the_rule_of_the_version() -> None:
    """v1 refuses for 7 days after a complete backup, v2 for one day, each saying its rule."""
    done = [Backup(backup_id="b", status="COMPLETE", created_at=NOW - timedelta(hours=3))]
    v1 = rules.may_run_backup(done, NOW, rules=V1.rules)
    v2 = rules.may_run_backup(done, NOW, rules=V2.rules)
    assert v1.reason.endswith("(one backup every 7 days).")
    assert v2.reason.endswith("(one backup every 1 day).")
    assert v2.possible_from == NOW + timedelta(hours=21)


def test_a_created_backup_neither_blocks_a_run_nor_can_be_restored() -> None:
    """CREATED means not started: no run is refused for it, and it is not restorable."""
    waiting = Backup(backup_id="b", status="CREATED", created_at=NOW)
    assert rules.may_run_backup([waiting], NOW, rules=V2.rules).allowed
    assert "has not finished yet" in rules.restorability(waiting, [], NOW).reason


# -- the client against the simulator, both versions ---------------------------------------


@BOTH
async def test_policies_read_into_the_same_domain_objects(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """Listing and reading policies gives site, product and storage in either version."""
    listed = {p.policy_id: p for p in await atlassian_client.list_policies()}
    assert set(listed) == {ACME_JIRA_POLICY, ACME_CONFLUENCE_POLICY}
    policy = await atlassian_client.get_policy(ACME_JIRA_POLICY)
    assert (policy.cloud_id, policy.product, policy.storage_id) == (
        ACME_CLOUD_ID,
        Product.JIRA,
        None,
    )
    assert policy.unknown_fields == {}
    if simulator.api is ApiVersion.V2:
        assert policy.policy_name == "Acme Jira weekly"
        assert describe_schedule(policy.schedule).startswith("weekly from ")
        assert policy.last_backup_time is not None
        assert not listed[ACME_CONFLUENCE_POLICY].is_active
        [read] = [c for c in simulator.world.calls if c.path.endswith(ACME_JIRA_POLICY)]
        assert read.query == {"storageDetails": "true", "backupDetails": "true"}


@BOTH
async def test_backups_carry_size_and_the_versions_retention(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """A complete backup has its size and expiry; its retention is the version's."""
    backup = await atlassian_client.get_backup(JIRA_COMPLETE_BACKUP)
    assert backup.status is BackupStatus.COMPLETE
    assert backup.backup_size is not None
    assert backup.backup_size.total_backup_size_in_gb
    assert backup.retention == profile_of(simulator.api).rules.retention
    assert backup.expiry_time == backup.created_at + profile_of(simulator.api).rules.retention
    assert backup.unknown_fields == {}


@ON_V2
async def test_activation_schedules_a_created_backup_that_runs_in_its_slot(
    atlassian_client: AtlassianClient, simulator: RunningSimulator
) -> None:
    """Activating answers with a CREATED backup; when the slot comes it runs and completes."""
    [waiting] = await atlassian_client.activate_policy(ACME_CONFLUENCE_POLICY)
    assert waiting.status is BackupStatus.CREATED
    policy = await atlassian_client.get_policy(ACME_CONFLUENCE_POLICY)
    assert policy.is_active
    slot = next_run(policy.schedule, simulator.clock.now())
    assert slot is not None
    simulator.clock.set(slot + timedelta(seconds=1))
    assert (await atlassian_client.get_backup(waiting.backup_id)).status is BackupStatus.IN_PROGRESS
    simulator.clock.advance(10)
    assert (await atlassian_client.get_backup(waiting.backup_id)).status is BackupStatus.COMPLETE
    statuses = [b.status for b in await atlassian_client.list_backups(ACME_CONFLUENCE_POLICY)]
    assert statuses.count(BackupStatus.CREATED) == 1  # the following slot's


@ON_V2
async def test_activation_needs_the_account_id_header(
    atlassian_client_factory: AtlassianClientFactory, simulator: RunningSimulator
) -> None:
    """Without X-Atl-Account-Id the simulator answers 400; the client refuses before sending."""
    async with httpx.AsyncClient(auth=("a@b.c", simulator.token)) as http:
        bare = await http.put(f"{simulator.org_url}policies/{ACME_CONFLUENCE_POLICY}/activate")
    assert bare.status_code == 400
    assert "X-Atl-Account-Id" in bare.json()["message"]
    client = atlassian_client_factory(account_id=None)
    with pytest.raises(ConfigError, match="ATLASSIAN_ACCOUNT_ID"):
        await client.activate_policy(ACME_CONFLUENCE_POLICY)


@ON_V2
async def test_the_v2_simulator_pages_with_start_and_page_size(simulator: RunningSimulator) -> None:
    """start and pageSize cut the list; totalItems counts all of it; sortOrder=ASC reverses."""
    async with httpx.AsyncClient(auth=("a@b.c", simulator.token)) as http:
        url = f"{simulator.org_url}policies/{ACME_JIRA_POLICY}/backups"
        first = (await http.get(url, params={"start": 0, "pageSize": 1})).json()
        second = (await http.get(url, params={"start": 1, "pageSize": 1})).json()
        ascending = (await http.get(url, params={"pageSize": 10, "sortOrder": "ASC"})).json()
    assert first["totalItems"] == second["totalItems"] == len(ascending["backups"]) == 3
    assert first["backups"][0]["backupId"] != second["backups"][0]["backupId"]
    assert ascending["backups"][-1]["backupId"] == first["backups"][0]["backupId"]
    assert set(ascending["backups"][0]) >= {"backupId", "name", "selections", "accountId"}


def answering(
    handler: Callable[[httpx.Request], httpx.Response], **options: Any
) -> AtlassianClient:
    """A client whose every request ``handler`` answers (for shapes no simulator serves)."""
    return AtlassianClient(
        base_url="https://api.example/v2",
        org_id="o",
        email="e",
        api_token="t",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy.for_tests(),
        **options,
    )


async def test_a_list_that_never_ends_is_cut_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that always claims more items is followed only up to the page cap."""
    served = 0

    def endless(request: httpx.Request) -> httpx.Response:
        nonlocal served
        served += 1
        start = int(request.url.params["start"])
        item = {"policyId": f"p-{start}", "cloudId": "c", "product": "JIRA"}
        return httpx.Response(200, json={"policies": [item], "totalItems": 10**9})

    with caplog.at_level(logging.WARNING):
        async with answering(endless) as client:
            client.max_pages = 5
            policies = await client.list_policies()
    assert len(policies) == served == 5
    assert "had not ended after 5 pages (5 items); the list is cut there" in caplog.text


# -- the start-up check --------------------------------------------------------------------


@ON_V2
async def test_the_probe_names_the_version_tried_and_the_setting_to_change(
    atlassian_client_factory: AtlassianClientFactory, simulator: RunningSimulator
) -> None:
    """A v1 client at the v2 org's root gets 404: one line says to set ATLASSIAN_API_VERSION."""
    answered = await probe_api_version(atlassian_client_factory())
    assert answered.ok
    assert answered.policies == 2
    root = simulator.url.removesuffix("v2/")
    wrong = atlassian_client_factory(base_url=root, profile=V1)
    result = await probe_api_version(wrong)
    assert result.problem == (
        f"Atlassian answered 404 to the EAP backup API (v1) at {root}; if the org uses the "
        "current backup API (v2), set ATLASSIAN_API_VERSION=v2 (and ATLASSIAN_API_URL to "
        "https://api.atlassian.com/public/backup-management/v2 or your proxy of it)."
    )


async def test_an_unreadable_policy_list_is_one_line_too() -> None:
    """A 2xx the models cannot read is named with the version tried."""

    def odd(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"policies": [{"id": 1}]})

    async with answering(odd, profile=V2) as client:
        result = await probe_api_version(client)
    assert result.problem is not None
    assert result.problem.startswith(
        "The policy list from the current backup API (v2) at https://api.example/v2/ could not "
        "be read (A Policy could not be read (policyId: Field required));"
    )
    assert "ATLASSIAN_API_VERSION=v1" in result.problem


# -- through Slack -------------------------------------------------------------------------


@ON_V2
async def test_policy_activate_posts_the_active_policy_card(bot_harness: BotHarness) -> None:
    """On v2 an admin's activation reaches Atlassian once and the card shows the schedule."""
    await bot_harness.slash(f"policy activate {ACME_CONFLUENCE_POLICY}")
    [card] = bot_harness.slack.messages(CHANNEL)
    text = str(card.blocks)
    assert "activated a backup policy" in text
    assert "weekly from" in text
    assert "slot 02:00 UTC" in text
    assert "Next scheduled backup" in text
    activations = [c for c in bot_harness.simulator.world.calls if c.path.endswith("/activate")]
    assert len(activations) == 1


async def test_policy_activate_on_v1_is_one_sentence(bot_harness: BotHarness) -> None:
    """The EAP API has no activation: the admin is told so privately, nothing is sent."""
    response = await bot_harness.slash(f"policy activate {ACME_JIRA_POLICY}")
    reply = bot_harness.reply_text(response)
    assert "The EAP backup API (v1) has no policy activation" in reply
    assert bot_harness.simulator.world.calls == []


@ON_V2
async def test_run_on_v2_says_what_the_schedule_does_next(bot_harness: BotHarness) -> None:
    """A manual backup of a scheduled policy starts, and the answer names the next slot."""
    response = await bot_harness.slash(f"run {ACME_JIRA_POLICY}")
    reply = bot_harness.reply_text(response)
    assert "also runs on its schedule (weekly from" in reply
    assert "Atlassian starts the next backup" in reply


def test_policy_card_shows_name_state_schedule_and_last_backup() -> None:
    """The card of a v2 policy reads in plain words, with no API enum names."""
    message = policy_blocks.policy_message(Policy.model_validate(V2_POLICY), SITES, NOW)
    text = str(message.blocks)
    for shown in ("Nightly Jira", "active", "once on 2026-12-07, slot 02:00 UTC", "Last backup"):
        assert shown in text, shown
    assert "ACTIVE" not in text
    assert "ONCE" not in text


SITES = SiteDirectory({"example": "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"})

# The reference's get-policy sample, field for field, with values of our own.
V2_POLICY: dict[str, Any] = {
    "policyId": "8c1f0c43-policy",
    "policyName": "Nightly Jira",
    "cloudInfo": {
        "cloudId": "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa",
        "cloudUrl": "https://example.atlassian.net",
        "cloudName": "example",
        "encryptionType": "ATLASSIAN_MANAGED",
    },
    "productType": "JIRA",
    "status": "ACTIVE",
    "includeAttachments": True,
    "includePersonalSpaces": False,
    "includeUsersAndGroups": True,
    "details": {
        "storageId": "storage-42",
        "backupDetails": {"lastBackupTime": "2026-11-30T02:14:00Z", "totalAvailableBackups": 3},
        "scheduleDetails": {"interval": "ONCE", "startDate": "2026-12-07", "scheduleSlot": "02:00"},
    },
    "createdAt": "2026-11-01T10:00:00Z",
    "createdBy": "5b10ac8d82e05b22cc7d4ef5",
}

# A backup of the activate answer's list, field for field, with values of our own.
V2_BACKUP: dict[str, Any] = {
    "backupId": "bkp-7f3a",
    "name": "Nightly Jira 2026-12-07",
    "cloudId": "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa",
    "product": "JIRA",
    "status": "CREATED",
    "statusMessage": None,
    "accountId": "5b10ac8d82e05b22cc7d4ef5",
    "expiryTime": "2027-01-06T02:00:00Z",
    "selections": ["USERS"],
    "backupSize": {
        "usersSize": 0.02,
        "dataSize": 2.5,
        "attachmentsSize": 10.0,
        "totalBackupSizeInGB": 12.52,
    },
    "createdAt": "2026-12-01T09:00:00Z",
    "lastUpdatedAt": "2026-12-01T09:00:00Z",
    "storageId": "storage-42",
    "encryptionType": "ATLASSIAN_MANAGED",
}
