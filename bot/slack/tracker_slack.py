"""The tracker's messages, drawn in Block Kit and sent through the gateway.

``TrackerSlack`` is the Slack side of ``bot.tracking.ports.SlackPort``: the tracker decides
what must be said where; this draws it (``bot.slack.blocks``) and sends it through the
``SlackGateway`` as paced sends, which draw on the budgets shared by every process and
raise ``SlackRateLimited`` instead of waiting. A restore's card is drawn by the restore side
(``RestoreCards.card_for``) when it has one: the card a user saw, with its buttons; a
restore it has no card for, like every other operation, gets the generic operation card.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.atlassian import rules
from bot.atlassian.models import Backup, Restore, normalise_product
from bot.messages import operations as operation_words
from bot.messages.text import code
from bot.slack import blocks
from bot.slack.blocks import Message, OperationCard, OperationOutcome
from bot.slack.commands import escape_mrkdwn
from bot.slack.gateway import SlackGateway
from bot.store.operations import OperationKind, TrackedOperation
from bot.store.outbox import (
    ExpiryReminder,
    FinalPost,
    NoticePost,
    PolicyNudge,
    Post,
    ReportPost,
)
from bot.tracking.status import item_of, restore_for_workflow

if TYPE_CHECKING:
    from bot.runtime import Services


class RestoreCards(Protocol):
    """What the restore side draws for the tracker: the card of a restore it owns."""

    async def card_for(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> Message | None:
        """The restore card as it should look now.

        None when no restore session owns the restore (the bot did not start it): the
        tracker's generic operation card is drawn instead, as for a backup.
        """
        ...


class TrackerSlack:
    """Draws and sends the tracker's posts, card edits and announcements."""

    def __init__(
        self,
        gateway: SlackGateway,
        services: Services,
        restore_cards: RestoreCards | None = None,
    ) -> None:
        self._gateway = gateway
        self._sites = services.sites
        self._clock = services.clock
        self._sessions = services.sessions
        self._restore_cards = restore_cards

    async def post(
        self,
        channel: str,
        notice: Post,
        operation: TrackedOperation | None,
        *,
        thread_ts: str | None = None,
    ) -> None:
        # A copy outside the card's thread says where the card is.
        card_channel = operation.channel if thread_ts is None and operation else None
        requested_by = await self._requester(notice, operation)
        message = self._render(notice, operation, card_channel, requested_by)
        await self._gateway.post(channel, message, thread_ts=thread_ts, paced=True)

    async def edit_card(self, operation: TrackedOperation) -> None:
        if not operation.channel or not operation.card_ts:
            raise ValueError(f"{operation.key} has no card to edit")
        message = await self._card(operation)
        await self._gateway.update(operation.channel, operation.card_ts, message, paced=True)

    async def announce(self, operation: TrackedOperation, channel: str) -> str:
        message = blocks.adopted_card(self._card_view(operation))
        posted = await self._gateway.post(channel, message, paced=True)
        return posted.ts

    async def _requester(self, notice: Post, operation: TrackedOperation | None) -> str | None:
        """Who asked for a restore whose end is announced: the thread names them too."""
        if not isinstance(notice, FinalPost) or operation is None:
            return None
        if operation.kind is not OperationKind.RESTORE:
            return None
        session = await self._sessions.find_by_restore_id(operation.operation_id)
        return session.requester if session is not None else None

    def _render(
        self,
        notice: Post,
        operation: TrackedOperation | None,
        card_channel: str | None,
        requested_by: str | None = None,
    ) -> Message:
        if isinstance(notice, NoticePost):
            return blocks.notice_message(notice.text)
        if isinstance(notice, PolicyNudge):
            return blocks.policy_nudge_message(
                policy_id=notice.policy_id,
                product=normalise_product(notice.product),
                site=self._sites.name(notice.cloud_id),
                last_complete=notice.last_complete,
                now=self._clock.now(),
            )
        if operation is None:
            raise ValueError(f"{type(notice).__name__} needs the operation it is about")
        product = normalise_product(operation.product) if operation.product else None
        site = self._sites.name(operation.cloud_id)
        if isinstance(notice, FinalPost):
            return blocks.outcome_message(
                OperationOutcome(
                    kind=operation.kind.value,
                    operation_id=operation.operation_id,
                    product=product,
                    site=site,
                    status=notice.status,
                    status_message=notice.message,
                    started_by=operation.started_by,
                    requested_by=requested_by,
                    report_url=notice.report_url,
                ),
                card_channel=card_channel,
            )
        if isinstance(notice, ReportPost):
            return blocks.report_message(operation.operation_id, notice.report_url)
        if isinstance(notice, ExpiryReminder):
            return blocks.expiry_reminder_message(
                backup_id=operation.operation_id,
                product=product,
                site=site,
                expiry=notice.expiry,
                now=self._clock.now(),
                card_channel=card_channel,
            )
        raise TypeError(f"no message for {notice!r}")

    async def _card(self, operation: TrackedOperation) -> Message:
        if operation.kind is OperationKind.RESTORE and self._restore_cards is not None:
            drawn = await self._restore_cards.card_for(
                operation, restore_for_workflow(operation), operation.report_url
            )
            if drawn is not None:
                return drawn
        return blocks.operation_card(self._card_view(operation))

    def _card_view(self, operation: TrackedOperation) -> OperationCard:
        item = item_of(operation)
        started = item.created_at if item is not None else None
        detail: str | None = None
        if operation.kind in (OperationKind.EXPORT, OperationKind.IMPORT) and operation.backup_id:
            detail = f"backup {code(operation.backup_id)}"
        if operation.kind is OperationKind.RESTORE:
            source = f"backup {code(operation.backup_id)}" if operation.backup_id else ""
            report = (
                f" · <{escape_mrkdwn(operation.report_url)}|Post-restore report>"
                if operation.report_url
                else ""
            )
            detail = (source + report).strip(" ·") or None
        size: str | None = None
        expires: datetime | None = None
        if isinstance(item, Backup):
            total = item.backup_size.total_backup_size_in_gb if item.backup_size else None
            size = f"{total:g} GB" if total is not None else None
            if item.status in rules.RESTORABLE_BACKUP_STATUSES:
                expires = rules.backup_expiry(item)
        return OperationCard(
            kind=operation.kind.value,
            operation_id=operation.operation_id,
            product=normalise_product(operation.product) if operation.product else None,
            site=self._sites.name(operation.cloud_id),
            started_by=operation.started_by,
            status=operation.status or "IN_PROGRESS",
            started_at=started or datetime.fromisoformat(operation.registered_at),
            status_message=operation.status_message,
            detail=detail,
            updated_at=(
                datetime.fromisoformat(operation.changed_at) if operation.changed_at else None
            ),
            finished_at=getattr(item, "completed_at", None)
            or (
                operation.last_changed_at
                if str(operation.status) in operation_words.FINISHED_STATUSES
                else None
            ),
            size=size,
            expires_at=expires,
            backup_id=operation.backup_id,
            policy_id=operation.policy_id,
        )


__all__ = ["RestoreCards", "TrackerSlack"]
