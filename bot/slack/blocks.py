"""Block Kit builders: pure functions from API models to Slack message payloads.

Every builder returns a ``Message`` (top-level ``text`` for notifications and screen readers,
plus ``blocks``). Everything that came from a user or from the API is escaped, and lists are
cut to stay inside Slack's 50-block and 3000-character limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.atlassian import rules
from bot.atlassian.models import (
    Backup,
    BackupStatus,
    Export,
    Import,
    Product,
    Restore,
    RestoreStatus,
    Storage,
)
from bot.config import SiteDirectory
from bot.messages import backups as said
from bot.messages import labels
from bot.messages import operations as operation_words
from bot.messages import roles as role_texts
from bot.messages.restore import check_text
from bot.messages.text import (
    FINAL_OPERATION_TEXT,
    STATUS_EMOJI,
    code,
    count,
    esc,
    status_label,
    status_words,
    when,
)

Block = dict[str, Any]
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_LIST_ITEMS = 40


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    blocks: list[Block] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def _clip(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _clip(text, 150), "emoji": True},
    }


def section(markdown: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(markdown)}}


def fields(pairs: Iterable[tuple[str, str]]) -> Block:
    items = [
        {"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}", 2000)} for label, value in pairs
    ][:10]
    return {"type": "section", "fields": items}


def context(markdown: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(markdown)}]}


def divider() -> Block:
    return {"type": "divider"}


def product_label(product: object) -> str:
    if isinstance(product, Product):
        return product.label
    return esc(str(product)) if product else "—"


def cut(items: Sequence[Any]) -> tuple[Sequence[Any], int]:
    return items[:MAX_LIST_ITEMS], max(0, len(items) - MAX_LIST_ITEMS)


def more(hidden: int, hint: str) -> list[Block]:
    return [context(said.and_more(hidden, hint))] if hidden else []


def error_message(sentence: str, *, trusted: bool = False) -> Message:
    """A one-sentence failure; ``trusted`` text is the bot's own mrkdwn (mentions, code)."""
    shown = sentence if trusted else esc(sentence)
    # The bot's own sentences that open with an emoji of their own (a click being checked,
    # a click settled) keep it alone: a second sign in front would contradict it.
    sign = "" if trusted and shown.startswith(":") else ":warning: "
    return Message(text=shown, blocks=[section(f"{sign}{shown}")])


def info_message(sentence: str) -> Message:
    return Message(text=sentence, blocks=[section(sentence)])


def help_message(help_markdown: str) -> Message:
    return Message(
        text=labels.HELP_HEADER,
        blocks=[section(chunk) for chunk in _chunks(help_markdown)][:MAX_BLOCKS],
    )


