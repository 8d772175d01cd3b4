"""Typed views of the backup and restore API's JSON, parsed tolerantly.

The response shapes are assumed (see shared spec), so every model keeps unknown fields,
allows optional ones to be missing, coerces ids to strings and normalises status spellings
to an enum while keeping an unknown status verbatim instead of failing.

Both API versions are read into the same models: where v2 names or nests a field
differently (``productType``, ``cloudInfo.cloudId``, ``details.storageId``) the field
accepts either spelling, so nothing outside this module asks which version answered.
A backup's ``expiryTime`` is used as given; only when it is missing is the expiry computed,
from the retention of the version that answered (``Backup.retention``, set by the client).
"""

from __future__ import annotations

import enum
import functools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final, TypeVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
)
from pydantic.alias_generators import to_camel

from bot.clock import ensure_utc


class Product(enum.StrEnum):
    JIRA = "JIRA"
    CONFLUENCE = "CONFLUENCE"

    @property
    def label(self) -> str:
        return "Jira" if self is Product.JIRA else "Confluence"


class BackupStatus(enum.StrEnum):
    # v2: the backup exists (a schedule or an activation made it) but has not started.
    CREATED = "CREATED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETE = "COMPLETE"
    INCOMPLETE = "INCOMPLETE"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


class PolicyStatus(enum.StrEnum):
    """v2 policies are INACTIVE when saved unactivated, unscheduled, or once-only and done."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class ScheduleInterval(enum.StrEnum):
    """How often Atlassian runs a v2 policy (ONCE documented; the others from its UI)."""

    ONCE = "ONCE"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"


class OperationStatus(enum.StrEnum):
    """Status of an export or an import."""

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


class RestoreStatus(enum.StrEnum):
    VALIDATING = "VALIDATING"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETE = "COMPLETE"
    INCOMPLETE = "INCOMPLETE"
    FAILED = "FAILED"


class ConsentCheck(enum.StrEnum):
    """The consent values revalidate accepts, one per kind of failed validation check."""

    CONFLICTING_SPACE = "Consent_Conflicting_Space_Check"
    CONFLICTING_GROUP = "Consent_Conflicting_Group_Check"
    PRODUCT_LICENSE = "Consent_Product_License_Check"
    SITE_LICENSE = "Consent_Site_License_Check"
    TDP_SHARD = "Consent_TDP_Shard_Check"
    ACCEPT_CUSTOM_GROUP = "Accept_Custom_Group_Check"
    DENY_CUSTOM_GROUP = "Deny_Custom_Group_Check"


FINAL_BACKUP_STATUSES = frozenset(
    {BackupStatus.COMPLETE, BackupStatus.INCOMPLETE, BackupStatus.EXPIRED, BackupStatus.FAILED}
)
FINAL_OPERATION_STATUSES = frozenset({OperationStatus.COMPLETE, OperationStatus.FAILED})
FINAL_RESTORE_STATUSES = frozenset(
    {RestoreStatus.COMPLETE, RestoreStatus.INCOMPLETE, RestoreStatus.FAILED}
)

# Spellings seen or plausible for the same state; keys are already upper-cased with
# spaces and hyphens turned into underscores.
_STATUS_SYNONYMS = {
    "COMPLETED": "COMPLETE",
    "SUCCESS": "COMPLETE",
    "SUCCEEDED": "COMPLETE",
    "SUCCESSFUL": "COMPLETE",
    "DONE": "COMPLETE",
    "INPROGRESS": "IN_PROGRESS",
    "RUNNING": "IN_PROGRESS",
    "STARTED": "IN_PROGRESS",
    "FAILURE": "FAILED",
    "ERROR": "FAILED",
    "PARTIAL": "INCOMPLETE",
    "PARTIALLY_COMPLETE": "INCOMPLETE",
    "PARTIALLY_COMPLETED": "INCOMPLETE",
    "VALIDATIONFAILED": "VALIDATION_FAILED",
    "EXPIRE": "EXPIRED",
}

E = TypeVar("E", bound=enum.StrEnum)


_SEPARATORS: Final = re.compile(r"[\s\-_]+")


def normalise_status(raw: object, kind: type[E]) -> E | str:
    """Map any known spelling of a status onto ``kind``; return anything else verbatim."""
    if isinstance(raw, kind):
        return raw
    text = "" if raw is None else str(raw)
    # Thousands of items a cycle carry a handful of spellings: each is worked out once.
    return _normalised(text, kind)


@functools.lru_cache(maxsize=256)
def _normalised(text: str, kind: type[E]) -> E | str:
    key = _SEPARATORS.sub("_", text.strip())
    if not key.isascii():
        # Unicode case mapping would turn look-alikes such as "ſ" into status letters.
        return text
    key = key.upper()
    key = _STATUS_SYNONYMS.get(key, key)
    try:
        return kind(key)
    except ValueError:
        return text


def normalise_product(raw: object) -> Product | str:
    if isinstance(raw, Product):
        return raw
    return _product("" if raw is None else str(raw))


@functools.lru_cache(maxsize=64)
def _product(text: str) -> Product | str:
    try:
        return Product(text.strip().upper())
    except ValueError:
        return text


def _as_str_id(value: object) -> object:
    # Ids may arrive as numbers; they are opaque to us.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


def _as_utc(value: object) -> object:
    if isinstance(value, datetime):
        return ensure_utc(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Epoch milliseconds are common in Atlassian APIs.
        seconds = value / 1000 if value > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError) as exc:
            # As a ValueError it becomes a validation error instead of escaping the parser.
            raise ValueError(f"timestamp {value} is out of range") from exc
    return value


def _as_date(value: object) -> object:
    if isinstance(value, datetime):
        return ensure_utc(value).date()
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return text
    converted = _as_utc(value)
    return converted.date() if isinstance(converted, datetime) else converted


def _as_text(value: object) -> object:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _as_list(value: object) -> object:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


Id = Annotated[str, BeforeValidator(_as_str_id)]
OptionalId = Annotated[str | None, BeforeValidator(_as_str_id)]
Timestamp = Annotated[datetime, BeforeValidator(_as_utc), AfterValidator(ensure_utc)]
ProductValue = Annotated[Product | str, BeforeValidator(normalise_product)]
# A start date the API may send as a date, a timestamp or text we keep verbatim.
DateValue = Annotated[date | str, BeforeValidator(_as_date)]
Text = Annotated[str, BeforeValidator(_as_text)]


class ApiModel(BaseModel):
    """Base for API objects: camelCase on the wire, unknown fields kept, ids as strings."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=False,
    )

    @property
    def unknown_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Storage(ApiModel):
    storage_id: Id
    storage_name: str | None = None
    storage_region: str | None = None
    storage_prefix: str | None = None
    storage_type: str | None = None
    role_identifier: str | None = None
    principal_tag: str | None = None
    cloud_id: OptionalId = None
    status: str | None = None


