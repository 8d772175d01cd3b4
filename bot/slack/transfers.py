"""Exports and imports started from Slack: refused in the user's words when the bot can tell
Atlassian would refuse, and given a card only once Atlassian accepted them.

A refusal, predictable or not, is answered privately and leaves nothing in the channel. A
card is posted for each export or import Atlassian started and registered for tracking; when
Slack will not take the card, the operation is still tracked and the user is told how to
follow it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from bot.atlassian import rules
from bot.atlassian.models import (
    Backup,
    BackupRef,
    BackupStatus,
    Export,
    Import,
    OperationStatus,
    Storage,
)
from bot.errors import NotFoundError, Refused
from bot.messages import backups as said
from bot.messages.text import code
from bot.runtime import Services
from bot.slack import blocks
from bot.slack.blocks import Message, OperationCard
from bot.slack.commands import escape_mrkdwn
from bot.slack.invocation import Invocation, NotTracked, PostedCard, SlackPostFailed, product_name
from bot.store.operations import OperationKind

log = logging.getLogger(__name__)


class CardPoster(Protocol):
    async def post_card(self, channel: str, message: Message) -> PostedCard: ...


class Transfers:
    """Starts exports and imports for the command handlers."""

    def __init__(self, services: Services, cards: CardPoster) -> None:
        self._services = services
        self._sites = services.sites
        self._cards = cards

    async def _backups_for_transfer(self, backup_ids: tuple[str, ...]) -> list[Backup]:
        found: list[Backup] = []
        for backup_id in backup_ids:
            try:
                found.append(await self._services.atlassian.get_backup(backup_id))
            except NotFoundError:
                raise Refused(said.no_such_backup(backup_id)) from None
        for backup in found:
            if backup.product is None or backup.cloud_id is None:
                raise Refused(said.backup_without_site(backup.backup_id))
        return found

    async def start(
        self, kind: OperationKind, backup_ids: tuple[str, ...], who: Invocation
    ) -> None:
        """Start exports or imports; what the bot can know would be refused is refused first.

        Cards are posted only for work Atlassian accepted: a refusal, predictable or not, is
        answered privately and leaves nothing in the channel.
        """
        backups = await self._backups_for_transfer(backup_ids)
        storages = await self._check_transfer(kind, backups)
        refs = [
            BackupRef(product=b.product or "", cloud_id=b.cloud_id or "", backup_id=b.backup_id)
            for b in backups
        ]
        if kind is OperationKind.EXPORT:
            results: list[Export | Import] = list(
                await self._services.atlassian.export_backups(refs)
            )
        else:
            results = list(await self._services.atlassian.import_backups(refs))
        requested = {backup.backup_id: backup for backup in backups}
        untracked: list[str] = []
        for result in results:
            operation_id = result.export_id if isinstance(result, Export) else result.import_id
            backup = requested.get(result.backup_id or "")
            if backup is None:
                log.warning(
                    "%s %s answered for an unrequested backup %s",
                    kind,
                    operation_id,
                    result.backup_id,
                )
                continue
            view = OperationCard(
                kind=kind.value,
                operation_id=operation_id,
                product=result.product or backup.product,
                site=self._sites.name(result.cloud_id or backup.cloud_id),
                started_by=who.user_id,
                status=result.status,
                started_at=result.created_at or self._services.clock.now(),
                detail=_transfer_detail(
                    kind, backup.backup_id, storages.get(backup.cloud_id or "")
                ),
            )
            card: PostedCard | None = None
            try:
                card = await self._cards.post_card(who.channel_id, blocks.operation_card(view))
            except SlackPostFailed:
                log.warning("%s %s started but its card could not be posted", kind, operation_id)
            try:
                await self._services.operations.register(
                    kind,
                    operation_id,
                    cloud_id=result.cloud_id or backup.cloud_id,
                    product=product_name(result.product or backup.product),
                    channel=card.channel if card else None,
                    card_ts=card.ts if card else None,
                    started_by=who.user_id,
                    status=str(result.status),
                    backup_id=backup.backup_id,
                )
            except Exception:
                log.exception("could not track %s %s", kind, operation_id)
                untracked.append(operation_id)
                continue
            if card is None:
                untracked.append(operation_id)
        unanswered = [
            backup_id
            for backup_id in requested
            if not any(result.backup_id == backup_id for result in results)
        ]
        if unanswered:
            where = "`/backup exports`" if kind is OperationKind.EXPORT else "admin.atlassian.com"
            raise Refused(said.unanswered_transfer(kind.value, unanswered, where))
        if untracked:
            raise NotTracked(
                kind.value, ", ".join(untracked), f"/backup {kind.value}-status {untracked[0]}"
            )

    async def _check_transfer(
        self, kind: OperationKind, backups: Sequence[Backup]
    ) -> dict[str, list[Storage]]:
        """Refuse what Atlassian would refuse, in the user's words; the storages by site."""
        problems: list[str] = []
        storages: dict[str, list[Storage]] = {}
        if kind is OperationKind.EXPORT:
            for backup in backups:
                expiry = rules.backup_expiry(backup)
                if backup.status == BackupStatus.EXPIRED or (
                    expiry is not None and expiry <= self._services.clock.now()
                ):
                    problems.append(said.nothing_left_to_export(backup.backup_id, expiry))
                elif backup.status not in (BackupStatus.COMPLETE, BackupStatus.INCOMPLETE):
                    problems.append(said.not_finished_for_export(backup.backup_id, backup.status))
            for cloud_id in sorted({b.cloud_id for b in backups if b.cloud_id}):
                storages[cloud_id] = await self._services.atlassian.list_storages(cloud_id=cloud_id)
                if not storages[cloud_id]:
                    problems.append(said.no_storage_to_export_to(self._sites.name(cloud_id)))
        else:
            exported = {
                e.backup_id
                for e in await self._services.atlassian.list_exports()
                if e.status == OperationStatus.COMPLETE
            }
            for backup in backups:
                if backup.backup_id not in exported:
                    problems.append(said.never_exported(backup.backup_id))
        if problems:
            raise Refused(" ".join(problems))
        return storages


def _transfer_detail(
    kind: OperationKind, backup_id: str, storages: Sequence[Storage] | None
) -> str:
    detail = f"backup {code(backup_id)}"
    if kind is not OperationKind.EXPORT or not storages:
        return detail
    names = ", ".join(escape_mrkdwn(s.storage_name or s.storage_id) for s in storages)
    if len(storages) == 1:
        return f"{detail} → storage {names}"
    return f"{detail} → one of the site's storages ({names})"


__all__ = ["Transfers"]