def _chunks(markdown: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in markdown.splitlines():
        # Slack refuses an empty section, so a first line over the limit starts no chunk.
        if current and len(current) + len(line) + 1 > limit:
            chunks.append(current)
            current = ""
        current += line + "\n"
    if current.strip():
        chunks.append(current)
    return chunks


def whoami_message(
    user_id: str, roles: Sequence[str], sources: Sequence[tuple[str, str | None]] = ()
) -> Message:
    """``sources``: each role with the user group it comes through (None: listed by id)."""
    role_text = ", ".join(roles)
    parts = [section(said.your_role(user_id, role_text))]
    if any(group is not None for _role, group in sources):
        lines = [role_texts.role_line(esc(role), group) for role, group in sources]
        parts.append(section("\n".join(f"• {line}" for line in lines)))
    return Message(text=labels.your_role(role_text), blocks=parts)


def sites_message(sites: SiteDirectory) -> Message:
    aliases = sites.aliases
    if not aliases:
        return info_message(said.NO_SITES)
    lines = [f"• *{esc(alias)}* — {code(cloud_id)}" for alias, cloud_id in sorted(aliases.items())]
    return Message(
        text=labels.SITES_HEADER, blocks=[header(labels.SITES), section("\n".join(lines))]
    )


def regions_message(regions: Sequence[str]) -> Message:
    body = "\n".join(f"• {code(region)}" for region in regions) or said.NO_REGIONS
    return Message(
        text=labels.REGIONS_HEADER, blocks=[header(labels.REGIONS_HEADER), section(body)]
    )


def storage_line(storage: Storage, sites: SiteDirectory) -> str:
    return (
        f"{code(storage.storage_id)} *{esc(storage.storage_name or '')}* · "
        f"{esc(storage.storage_region or '?')} · {esc(sites.name(storage.cloud_id))}"
    )


def nothing_matching(noun: str, filters: Sequence[str], everything: str) -> Message:
    """An empty filtered list: say what was filtered, so it does not read as "none exist"."""
    return info_message(said.nothing_matching(noun, filters, everything))


def storages_message(
    storages: Sequence[Storage], sites: SiteDirectory, filters: Sequence[str] = ()
) -> Message:
    if not storages and filters:
        return nothing_matching(labels.STORAGES_NOUN, filters, "/backup storage list")
    if not storages:
        return info_message(said.NO_STORAGES)
    shown, hidden = cut(storages)
    lines = [f"• {storage_line(storage, sites)}" for storage in shown]
    return Message(
        text=count(len(storages), "storage"),
        blocks=[header(labels.STORAGES_HEADER), *(list_sections(lines)), *more(hidden, "")],
    )


def storage_message(storage: Storage, sites: SiteDirectory) -> Message:
    return Message(
        text=labels.storage_header(esc(storage.storage_id)),
        blocks=[
            header(labels.storage_header(storage.storage_name or storage.storage_id)),
            fields(
                [
                    (labels.ID, code(storage.storage_id)),
                    (labels.SITE, esc(sites.name(storage.cloud_id))),
                    (labels.REGION, esc(storage.storage_region or "—")),
                    (labels.PREFIX, code(storage.storage_prefix)),
                    (labels.TYPE, esc(storage.storage_type or "—")),
                    (labels.ROLE, code(storage.role_identifier)),
                    (labels.PRINCIPAL_TAG, code(storage.principal_tag)),
                    (labels.STATUS, esc(storage.status or "—")),
                ]
            ),
        ],
    )


def list_sections(lines: Sequence[str]) -> list[Block]:
    return [section(chunk) for chunk in _chunks("\n".join(lines))][: MAX_BLOCKS - 3]


def backup_line(backup: Backup, now: datetime) -> str:
    status = rules.effective_backup_status(backup, now)
    age = (
        rules.describe_age(backup.created_at, now) + " old" if backup.created_at else "age unknown"
    )
    expiry = rules.backup_expiry(backup)
    expires = ""
    if expiry is not None and status in (BackupStatus.COMPLETE, BackupStatus.INCOMPLETE):
        expires = f" · expires {when(expiry)}"
    size = _size(backup)
    sized = f" · {size}" if size != "—" else ""
    return f"{code(backup.backup_id)} {status_label(status)} · {age}{expires}{sized}"


def backups_message(policy_id: str, backups: Sequence[Backup], now: datetime) -> Message:
    if not backups:
        return info_message(said.no_backups_yet(policy_id))
    ordered = sorted(backups, key=lambda b: b.created_at or now, reverse=True)
    shown, hidden = cut(ordered)
    lines = [f"• {backup_line(backup, now)}" for backup in shown]
    return Message(
        text=labels.backups_of_policy(count(len(backups), "backup"), esc(policy_id)),
        blocks=[
            header(labels.BACKUPS_HEADER),
            context(labels.policy_header(code(policy_id))),
            *list_sections(lines),
            *more(hidden, ""),
        ],
    )


def _size(backup: Backup) -> str:
    size = backup.backup_size
    if size is None or size.total_backup_size_in_gb is None:
        return "—"
    return f"{size.total_backup_size_in_gb:g} GB"


def _selections(backup: Backup) -> str:
    return ", ".join(esc(item.replace("_", " ").lower()) for item in backup.selections) or "—"


def backup_message(backup: Backup, sites: SiteDirectory, now: datetime) -> Message:
    status = rules.effective_backup_status(backup, now)
    pairs = [
        (labels.ID, code(backup.backup_id)),
        (labels.STATUS, status_label(status)),
        (labels.PRODUCT, product_label(backup.product)),
        (labels.SITE, esc(sites.name(backup.cloud_id))),
        (labels.POLICY, code(backup.policy_id)),
        (labels.CREATED, when(backup.created_at)),
        (labels.EXPIRES, when(rules.backup_expiry(backup))),
        (labels.SIZE, _size(backup)),
    ]
    if backup.selections:
        pairs.append((labels.CONTENTS, _selections(backup)))
    blocks = [header(labels.BACKUP), fields(pairs)]
    if backup.status_message:
        blocks.append(section(esc(backup.status_message)))
    warning = rules.restore_warning(backup)
    if warning:
        blocks.append(context(f":warning: {esc(warning)}"))
    return Message(
        text=labels.backup_header(esc(backup.backup_id), esc(status_words(status))), blocks=blocks
    )


def _operation_line(kind: str, operation_id: str, status: object, extra: str) -> str:
    return f"• {kind} {code(operation_id)} {status_label(status)} · {extra}"


def exports_message(
    exports: Sequence[Export], sites: SiteDirectory, filters: Sequence[str] = ()
) -> Message:
    if not exports and filters:
        return nothing_matching("exports", filters, "/backup exports")
    if not exports:
        return info_message(said.NO_EXPORTS)
    shown, hidden = cut(exports)
    lines = [
        _operation_line(
            "export",
            export.export_id,
            export.status,
            labels.export_line(
                code(export.backup_id), esc(sites.name(export.cloud_id)), when(export.created_at)
            ),
        )
        for export in shown
    ]
    return Message(
        text=count(len(exports), "export"),
        blocks=[header(labels.EXPORTS_HEADER), *list_sections(lines), *more(hidden, "")],
    )


def transfer_message(kind: str, item: Export | Import, sites: SiteDirectory) -> Message:
    operation_id = item.export_id if isinstance(item, Export) else item.import_id
    blocks = [
        header(f"{kind.capitalize()} {operation_id}"),
        fields(
            [
                (labels.STATUS, status_label(item.status)),
                (labels.BACKUP, code(item.backup_id)),
                (labels.PRODUCT, product_label(item.product)),
                (labels.SITE, esc(sites.name(item.cloud_id))),
                (labels.STARTED, when(item.created_at)),
                (labels.FINISHED, when(item.completed_at)),
            ]
        ),
    ]
    if item.status_message:
        blocks.append(section(esc(item.status_message)))
    return Message(
        text=f"{kind.capitalize()} {esc(operation_id)}: {esc(status_words(item.status))}",
        blocks=blocks,
    )


def restores_message(
    restores: Sequence[Restore], sites: SiteDirectory, filters: Sequence[str] = ()
) -> Message:
    if not restores and filters:
        return nothing_matching("restores", filters, "/restore list")
    if not restores:
        return info_message(said.NO_RESTORES)
    shown, hidden = cut(restores)
    lines = [
        _operation_line(
            "restore",
            restore.restore_id,
            restore.status,
            labels.restore_line(
                code(restore.backup_id), esc(sites.name(restore.cloud_id)), when(restore.created_at)
            ),
        )
        for restore in shown
    ]
    return Message(
        text=count(len(restores), "restore"),
        blocks=[header(labels.RESTORES_HEADER), *list_sections(lines), *more(hidden, "")],
    )


def restore_message(
    restore: Restore, sites: SiteDirectory, decisions: Sequence[str] = ()
) -> Message:
    pairs = [
        (labels.ID, code(restore.restore_id)),
        (labels.STATUS, status_label(restore.status)),
        (labels.BACKUP, code(restore.backup_id)),
        (labels.PRODUCT, product_label(restore.product)),
        (labels.DESTINATION, esc(sites.name(restore.cloud_id))),
        (labels.STARTED, when(restore.created_at)),
        (labels.FINISHED, when(restore.completed_at)),
    ]
    blocks = [header(labels.RESTORE), fields(pairs)]
    if restore.status_message:
        blocks.append(section(esc(restore.status_message)))
    if restore.failed_checks and restore.status == RestoreStatus.VALIDATION_FAILED:
        dest = esc(sites.name(restore.cloud_id))
        checks = "\n".join(
            f"• {check_text(str(check.check), check.message, dest, restore.product)}"
            for check in restore.failed_checks
        )
        blocks.append(section(labels.failed_checks(checks)))
    if decisions:
        chunks = _chunks("*Decisions*\n" + "\n".join(decisions))
        room = MAX_BLOCKS - len(blocks) - 1
        if len(chunks) > room:
            # The latest decisions matter most; the audit stream keeps the rest.
            blocks.append(
                context(
                    operation_words.parts_left_out(count(len(chunks) - room, labels.EARLIER_PART))
                )
            )
            chunks = chunks[-room:]
        blocks.extend(section(chunk) for chunk in chunks)
    return Message(
        text=labels.restore_header(esc(restore.restore_id), esc(status_words(restore.status))),
        blocks=blocks,
    )


def report_message(restore_ref: str, url: str) -> Message:
    safe_url = esc(url)
    return Message(
        text=labels.report_header(esc(restore_ref), safe_url),
        blocks=[section(said.report_link(url, restore_ref))],
    )


@dataclass(frozen=True, slots=True)
class OperationCard:
    """What a status card shows about one backup, export or import the bot started."""

    kind: str
    operation_id: str
    product: object
    site: str
    started_by: str | None
    status: object
    started_at: datetime | None = None
    status_message: str | None = None
    detail: str | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    size: str | None = None
    expires_at: datetime | None = None
    backup_id: str | None = None
    policy_id: str | None = None


def operation_card(card: OperationCard) -> Message:
    title = labels.operation_header(card.kind.capitalize(), product_label(card.product), card.site)
    pairs = [
        (labels.STATUS, status_label(card.status)),
        (labels.ID, code(card.operation_id)),
        (labels.SITE, esc(card.site)),
        (labels.STARTED_BY, f"<@{esc(card.started_by)}>" if card.started_by else labels.THE_BOT),
        (labels.STARTED, when(card.started_at)),
    ]
    ended = str(card.status) in operation_words.FINISHED_STATUSES
    if ended and card.finished_at is not None:
        pairs.append(
            (labels.FINISHED, operation_words.finished_at(card.finished_at, card.started_at))
        )
    if card.size:
        pairs.append((labels.SIZE, esc(card.size)))
    if card.expires_at is not None:
        pairs.append((labels.EXPIRES, when(card.expires_at)))
    if card.detail:
        pairs.append((labels.DETAIL, card.detail))
    blocks = [header(title), fields(pairs)]
    if card.status_message:
        blocks.append(section(esc(card.status_message)))
    if not ended and card.started_at is not None:
        blocks.append(context(operation_words.running_since(card.started_at)))
    step = operation_words.next_step(
        card.kind,
        str(card.status),
        operation_id=card.operation_id,
        backup_id=card.backup_id,
        policy_id=card.policy_id,
    )
    if step is not None:
        blocks.append(section(step))
    if card.updated_at is not None:
        blocks.append(context(labels.updated(when(card.updated_at))))
    # The top-level text is mrkdwn too (notifications), unlike the plain-text header.
    text = labels.operation_status_text(
        card.kind.capitalize(),
        product_label(card.product),
        esc(card.site),
        esc(str(card.status).replace("_", " ")),
    )
    return Message(text=text, blocks=blocks)


# -- tracker notifications ----------------------------------------------------------------

OUTCOME_TEXT = {
    **FINAL_OPERATION_TEXT,
    "GONE": "is no longer reported by Atlassian, so the bot stopped tracking it",
}


@dataclass(frozen=True, slots=True)
class OperationOutcome:
    """How an operation ended, for the message in its card's thread and the notify channel."""

    kind: str
    operation_id: str
    product: object
    site: str
    status: str
    status_message: str | None = None
    started_by: str | None = None
    report_url: str | None = None
    requested_by: str | None = None


def _outcome_verb(status: str) -> str:
    return OUTCOME_TEXT.get(status, f"ended with the status {status.replace('_', ' ')}")


def outcome_message(outcome: OperationOutcome, *, card_channel: str | None = None) -> Message:
    """The final state of an operation; ``card_channel`` points a mirrored copy at the card."""
    kind = outcome.kind.capitalize()
    verb = _outcome_verb(outcome.status)
    emoji = STATUS_EMOJI.get(outcome.status, ":grey_question:")
    who = operation_words.who_to_tell(outcome.requested_by, outcome.started_by)
    lead = operation_words.ended(
        emoji,
        kind,
        code(outcome.operation_id),
        product_label(outcome.product),
        esc(outcome.site),
        verb,
        who,
    )
    blocks = [section(lead)]
    # The top-level text is mrkdwn too (notifications show it): API text is escaped there as well.
    text = operation_words.ended_text(
        kind, esc(outcome.operation_id), product_label(outcome.product), esc(outcome.site), verb
    )
    if outcome.status_message:
        blocks.append(section(esc(outcome.status_message)))
        text += f": {esc(outcome.status_message)}"
    if outcome.report_url:
        blocks.append(section(labels.report_link(esc(outcome.report_url))))
        text += labels.report_suffix(esc(outcome.report_url))
    if card_channel:
        blocks.append(context(said.card_is_in(card_channel)))
    return Message(text=text, blocks=blocks)


def adopted_card(card: OperationCard) -> Message:
    """A card for an operation the bot found running at start-up rather than started itself."""
    message = operation_card(card)
    note = said.FOUND_RUNNING
    return Message(text=message.text, blocks=[*message.blocks, context(note)])


def expiry_reminder_message(
    *,
    backup_id: str,
    product: object,
    site: str,
    expiry: datetime,
    now: datetime,
    card_channel: str | None = None,
) -> Message:
    """A reminder that a complete backup leaves Atlassian storage soon."""
    hours = max(0, int((expiry - now).total_seconds() // 3600))
    lead = said.expires_soon(backup_id, product_label(product), site, expiry, hours)
    blocks = [section(lead)]
    if card_channel:
        blocks.append(context(said.card_is_in(card_channel)))
    return Message(
        text=said.expires_in_about(backup_id, product_label(product), site, hours),
        blocks=blocks,
    )


def notice_message(text: str) -> Message:
    """A sentence assurance worded when it queued it (``bot.messages.assurance``)."""
    return Message(text=text.split("\n", 1)[0], blocks=[section(text)])


def policy_nudge_message(
    *,
    policy_id: str,
    product: object,
    site: str,
    last_complete: datetime | None,
    now: datetime,
) -> Message:
    """A nudge that a policy has had no complete backup for the last 7 days."""
    age = rules.describe_age(last_complete, now) if last_complete is not None else None
    lead = said.no_recent_backup(product_label(product), site, policy_id, age)
    return Message(
        text=labels.no_recent_backup(product_label(product), esc(site)),
        blocks=[section(lead)],
    )
