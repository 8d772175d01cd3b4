"""Listings read again each cycle: an unchanged item keeps the model parsed before.

Against the simulator over HTTP: the tracker's quiet cycle must not validate thousands of
unchanged items again, yet any change to an item, in any field, must be read afresh.
"""

from __future__ import annotations

from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian.listing import ListMemo
from bot.atlassian.models import Backup, BackupStatus
from bot.runtime import Services
from bot.simulator.seed import ACME_JIRA_POLICY
from tests.fixtures.simulator import RunningSimulator
from tests.fixtures.tracking import start_backup


async def test_an_unchanged_item_keeps_its_model_and_a_changed_one_is_read_afresh(
    services: Services, simulator: RunningSimulator, slack_client: AsyncWebClient
) -> None:
    operation = await start_backup(services, slack_client)
    memo: ListMemo[Backup] = ListMemo()
    first = {
        b.backup_id: b for b in await services.atlassian.list_backups(ACME_JIRA_POLICY, memo=memo)
    }
    again = {
        b.backup_id: b for b in await services.atlassian.list_backups(ACME_JIRA_POLICY, memo=memo)
    }
    assert len(first) > 1
    assert all(again[key] is first[key] for key in first)
    assert first[operation.operation_id].status == BackupStatus.IN_PROGRESS

    simulator.world.backups[operation.operation_id].retention = timedelta(days=20)
    noted = {
        b.backup_id: b for b in await services.atlassian.list_backups(ACME_JIRA_POLICY, memo=memo)
    }
    assert noted[operation.operation_id] is not first[operation.operation_id]
    assert noted[operation.operation_id].expiry_time != first[operation.operation_id].expiry_time
    assert all(noted[key] is first[key] for key in first if key != operation.operation_id)

    simulator.clock.advance(3600)
    done = {
        b.backup_id: b for b in await services.atlassian.list_backups(ACME_JIRA_POLICY, memo=memo)
    }
    assert done[operation.operation_id].status == BackupStatus.COMPLETE
    unlisted = {b.backup_id: b for b in await services.atlassian.list_backups(ACME_JIRA_POLICY)}
    assert unlisted == done


def test_the_memo_compares_every_field_and_keeps_only_what_it_is_told() -> None:
    memo: ListMemo[Backup] = ListMemo()
    raw = {"backupId": "b1", "status": "IN_PROGRESS", "sites": [{"cloudId": "c1"}]}
    model = Backup.model_validate(raw)
    memo.keep("b1", raw, model)
    assert memo.reuse("b1", dict(raw)) is model
    assert memo.reuse("b1", {**raw, "sites": [{"cloudId": "c2"}]}) is None
    assert memo.reuse("b2", raw) is None
    memo.keep("b2", {**raw, "backupId": "b2"}, model)
    memo.retain({"b2"})
    assert len(memo) == 1
    assert memo.reuse("b1", raw) is None