class CloudInfo(ApiModel):
    """v2: the site a policy backs up."""

    cloud_id: OptionalId = None
    cloud_url: str | None = None
    cloud_name: str | None = None
    encryption_type: str | None = None


class BackupDetails(ApiModel):
    last_backup_time: Timestamp | None = None
    total_available_backups: int | None = None


class Schedule(ApiModel):
    """When Atlassian runs a v2 policy: from ``start_date``, in the slot it assigned."""

    interval: ScheduleInterval | str | None = None
    start_date: DateValue | None = None
    schedule_slot: Text | None = None

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> ScheduleInterval | str | None:
        return None if value is None else normalise_status(value, ScheduleInterval)


class PolicyDetails(ApiModel):
    storage_id: OptionalId = None
    backup_details: BackupDetails | None = None
    schedule_details: Schedule | None = None


class Policy(ApiModel):
    policy_id: Id
    policy_name: str | None = None
    cloud_id: Id = Field(
        validation_alias=AliasChoices("cloudId", "cloud_id", AliasPath("cloudInfo", "cloudId"))
    )
    cloud_info: CloudInfo | None = None
    product: ProductValue = Field(
        validation_alias=AliasChoices("product", "productType"), serialization_alias="product"
    )
    storage_id: OptionalId = Field(
        default=None,
        validation_alias=AliasChoices("storageId", "storage_id", AliasPath("details", "storageId")),
    )
    include_attachments: bool = True
    include_personal_spaces: bool | None = None
    include_users_and_groups: bool | None = None
    status: PolicyStatus | str | None = None
    details: PolicyDetails | None = None
    created_at: Timestamp | None = None
    created_by: OptionalId = None

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> PolicyStatus | str | None:
        return None if value is None else normalise_status(value, PolicyStatus)

    @property
    def is_active(self) -> bool:
        """v1 policies carry ACTIVE or nothing: only an explicit INACTIVE is inactive."""
        return self.status != PolicyStatus.INACTIVE

    @property
    def schedule(self) -> Schedule | None:
        return self.details.schedule_details if self.details else None

    @property
    def last_backup_time(self) -> datetime | None:
        backups = self.details.backup_details if self.details else None
        return backups.last_backup_time if backups else None


