"""The documented backup and restore rules, at their boundaries and as properties."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.atlassian import rules
from bot.atlassian.models import (
    Backup,
    BackupSize,
    BackupStatus,
    Product,
    Restore,
    RestoreStatus,
    normalise_status,
)
from bot.atlassian.rules import (
    BACKUP_INTERVAL,
    BACKUP_RETENTION,
    RESTORABLE_BACKUP_STATUSES,
    RESTORE_INTERVAL,
    SIZE_LIMITS,
    Concern,
    SizeLimit,
    Verdict,
    backup_expiry,
    describe_age,
    effective_backup_status,
    may_run_backup,
    preflight_restore,
    restorability,
    restore_warning,
    size_limit_problems,
    time_to_expiry,
)
from bot.clock import ManualClock

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
SOURCE = "11111111-1111-4111-8111-111111111111"
SANDBOX = "22222222-2222-4222-8222-222222222222"
STAGING = "33333333-3333-4333-8333-333333333333"
KNOWN_SITES = frozenset({SOURCE, SANDBOX, STAGING})


def make_backup(
    backup_id: str = "bkp-1",
    *,
    status: BackupStatus | str = BackupStatus.COMPLETE,
    age: timedelta | None = timedelta(days=1),
    **fields: Any,
) -> Backup:
    created_at = None if age is None else NOW - age
    return Backup(
        backup_id=backup_id,
        policy_id="pol-1",
        cloud_id=SOURCE,
        product=fields.pop("product", Product.JIRA),
        status=status,
        created_at=created_at,
        **fields,
    )


def make_restore(
    restore_id: str = "rst-1",
    *,
    backup_id: str = "bkp-1",
    cloud_id: str = SANDBOX,
    status: RestoreStatus | str = RestoreStatus.COMPLETE,
    age: timedelta | None = timedelta(days=1),
) -> Restore:
    return Restore(
        restore_id=restore_id,
        backup_id=backup_id,
        cloud_id=cloud_id,
        status=status,
        created_at=None if age is None else NOW - age,
    )


def preflight(backup: Backup, restores: list[Restore] | None = None, **overrides: Any) -> Verdict:
    arguments: dict[str, Any] = {
        "backup": backup,
        "restores": restores or [],
        "dest_cloud_id": SANDBOX,
        "dest_label": "acme-sandbox",
        "known_cloud_ids": KNOWN_SITES,
        "include_attachments": None,
        "now": NOW,
    }
    arguments.update(overrides)
    return preflight_restore(**arguments)


# --- Verdict ---------------------------------------------------------------------------------


def test_verdict_refusal_must_carry_a_reason() -> None:
    """A refusal without a reason cannot be built, so Slack never shows an empty refusal."""
    with pytest.raises(ValueError, match="must say why"):
        Verdict(allowed=False, reason="")


def test_verdict_allowance_carries_no_reason() -> None:
    """An allowed verdict with a reason is rejected as contradictory."""
    with pytest.raises(ValueError, match="no reason"):
        Verdict(allowed=True, reason="but why")


def test_public_surface_is_pinned() -> None:
    """The module exports exactly the names other parts of the bot code against."""
    assert set(rules.__all__) == {
        "ACTIVE_RESTORE_STATUSES",
        "BACKUP_INTERVAL",
        "BACKUP_RETENTION",
        "RESTORABLE_BACKUP_STATUSES",
        "RESTORE_INTERVAL",
        "SIZE_LIMITS",
        "TIME_FORMAT",
        "Concern",
        "Problem",
        "SizeLimit",
        "Verdict",
        "backup_expiry",
        "backup_problems",
        "describe_age",
        "destination_problems",
        "effective_backup_status",
        "format_time",
        "is_expired_by_time",
        "may_run_backup",
        "option_problems",
        "preflight_restore",
        "restorability",
        "restore_warning",
        "retention_of",
        "size_limit_problems",
        "time_to_expiry",
    }
    assert all(hasattr(rules, name) for name in rules.__all__)


# --- expiry ----------------------------------------------------------------------------------


def test_expiry_prefers_the_api_expiry_time() -> None:
    """An expiryTime from the API wins over the 14-day rule of thumb."""
    given_expiry = NOW + timedelta(hours=3)
    assert backup_expiry(make_backup(expiry_time=given_expiry)) == given_expiry


def test_expiry_defaults_to_fourteen_days_after_creation() -> None:
    """Without expiryTime a backup expires 14 days after it was created."""
    assert backup_expiry(make_backup(age=timedelta(days=2))) == NOW - timedelta(days=2) + (
        timedelta(days=14)
    )


def test_expiry_is_unknown_without_any_time() -> None:
    """A backup with neither expiryTime nor createdAt has no known expiry or time left."""
    backup = make_backup(age=None)
    assert backup_expiry(backup) is None
    assert time_to_expiry(backup, NOW) is None


def test_naive_api_times_are_read_as_utc() -> None:
    """A naive expiryTime is UTC, so it compares with an aware now without error."""
    backup = make_backup(expiry_time=datetime(2026, 11, 21, 9, 0))
    assert time_to_expiry(backup, NOW) == timedelta(days=1)


def test_time_to_expiry_goes_negative_once_expired() -> None:
    """Time left is negative after expiry, so callers can tell how long ago it expired."""
    backup = make_backup(age=BACKUP_RETENTION + timedelta(hours=2))
    assert time_to_expiry(backup, NOW) == -timedelta(hours=2)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (BACKUP_RETENTION - SECOND, BackupStatus.COMPLETE),
        (BACKUP_RETENTION, BackupStatus.EXPIRED),
        (BACKUP_RETENTION + SECOND, BackupStatus.EXPIRED),
    ],
)
def test_complete_backup_expires_at_exactly_fourteen_days(
    age: timedelta, expected: BackupStatus
) -> None:
    """A backup the API still calls COMPLETE counts as EXPIRED from its 14th day on."""
    assert effective_backup_status(make_backup(age=age), NOW) == expected


def test_incomplete_backup_also_expires() -> None:
    """An INCOMPLETE backup past its expiry counts as EXPIRED too."""
    backup = make_backup(status=BackupStatus.INCOMPLETE, age=timedelta(days=15))
    assert effective_backup_status(backup, NOW) == BackupStatus.EXPIRED


def test_failed_and_unknown_statuses_are_kept_past_expiry() -> None:
    """Only finished, usable backups turn EXPIRED; FAILED and unknown statuses stay as given."""
    old = timedelta(days=30)
    assert effective_backup_status(make_backup(status="FAILED", age=old), NOW) == "FAILED"
    assert effective_backup_status(make_backup(status="ARCHIVED", age=old), NOW) == "ARCHIVED"


# --- may_run_backup --------------------------------------------------------------------------


def test_first_backup_of_a_policy_may_run() -> None:
    """A policy without backups may take one at once."""
    assert may_run_backup([], NOW) == Verdict(allowed=True, reason="")


def test_backup_refused_while_one_is_in_progress() -> None:
    """A running backup blocks a new one, with no date because it depends on the run."""
    backups = [
        make_backup("bkp-old", age=timedelta(days=20)),
        make_backup("bkp-run", status="In Progress", age=timedelta(hours=1)),
    ]
    verdict = may_run_backup(backups, NOW)
    assert not verdict.allowed
    assert verdict.possible_from is None
    assert verdict.reason == (
        "Backup bkp-run of this policy is still in progress, "
        "so a new one can start only after it finishes."
    )


@pytest.mark.parametrize(
    ("age", "allowed"),
    [
        (BACKUP_INTERVAL - SECOND, False),
        (BACKUP_INTERVAL, True),
        (BACKUP_INTERVAL + SECOND, True),
    ],
)
def test_backup_interval_boundary(age: timedelta, allowed: bool) -> None:
    """A new backup may run from exactly 7 days after the last complete one, not a second before."""
    verdict = may_run_backup([make_backup(age=age)], NOW)
    assert verdict.allowed is allowed


def test_backup_refusal_names_the_last_backup_and_the_date() -> None:
    """A refusal by time says which backup blocks it and exactly when the next may run."""
    backups = [
        make_backup("bkp-a", age=timedelta(days=6)),
        make_backup("bkp-b", age=timedelta(days=2)),
    ]
    verdict = may_run_backup(backups, NOW)
    assert verdict.possible_from == NOW + timedelta(days=5)
    assert verdict.reason == (
        "The last complete backup of this policy, bkp-b, was taken on 2026-11-18 09:00 UTC, "
        "so the next one can run from 2026-11-25 09:00 UTC (one backup every 7 days)."
    )


def test_only_complete_backups_start_the_interval() -> None:
    """Recent FAILED, INCOMPLETE and EXPIRED backups do not hold the next backup back."""
    backups = [
        make_backup("bkp-f", status=BackupStatus.FAILED, age=timedelta(hours=1)),
        make_backup("bkp-i", status=BackupStatus.INCOMPLETE, age=timedelta(hours=2)),
        make_backup("bkp-e", status=BackupStatus.EXPIRED, age=timedelta(hours=3)),
    ]
    assert may_run_backup(backups, NOW).allowed


def test_undated_complete_backup_does_not_block() -> None:
    """A complete backup without any time cannot be placed, so Atlassian is left to decide."""
    assert may_run_backup([make_backup(age=None)], NOW).allowed


def test_completed_at_stands_in_for_a_missing_created_at() -> None:
    """The interval counts from completedAt when createdAt is missing."""
    backup = make_backup(age=None, completed_at=NOW - timedelta(days=1))
    assert may_run_backup([backup], NOW).possible_from == NOW + timedelta(days=6)


def test_backup_order_does_not_change_the_verdict() -> None:
    """The verdict is the same whichever order the API lists the backups in."""
    backups = [
        make_backup("bkp-a", age=timedelta(days=3)),
        make_backup("bkp-b", age=timedelta(days=1)),
        make_backup("bkp-c", age=timedelta(days=10)),
    ]
    assert may_run_backup(backups, NOW) == may_run_backup(list(reversed(backups)), NOW)
    assert may_run_backup(backups, NOW).possible_from == NOW + timedelta(days=6)


def test_manual_clock_moves_a_refusal_to_an_allowance() -> None:
    """Advancing an injected clock past possible_from turns the refusal into an allowance."""
    clock = ManualClock(NOW)
    backups = [make_backup(age=timedelta(days=3))]
    refused = may_run_backup(backups, clock.now())
    assert refused.possible_from is not None
    clock.set(refused.possible_from)
    assert may_run_backup(backups, clock.now()).allowed


# --- restorability ---------------------------------------------------------------------------


def test_complete_and_incomplete_backups_are_restorable() -> None:
    """COMPLETE and INCOMPLETE backups within their 14 days may be restored."""
    assert restorability(make_backup(status="COMPLETED"), [], NOW).allowed
    assert restorability(make_backup(status=BackupStatus.INCOMPLETE), [], NOW).allowed


@pytest.mark.parametrize(
    ("backup", "reason"),
    [
        (
            make_backup(status=BackupStatus.IN_PROGRESS),
            "Backup bkp-1 is still in progress and can be restored once it completes.",
        ),
        (
            make_backup(status=BackupStatus.FAILED),
            "Backup bkp-1 failed and cannot be restored.",
        ),
        (
            make_backup(status=BackupStatus.FAILED, status_message="storage unreachable"),
            "Backup bkp-1 failed (storage unreachable) and cannot be restored.",
        ),
        (
            make_backup(status=BackupStatus.EXPIRED, age=None),
            "Backup bkp-1 has expired (backups are kept 14 days).",
        ),
        (
            make_backup(status=BackupStatus.EXPIRED, age=timedelta(days=16)),
            "Backup bkp-1 expired on 2026-11-18 09:00 UTC (backups are kept 14 days).",
        ),
        (
            make_backup(age=BACKUP_RETENTION),
            "Backup bkp-1 expired on 2026-11-20 09:00 UTC (backups are kept 14 days).",
        ),
        (
            make_backup(status="QUARANTINED"),
            "Backup bkp-1 is QUARANTINED, a status the bot does not recognise, so it will not "
            "restore it; `/backup show` tells what Atlassian says about it.",
        ),
    ],
    ids=["in-progress", "failed", "failed-message", "expired", "expired-dated", "aged", "unknown"],
)
def test_unrestorable_backups_are_refused_with_why(backup: Backup, reason: str) -> None:
    """Each unrestorable backup is refused with its own sentence and no date to wait for."""
    verdict = restorability(backup, [], NOW)
    assert verdict == Verdict(allowed=False, reason=reason, possible_from=None)


def test_backup_just_before_expiry_is_restorable() -> None:
    """One second before its 14 days are up a backup may still be restored."""
    assert restorability(make_backup(age=BACKUP_RETENTION - SECOND), [], NOW).allowed


@pytest.mark.parametrize(
    ("age", "allowed"),
    [
        (RESTORE_INTERVAL - SECOND, False),
        (RESTORE_INTERVAL, True),
        (RESTORE_INTERVAL + SECOND, True),
    ],
)
def test_restore_interval_boundary(age: timedelta, allowed: bool) -> None:
    """A backup may be restored again from exactly 7 days after its last restore."""
    verdict = restorability(make_backup(), [make_restore(age=age)], NOW)
    assert verdict.allowed is allowed


def test_recent_restore_refusal_says_when() -> None:
    """A refusal for a recent restore names it and the moment the backup is free again."""
    restores = [
        make_restore("rst-a", age=timedelta(days=5)),
        make_restore("rst-b", status=RestoreStatus.IN_PROGRESS, age=timedelta(days=2)),
    ]
    verdict = restorability(make_backup(), restores, NOW)
    assert verdict.possible_from == NOW + timedelta(days=5)
    assert verdict.reason == (
        "Backup bkp-1 was already restored on 2026-11-18 09:00 UTC (restore rst-b), "
        "so it can be restored again from 2026-11-25 09:00 UTC (once every 7 days)."
    )


def test_failed_restores_and_other_backups_do_not_count() -> None:
    """A failed restore of this backup, or any restore of another backup, leaves it free."""
    restores = [
        make_restore("rst-f", status=RestoreStatus.FAILED, age=timedelta(hours=1)),
        make_restore("rst-o", backup_id="bkp-other", age=timedelta(hours=1)),
    ]
    assert restorability(make_backup(), restores, NOW).allowed


@pytest.mark.parametrize(
    "status",
    [RestoreStatus.VALIDATING, RestoreStatus.IN_PROGRESS, RestoreStatus.INCOMPLETE, "PAUSED"],
)
def test_every_restore_that_may_have_run_starts_the_interval(status: RestoreStatus | str) -> None:
    """Validating, running, incomplete restores and unknown statuses all use up the window."""
    verdict = restorability(make_backup(), [make_restore(status=status)], NOW)
    assert not verdict.allowed


def test_a_restore_still_waiting_for_consent_never_ran_so_the_backup_stays_free() -> None:
    """A restore nobody consented to did not restore the backup: no "already restored"."""
    waiting = make_restore(status=RestoreStatus.VALIDATION_FAILED, age=timedelta(hours=2))
    assert restorability(make_backup(), [waiting], NOW).allowed
    onto_its_site = preflight(make_backup(), [waiting])
    assert not onto_its_site.allowed
    assert "already restored" not in onto_its_site.reason


def test_undated_running_restore_blocks_without_a_date() -> None:
    """A running restore of the backup with no createdAt blocks it, with no date to promise."""
    restores = [make_restore("rst-x", status=RestoreStatus.VALIDATING, age=None)]
    verdict = restorability(make_backup(), restores, NOW)
    assert not verdict.allowed
    assert verdict.possible_from is None
    assert "rst-x" in verdict.reason


def test_undated_finished_restore_does_not_block() -> None:
    """A finished restore that cannot be dated is left to Atlassian to judge."""
    assert restorability(make_backup(), [make_restore(age=None)], NOW).allowed


def test_backup_status_is_checked_before_the_restore_interval() -> None:
    """An expired backup is refused as expired even if it was also restored recently."""
    backup = make_backup(age=timedelta(days=20))
    verdict = restorability(backup, [make_restore(age=timedelta(days=1))], NOW)
    assert "expired" in verdict.reason
    assert verdict.possible_from is None


def test_restore_order_does_not_change_the_verdict() -> None:
    """The most recent restore decides, whichever order the restores are listed in."""
    restores = [
        make_restore("rst-a", age=timedelta(days=6)),
        make_restore("rst-b", age=timedelta(hours=3)),
        make_restore("rst-c", age=timedelta(days=3)),
    ]
    forward = restorability(make_backup(), restores, NOW)
    assert forward == restorability(make_backup(), list(reversed(restores)), NOW)
    assert forward.possible_from == NOW - timedelta(hours=3) + RESTORE_INTERVAL


# --- restore_warning -------------------------------------------------------------------------


def test_incomplete_jira_backup_warns_about_attachments() -> None:
    """Restoring an incomplete Jira backup warns that its attachments are missing."""
    backup = make_backup(status=BackupStatus.INCOMPLETE, status_message="3 files unreadable")
    assert restore_warning(backup) == (
        "Backup bkp-1 is incomplete, Jira: attachments are missing (3 files unreadable)."
    )


def test_incomplete_confluence_backup_warns_about_spaces() -> None:
    """Restoring an incomplete Confluence backup warns that some spaces are missing."""
    backup = make_backup(status=BackupStatus.INCOMPLETE, product=Product.CONFLUENCE)
    assert restore_warning(backup) == (
        "Backup bkp-1 is incomplete, Confluence: some spaces are missing."
    )


def test_incomplete_backup_of_unknown_product_still_warns() -> None:
    """An incomplete backup of a product the bot does not know still gets a warning."""
    backup = make_backup(status=BackupStatus.INCOMPLETE, product="BITBUCKET")
    assert restore_warning(backup) == "Backup bkp-1 is incomplete, some content is missing."


def test_complete_backup_has_no_warning() -> None:
    """A complete backup is restored without a warning."""
    assert restore_warning(make_backup()) is None


# --- preflight_restore -----------------------------------------------------------------------


def test_preflight_allows_a_sound_restore() -> None:
    """A fresh complete backup onto another idle known site passes every check."""
    running_elsewhere = make_restore(
        "rst-s", backup_id="bkp-9", cloud_id=STAGING, status=RestoreStatus.IN_PROGRESS
    )
    assert preflight(make_backup(), [running_elsewhere], include_attachments=True).allowed


def test_preflight_includes_restorability() -> None:
    """Preflight refuses what restorability refuses, with the same reason."""
    backup = make_backup(status=BackupStatus.FAILED)
    assert preflight(backup) == restorability(backup, [], NOW)


@pytest.mark.parametrize("dest", [None, "44444444-4444-4444-8444-444444444444"])
def test_preflight_refuses_an_unknown_destination(dest: str | None) -> None:
    """A destination that is not a configured site is refused with a pointer to the aliases."""
    verdict = preflight(make_backup(), dest_cloud_id=dest, dest_label="prod-eu")
    assert verdict == Verdict.refuse(
        "The destination prod-eu is not a site the bot knows; "
        "use one of the configured site aliases (`/backup sites` lists them)."
    )


def test_preflight_refuses_restoring_onto_the_source_site() -> None:
    """A backup cannot be restored onto the site it was taken from."""
    verdict = preflight(make_backup(), dest_cloud_id=SOURCE, dest_label="acme")
    assert verdict.reason == (
        "Backup bkp-1 was taken from acme itself; restore it onto another site of the organisation."
    )


@pytest.mark.parametrize(
    "status",
    [RestoreStatus.VALIDATING, RestoreStatus.VALIDATION_FAILED, RestoreStatus.IN_PROGRESS],
)
def test_preflight_refuses_while_a_restore_runs_on_the_destination(
    status: RestoreStatus,
) -> None:
    """Any restore still validating, awaiting consent or running occupies the destination."""
    other = make_restore("rst-busy", backup_id="bkp-other", cloud_id=SANDBOX, status=status)
    verdict = preflight(make_backup(), [other])
    assert verdict.reason == (
        "Restore rst-busy is already running on acme-sandbox; "
        "wait for it to finish or cancel it before starting another."
    )
    assert verdict.possible_from is None


def test_preflight_ignores_finished_restores_on_the_destination() -> None:
    """Finished restores of other backups leave the destination free."""
    finished = [
        make_restore(f"rst-{status}", backup_id="bkp-other", status=status)
        for status in (RestoreStatus.COMPLETE, RestoreStatus.INCOMPLETE, RestoreStatus.FAILED)
    ]
    assert preflight(make_backup(), finished).allowed


@pytest.mark.parametrize(
    "backup",
    [
        make_backup(include_attachments=False),
        make_backup(backup_size=BackupSize(data_size=2.0, attachments_size=0)),
    ],
    ids=["excluded", "zero-size"],
)
def test_preflight_refuses_attachments_the_backup_lacks(backup: Backup) -> None:
    """Asking for attachments from a backup without any is refused."""
    verdict = preflight(backup, include_attachments=True)
    assert verdict.reason == (
        "Backup bkp-1 contains no attachments; start the restore again without attachments."
    )
    assert preflight(backup, include_attachments=False).allowed
    assert preflight(backup, include_attachments=None).allowed


def test_preflight_allows_attachments_of_unknown_size() -> None:
    """A backup that does not report its attachments may be restored with them."""
    assert preflight(make_backup(), include_attachments=True).allowed


def test_preflight_says_what_the_user_can_fix_before_the_seven_day_rule() -> None:
    """Onto its own site and restored yesterday: the site first, then the 7-day rule, at once."""
    yesterday = make_restore("rst-y", status=RestoreStatus.COMPLETE, age=timedelta(days=1))
    verdict = preflight(make_backup(), [yesterday], dest_cloud_id=SOURCE, dest_label="acme")
    assert not verdict.allowed
    assert [p.concern for p in verdict.problems] == [Concern.DESTINATION, Concern.BACKUP]
    same_site = verdict.reason.index("was taken from acme itself")
    seven_days = verdict.reason.index("can be restored again from")
    assert same_site < seven_days
    assert verdict.possible_from == yesterday.created_at + RESTORE_INTERVAL  # type: ignore[operator]


def test_preflight_names_every_problem_it_finds() -> None:
    """A busy destination, attachments the backup lacks and an expired backup: all three."""
    backup = make_backup(include_attachments=False, age=timedelta(days=20))
    busy = make_restore("rst-busy", backup_id="bkp-other", status=RestoreStatus.IN_PROGRESS)
    verdict = preflight(backup, [busy], include_attachments=True)
    assert [p.concern for p in verdict.problems] == [
        Concern.DESTINATION,
        Concern.OPTIONS,
        Concern.BACKUP,
    ]
    for said in ("rst-busy is already running", "contains no attachments", "expired on"):
        assert said in verdict.reason
    assert [p.reason for p in verdict.about(Concern.OPTIONS)] == [
        "Backup bkp-1 contains no attachments; start the restore again without attachments."
    ]


# --- size limits -----------------------------------------------------------------------------


def test_size_limits_are_the_documented_ones() -> None:
    """Jira allows 40 GB + 500 GB attachments; Confluence 30 GB + 800 GB."""
    assert dict(SIZE_LIMITS) == {
        Product.JIRA: SizeLimit(data_gb=40, attachments_gb=500),
        Product.CONFLUENCE: SizeLimit(data_gb=30, attachments_gb=800),
    }


def test_sizes_at_the_limit_pass() -> None:
    """A backup exactly at both limits has no problems."""
    assert size_limit_problems(Product.JIRA, BackupSize(data_size=40, attachments_size=500)) == []


def test_each_exceeded_limit_gets_a_sentence() -> None:
    """Data and attachments over their limits are each described."""
    size = BackupSize(data_size=30.5, attachments_size=800.25)
    assert size_limit_problems(Product.CONFLUENCE, size) == [
        "Confluence data is 30.5 GB, over the 30 GB limit of Atlassian storage.",
        "Confluence attachments are 800.25 GB, over the 800 GB limit of Atlassian storage.",
    ]


def test_unknown_sizes_and_products_report_nothing() -> None:
    """Missing sizes or an unknown product give no problems rather than guesses."""
    assert size_limit_problems(Product.JIRA, None) == []
    assert size_limit_problems(Product.JIRA, BackupSize()) == []
    assert size_limit_problems("BITBUCKET", BackupSize(data_size=10_000)) == []


# --- describe_age ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (timedelta(days=8, hours=23), "8 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=3, minutes=59), "3 hours"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(minutes=12, seconds=30), "12 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(seconds=59), "less than a minute"),
        (-timedelta(minutes=5), "less than a minute"),
    ],
)
def test_describe_age(age: timedelta, text: str) -> None:
    """An age reads in its largest whole unit, and a slightly future time reads as just now."""
    assert describe_age(NOW - age, NOW) == text


# --- properties ------------------------------------------------------------------------------

known_backup_statuses = st.sampled_from(list(BackupStatus))
# Unknown statuses as the API might spell them; a small alphabet keeps generation fast.
status_words = st.text(alphabet="ABCDEFGIKLMNOPRSTU_ ", max_size=12)
any_backup_status = st.one_of(known_backup_statuses, status_words)
ages = st.one_of(
    st.none(),
    st.timedeltas(min_value=-timedelta(days=2), max_value=timedelta(days=40)),
)


@st.composite
def backups(
    draw: st.DrawFn, status: st.SearchStrategy[BackupStatus | str] = any_backup_status
) -> Backup:
    return make_backup(
        f"bkp-{draw(st.integers(0, 99))}",
        status=draw(status),
        age=draw(ages),
    )


@st.composite
def restores(draw: st.DrawFn) -> Restore:
    return make_restore(
        f"rst-{draw(st.integers(0, 99))}",
        backup_id=draw(st.sampled_from(["bkp-1", "bkp-2"])),
        cloud_id=draw(st.sampled_from(sorted(KNOWN_SITES))),
        status=draw(st.one_of(st.sampled_from(list(RestoreStatus)), status_words)),
        age=draw(ages),
    )


@given(
    st.lists(backups(), max_size=8), backups(status=st.just(BackupStatus.IN_PROGRESS)), st.randoms()
)
def test_never_backs_up_while_one_is_in_progress(
    others: list[Backup], running: Backup, shuffler: random.Random
) -> None:
    """Wherever a running backup sits in the list, a new backup is refused."""
    listed = [*others, running]
    shuffler.shuffle(listed)
    verdict = may_run_backup(listed, NOW)
    assert not verdict.allowed
    assert verdict.possible_from is None


@given(st.lists(backups(), max_size=8))
def test_backup_refusal_by_time_points_to_the_future(listed: list[Backup]) -> None:
    """A backup refused for timing is always possible later than now, never in the past."""
    verdict = may_run_backup(listed, NOW)
    if not verdict.allowed and verdict.possible_from is not None:
        assert verdict.possible_from > NOW
        assert may_run_backup(listed, verdict.possible_from).allowed


@given(st.lists(backups(), max_size=8), st.randoms())
def test_backup_verdict_ignores_list_order(listed: list[Backup], shuffler: random.Random) -> None:
    """Shuffling the backups never changes the verdict."""
    shuffled = list(listed)
    shuffler.shuffle(shuffled)
    assert may_run_backup(listed, NOW) == may_run_backup(shuffled, NOW)


@given(
    backups(
        status=any_backup_status.filter(
            lambda s: normalise_status(s, BackupStatus) not in RESTORABLE_BACKUP_STATUSES
        )
    ),
    st.lists(restores(), max_size=8),
)
def test_only_complete_or_incomplete_backups_are_restorable(
    backup: Backup, listed: list[Restore]
) -> None:
    """Every status besides COMPLETE and INCOMPLETE (including unknown ones) is refused."""
    verdict = restorability(backup, listed, NOW)
    assert not verdict.allowed
    assert verdict.reason


@given(backups(), st.lists(restores(), max_size=8))
def test_restore_refusal_by_time_points_to_the_future(
    backup: Backup, listed: list[Restore]
) -> None:
    """A restore refused for timing is always possible later than now."""
    verdict = restorability(backup, listed, NOW)
    if verdict.possible_from is not None:
        assert not verdict.allowed
        assert verdict.possible_from > NOW


@given(
    backups(), st.lists(restores(), max_size=8), st.sampled_from(sorted(KNOWN_SITES)), st.randoms()
)
def test_preflight_is_stricter_than_restorability_and_order_free(
    backup: Backup, listed: list[Restore], dest: str, shuffler: random.Random
) -> None:
    """Preflight never allows what restorability refuses, whatever the order of restores."""
    verdict = preflight(backup, listed, dest_cloud_id=dest)
    if not restorability(backup, listed, NOW).allowed:
        assert not verdict.allowed
    shuffled = list(listed)
    shuffler.shuffle(shuffled)
    assert preflight(backup, shuffled, dest_cloud_id=dest) == verdict


def test_preflight_compares_cloud_ids_whatever_their_case() -> None:
    """A destination spelled in upper case is still the backup's own site, and still busy."""
    now = datetime(2026, 11, 10, tzinfo=UTC)
    source = "11111111-1111-4111-8111-1111111111AB"
    backup = Backup.model_validate(
        {
            "backupId": "bkp-1",
            "cloudId": source.lower(),
            "status": "COMPLETE",
            "createdAt": (now - timedelta(days=1)).isoformat(),
        }
    )
    onto_source = preflight_restore(
        backup=backup,
        restores=[],
        dest_cloud_id=source,
        dest_label="acme",
        known_cloud_ids={source},
        include_attachments=None,
        now=now,
    )
    assert not onto_source.allowed
    assert "taken from" in onto_source.reason
    other = "22222222-2222-4222-8222-2222222222CD"
    running = Restore.model_validate(
        {"restoreId": "r-1", "cloudId": other.lower(), "status": "IN_PROGRESS"}
    )
    busy = preflight_restore(
        backup=backup,
        restores=[running],
        dest_cloud_id=other,
        dest_label="sandbox",
        known_cloud_ids={other.lower()},
        include_attachments=None,
        now=now,
    )
    assert not busy.allowed
    assert "already running" in busy.reason
