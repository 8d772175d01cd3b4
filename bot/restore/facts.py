"""What a restore card says about its backup, captured once when the restore was requested.

The backup is read from Atlassian when the request is checked; later redraws of the card
must not call Atlassian again, so the few facts the card shows are kept beside the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.atlassian import rules
from bot.atlassian.models import Backup


@dataclass(frozen=True, slots=True)
class BackupFacts:
    """What the card shows about the backup, captured when the restore was requested."""

    created_at: datetime | None
    expiry: datetime | None
    status: str
    warning: str | None

    @classmethod
    def of(cls, backup: Backup, now: datetime) -> BackupFacts:
        return cls(
            created_at=backup.created_at,
            expiry=rules.backup_expiry(backup),
            status=str(rules.effective_backup_status(backup, now)),
            warning=rules.restore_warning(backup),
        )

    @classmethod
    def unknown(cls) -> BackupFacts:
        """For a session whose facts are gone: the card still draws, saying what it cannot know."""
        return cls(created_at=None, expiry=None, status="unknown", warning=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "expiry": self.expiry.isoformat() if self.expiry else None,
            "status": self.status,
            "warning": self.warning,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackupFacts:
        def parse(value: object) -> datetime | None:
            return datetime.fromisoformat(str(value)) if value else None

        return cls(
            created_at=parse(data.get("created_at")),
            expiry=parse(data.get("expiry")),
            status=str(data.get("status") or "unknown"),
            warning=data.get("warning"),
        )


def has_attachments(backup: Backup) -> bool:
    """Whether the backup holds attachments, when the request does not say to include them."""
    if backup.include_attachments is not None:
        return backup.include_attachments
    size = backup.backup_size
    if size is not None and size.attachments_size is not None:
        return size.attachments_size > 0
    return True


__all__ = ["BackupFacts", "has_attachments"]
