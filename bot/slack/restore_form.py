"""The restore form as the bot offered it, kept in Redis under the view id, and its checks.

A modal's ``private_metadata`` and its submitted values come from the client: whoever can
sign a request can put any channel, backup or site there. So the form carries nothing the
bot trusts. When the bot opens it, it records who opened it, in which workspace and
channel; when it fills it, which backups it offered (as Atlassian described them) and what
Atlassian said about restores then. Every action on the form is checked against that
record, and a submission against what was offered: a backup, a destination and options
that were on the form, then every restore rule on the record (bot/restore/blocking.py),
each refusal said beside the field it is about.

Age is measured on the injected clock from when the form was opened (``FORM_LIFETIME``);
the Redis TTL only cleans up records no one reads again.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict

from bot.atlassian import rules
from bot.atlassian.models import Backup, Product, Restore
from bot.clock import Clock
from bot.config import SiteDirectory
from bot.messages import restore as said
from bot.restore import blocking
from bot.restore.facts import has_attachments
from bot.restore.session import UtcTime
from bot.restore.workflow import RestoreOffer
from bot.slack import restore_blocks as rb

#: How long a form may be worked on after it was opened; older, it is refused.
FORM_LIFETIME: Final = timedelta(hours=1)
_CLEANUP_SECONDS: Final = int(FORM_LIFETIME.total_seconds() * 2)
_OPTIONS: Final = frozenset({"attachments", "users"})
# Slack shows a field error of about this many characters at most.
_ERROR_LIMIT: Final = 300


class RestoreForm(BaseModel):
    """One open restore form, as the bot opened and filled it."""

    model_config = ConfigDict(extra="ignore")

    view_id: str
    team_id: str
    channel: str
    opener: str
    opened_at: UtcTime
    product: Product | None = None
    backups: list[Backup] = []
    # Each offered backup's retention (seconds), which its model keeps out of its fields.
    retentions: list[float | None] = []
    restores: list[Restore] = []
    busy_destinations: list[str] = []
    picked: int | None = None

    def offered(self) -> list[Backup]:
        """The offered backups, each with the retention the API that listed it keeps."""
        for backup, retention in zip(self.backups, self.retentions, strict=False):
            if retention is not None:
                backup.kept_for(timedelta(seconds=retention))
        return self.backups

    def find(self, backup_id: str) -> int | None:
        return next(
            (n for n, backup in enumerate(self.backups) if backup.backup_id == backup_id), None
        )

    def expired(self, now: datetime) -> bool:
        return now - self.opened_at >= FORM_LIFETIME

    def offer(self, product: Product, offer: RestoreOffer) -> None:
        self.product = product
        self.backups = list(offer.backups[:100])
        self.retentions = [
            b.retention.total_seconds() if b.retention is not None else None for b in self.backups
        ]
        self.restores = list(offer.restores)
        self.busy_destinations = list(offer.busy_destinations)
        self.picked = None

    def picked_backup(self) -> Backup | None:
        return None if self.picked is None else self.offered()[self.picked]


def destinations(form: RestoreForm, sites: SiteDirectory) -> list[tuple[str, str]]:
    """The sites the form offers: every configured one but the picked backup's own."""
    picked = form.picked_backup()
    source = (picked.cloud_id or "").lower() if picked is not None else ""
    return [
        (alias, cloud_id)
        for alias, cloud_id in sorted(sites.aliases.items())
        if cloud_id.lower() != source
    ]


def attachments_default(form: RestoreForm) -> bool:
    """Attachments start ticked when the picked backup has them, as `/restore start` does."""
    picked = form.picked_backup()
    return True if picked is None else has_attachments(picked)


class RestoreForms:
    """The open forms in Redis, one JSON document per view id."""

    def __init__(self, redis: aioredis.Redis, key_prefix: str, clock: Clock) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._clock = clock

    def _key(self, view_id: str) -> str:
        return f"{self._prefix}restore:form:{view_id}"

    async def save(self, form: RestoreForm) -> None:
        await self._redis.set(
            self._key(form.view_id), form.model_dump_json(by_alias=True), ex=_CLEANUP_SECONDS
        )

    async def get(self, view_id: str, team_id: str) -> RestoreForm | None:
        """The form of ``view_id`` opened in ``team_id`` and still within its lifetime."""
        if not view_id or len(view_id) > 64:
            return None
        raw = await self._redis.get(self._key(view_id))
        if raw is None:
            return None
        form = RestoreForm.model_validate(json.loads(raw))
        if form.team_id != team_id or form.expired(self._clock.now()):
            return None
        return form

    async def forget(self, view_id: str) -> None:
        await self._redis.delete(self._key(view_id))