class BackupSize(ApiModel):
    users_size: float | None = None
    data_size: float | None = None
    attachments_size: float | None = None
    total_backup_size_in_gb: float | None = Field(default=None, alias="totalBackupSizeInGB")


class Backup(ApiModel):
    backup_id: Id
    name: str | None = None
    policy_id: OptionalId = None
    cloud_id: OptionalId = None
    product: ProductValue | None = None
    status: BackupStatus | str
    status_message: str | None = None
    account_id: OptionalId = None
    created_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    last_updated_at: Timestamp | None = None
    expiry_time: Timestamp | None = None
    selections: list[str] = Field(default_factory=list)
    backup_size: BackupSize | None = None
    storage_id: OptionalId = None
    encryption_type: str | None = None
    include_attachments: bool | None = None
    # How long Atlassian keeps it: the retention of the API version that answered.
    _retention: timedelta | None = PrivateAttr(default=None)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> BackupStatus | str:
        return normalise_status(value, BackupStatus)

    @field_validator("selections", mode="before")
    @classmethod
    def _selections(cls, value: object) -> object:
        return _as_list(value)

    @property
    def retention(self) -> timedelta | None:
        """None for a backup not read through a client (the EAP rules then apply)."""
        return self._retention

    def kept_for(self, retention: timedelta) -> Backup:
        """Note the retention of the version that answered; returns the backup itself."""
        self._retention = retention
        return self


class Export(ApiModel):
    export_id: Id
    backup_id: OptionalId = None
    cloud_id: OptionalId = None
    product: ProductValue | None = None
    status: OperationStatus | str
    status_message: str | None = None
    created_at: Timestamp | None = None
    completed_at: Timestamp | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> OperationStatus | str:
        return normalise_status(value, OperationStatus)


class Import(ApiModel):
    import_id: Id
    backup_id: OptionalId = None
    cloud_id: OptionalId = None
    product: ProductValue | None = None
    status: OperationStatus | str
    status_message: str | None = None
    created_at: Timestamp | None = None
    completed_at: Timestamp | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> OperationStatus | str:
        return normalise_status(value, OperationStatus)


class FailedCheck(ApiModel):
    check: ConsentCheck | str
    code: str | None = None
    message: str | None = None

    @field_validator("check", mode="before")
    @classmethod
    def _check(cls, value: object) -> ConsentCheck | str:
        text = "" if value is None else str(value).strip()
        for member in ConsentCheck:
            if member.value.lower() == text.lower():
                return member
        return text


class Restore(ApiModel):
    restore_id: Id
    backup_id: OptionalId = None
    cloud_id: OptionalId = None
    product: ProductValue | None = None
    status: RestoreStatus | str
    status_message: str | None = None
    failed_checks: list[FailedCheck] = Field(default_factory=list)
    migration_id: OptionalId = None
    include_attachments: bool | None = None
    include_users_and_groups: bool | None = None
    created_at: Timestamp | None = None
    completed_at: Timestamp | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> RestoreStatus | str:
        return normalise_status(value, RestoreStatus)

    @field_validator("failed_checks", mode="before")
    @classmethod
    def _checks(cls, value: object) -> object:
        return [] if value is None else value


class BackupRef(ApiModel):
    """One item of an export or import request."""

    product: ProductValue
    cloud_id: Id
    backup_id: Id


class PostOpReport(ApiModel):
    report_url: str | None = None
    url: str | None = None

    @property
    def link(self) -> str | None:
        return self.report_url or self.url


__all__ = [
    "FINAL_BACKUP_STATUSES",
    "FINAL_OPERATION_STATUSES",
    "FINAL_RESTORE_STATUSES",
    "ApiModel",
    "Backup",
    "BackupDetails",
    "BackupRef",
    "BackupSize",
    "BackupStatus",
    "CloudInfo",
    "ConsentCheck",
    "Export",
    "FailedCheck",
    "Import",
    "OperationStatus",
    "Policy",
    "PolicyDetails",
    "PolicyStatus",
    "PostOpReport",
    "Product",
    "Restore",
    "RestoreStatus",
    "Schedule",
    "ScheduleInterval",
    "Storage",
    "normalise_product",
    "normalise_status",
]
