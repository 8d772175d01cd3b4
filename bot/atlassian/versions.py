"""What differs between the versions of Atlassian's backup and restore API, in one place.

``v1`` is the EAP API the product was first specified from; ``v2`` is Atlassian's current
version (its developer guide says v1 will be deprecated). Everything version-specific the
bot knows lives in one ``ApiProfile``: the default base URL, which calls need the
``X-Atl-Account-Id`` header, the extra query a policy read asks for, whether policies are
activated and scheduled by Atlassian, and the rules (``BackupRules``: retention in
Atlassian storage, the interval between backups of a policy and between restores of a
backup). The client, the rules, the simulator and the Slack side read these fields instead
of comparing version names. The response shapes of both versions are read by the same
tolerant models (``bot.atlassian.models``), so nothing here is about parsing.

v2 facts that the public reference does not show are assumptions, marked as such below and
in ``docs/atlassian-api-v2.md``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit


class ApiVersion(enum.StrEnum):
    V1 = "v1"
    V2 = "v2"


ACCOUNT_ID_HEADER: Final = "X-Atl-Account-Id"


@dataclass(frozen=True)
class BackupRules:
    """The timing rules of one API version, as the bot checks them before calling it."""

    retention: timedelta
    backup_interval: timedelta
    restore_interval: timedelta

    @property
    def retention_days(self) -> int:
        return self.retention.days

    def kept(self) -> str:
        """The retention rule as refusals quote it: "backups are kept 30 days"."""
        return f"backups are kept {_days(self.retention)}"

    def backup_cadence(self) -> str:
        """The interval rule as refusals quote it: "one backup every 7 days"."""
        return f"one backup every {_days(self.backup_interval)}"


def _days(span: timedelta) -> str:
    if span % timedelta(days=1):
        hours = int(span.total_seconds() // 3600)
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    return f"{span.days} day" if span.days == 1 else f"{span.days} days"


@dataclass(frozen=True)
class ApiProfile:
    """Everything version-specific about one API version."""

    version: ApiVersion
    # How the bot names the version to people: in replies, start-up lines and the README.
    name: str
    default_url: str
    rules: BackupRules
    # Client operations (method names) that must carry X-Atl-Account-Id.
    account_id_required_for: frozenset[str]
    # Policies are saved inactive and activated separately; Atlassian runs their schedule.
    has_activation: bool
    # Query parameters a policy read adds so the answer holds storage and backup details.
    policy_details_query: Mapping[str, str]

    @property
    def needs_account_id(self) -> bool:
        return bool(self.account_id_required_for)

    def with_retention_days(self, days: int | None) -> ApiProfile:
        """The profile with retention overridden (``ATLASSIAN_BACKUP_RETENTION_DAYS``)."""
        if days is None:
            return self
        rules = dataclasses.replace(self.rules, retention=timedelta(days=days))
        return dataclasses.replace(self, rules=rules)


EAP_RULES: Final = BackupRules(
    retention=timedelta(days=14),
    backup_interval=timedelta(days=7),
    restore_interval=timedelta(days=7),
)

V1: Final = ApiProfile(
    version=ApiVersion.V1,
    name="the EAP backup API (v1)",
    default_url="https://api.atlassian.com/public/backup-management/v1",
    rules=EAP_RULES,
    account_id_required_for=frozenset(),
    has_activation=False,
    policy_details_query=MappingProxyType({}),
)

V2: Final = ApiProfile(
    version=ApiVersion.V2,
    name="the current backup API (v2)",
    default_url="https://api.atlassian.com/public/backup-management/v2",
    # Documented: 30 days in Atlassian storage. Assumed: Atlassian's UI schedules at most
    # daily backups, so a manual one is allowed a day after the last complete one; the
    # 7-day restore rule is carried over from v1.
    rules=BackupRules(
        retention=timedelta(days=30),
        backup_interval=timedelta(days=1),
        restore_interval=timedelta(days=7),
    ),
    account_id_required_for=frozenset({"activate_policy"}),
    has_activation=True,
    policy_details_query=MappingProxyType({"storageDetails": "true", "backupDetails": "true"}),
)

PROFILES: Final[Mapping[ApiVersion, ApiProfile]] = MappingProxyType(
    {ApiVersion.V1: V1, ApiVersion.V2: V2}
)


def profile_of(version: ApiVersion | str) -> ApiProfile:
    return PROFILES[ApiVersion(version)]


def version_in_url(url: str) -> ApiVersion | None:
    """The version a base URL names in its last path segment (``…/v2``), if any."""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return None
    last = path.rstrip("/").rsplit("/", 1)[-1].lower()
    try:
        return ApiVersion(last)
    except ValueError:
        return None


def resolve_version(explicit: ApiVersion | str | None, url: str | None) -> ApiVersion:
    """ATLASSIAN_API_VERSION when set; otherwise the URL's last segment; otherwise v1."""
    if explicit:
        return ApiVersion(str(explicit).strip().lower())
    return (version_in_url(url) if url else None) or ApiVersion.V1


__all__ = [
    "ACCOUNT_ID_HEADER",
    "EAP_RULES",
    "PROFILES",
    "V1",
    "V2",
    "ApiProfile",
    "ApiVersion",
    "BackupRules",
    "profile_of",
    "resolve_version",
    "version_in_url",
]