@dataclass(frozen=True, slots=True)
class Submitted:
    """What a submission asked for, as its values said (nothing checked yet)."""

    backup_value: str | None
    dest_cloud_id: str | None
    options: frozenset[str]
    options_block: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """A submission every check passed: what to request."""

    backup: Backup
    dest_cloud_id: str
    dest_label: str
    include_attachments: bool
    include_users_and_groups: bool


def submitted(values: Mapping[str, Mapping[str, Mapping[str, object]]]) -> Submitted:
    """The submission's values, read by block and action id; anything else is ignored."""

    def picked(block: str, action: str) -> str | None:
        option = (values.get(block, {}).get(action) or {}).get("selected_option")
        value = option.get("value") if isinstance(option, dict) else None
        return str(value) if value else None

    options_block = next((b for b in values if b.startswith(rb.BLOCK_OPTIONS)), rb.BLOCK_OPTIONS)
    chosen = (values.get(options_block, {}).get(rb.ACTION_OPTIONS) or {}).get("selected_options")
    options = (
        frozenset(str(o.get("value")) for o in chosen or [] if isinstance(o, dict))
        if isinstance(chosen, list)
        else frozenset()
    )
    return Submitted(
        backup_value=picked(rb.BLOCK_BACKUP, rb.ACTION_BACKUP),
        dest_cloud_id=picked(rb.BLOCK_DEST, rb.ACTION_DEST),
        options=options,
        options_block=options_block,
    )


def check_submission(
    form: RestoreForm,
    sub: Submitted,
    *,
    sites: SiteDirectory,
    known_cloud_ids: Collection[str],
    now: datetime,
) -> Accepted | dict[str, str]:
    """The request a submission makes, or the errors to show, keyed by block id.

    Values are checked against what the form offered, then the restore rules against the
    record of the form: every rule that refuses is said beside its field.
    """
    errors: dict[str, str] = {}
    index = (
        form.find(rb.parse_backup_option_value(sub.backup_value)[0]) if sub.backup_value else None
    )
    backup = None if index is None else form.offered()[index]
    if backup is None:
        errors[rb.BLOCK_BACKUP] = said.form_pick_a_backup()
    offered = dict((cloud_id.lower(), alias) for alias, cloud_id in sorted(sites.aliases.items()))
    dest = sub.dest_cloud_id
    if dest is None or dest.lower() not in offered:
        errors[rb.BLOCK_DEST] = said.form_pick_a_destination()
    if not sub.options <= _OPTIONS:
        errors[sub.options_block] = said.form_pick_offered_options()
    if errors or backup is None or dest is None:
        return errors
    include_attachments = "attachments" in sub.options
    verdict = blocking.preflight(
        backup=backup,
        restores=form.restores,
        dest_cloud_id=dest,
        dest_label=offered[dest.lower()],
        known_cloud_ids=known_cloud_ids,
        include_attachments=include_attachments,
        sessions={},
        now=now,
    )
    field_of = {
        rules.Concern.DESTINATION: rb.BLOCK_DEST,
        rules.Concern.OPTIONS: sub.options_block,
        rules.Concern.BACKUP: rb.BLOCK_BACKUP,
    }
    problems = list(verdict.problems)
    if dest.lower() in {busy.lower() for busy in form.busy_destinations}:
        busy = rules.Problem(
            rules.Concern.DESTINATION, said.destination_busy(offered[dest.lower()])
        )
        problems.insert(0, busy)
    for problem in problems:
        block = field_of[problem.concern]
        said_already = errors.get(block)
        errors[block] = f"{said_already} {problem.reason}" if said_already else problem.reason
    if errors:
        return {block: text[:_ERROR_LIMIT] for block, text in errors.items()}
    return Accepted(
        backup=backup,
        dest_cloud_id=dest,
        dest_label=offered[dest.lower()],
        include_attachments=include_attachments,
        include_users_and_groups="users" in sub.options,
    )


__all__ = [
    "FORM_LIFETIME",
    "Accepted",
    "RestoreForm",
    "RestoreForms",
    "Submitted",
    "attachments_default",
    "check_submission",
    "destinations",
    "submitted",
]
