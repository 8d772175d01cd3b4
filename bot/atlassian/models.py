"""Typed views of the backup and restore API's JSON, parsed tolerantly.

The response shapes are assumed (see shared spec), so every model keeps unknown fields,
allows optional ones to be missing, coerces ids to strings and normalises status spellings
to an enum while keeping an unknown status verbatim instead of failing.
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from bot.clock import ensure_utc


class Product(enum.StrEnum):
    JIRA = "JIRA"
    CONFLUENCE = "CONFLUENCE"

    @property
    def label(self) -> str:
        return "Jira" if self is Product.JIRA else "Confluence"


class BackupStatus(enum.StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETE = "COMPLETE"
    INCOMPLETE = "INCOMPLETE"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


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


def normalise_status(raw: object, kind: type[E]) -> E | str:
    """Map any known spelling of a status onto ``kind``; return anything else verbatim."""
    if isinstance(raw, kind):
        return raw
    text = "" if raw is None else str(raw)
    key = re.sub(r"[\s\-_]+", "_", text.strip())
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
    text = "" if raw is None else str(raw)
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


Id = Annotated[str, BeforeValidator(_as_str_id)]
OptionalId = Annotated[str | None, BeforeValidator(_as_str_id)]
Timestamp = Annotated[datetime, BeforeValidator(_as_utc), AfterValidator(ensure_utc)]
ProductValue = Annotated[Product | str, BeforeValidator(normalise_product)]


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


class Policy(ApiModel):
    policy_id: Id
    cloud_id: Id
    product: ProductValue
    storage_id: OptionalId = None
    include_attachments: bool = True
    include_personal_spaces: bool | None = None
    status: str | None = None
    created_at: Timestamp | None = None


class BackupSize(ApiModel):
    data_size: float | None = None
    attachments_size: float | None = None
    total_backup_size_in_gb: float | None = Field(default=None, alias="totalBackupSizeInGB")


class Backup(ApiModel):
    backup_id: Id
    policy_id: OptionalId = None
    cloud_id: OptionalId = None
    product: ProductValue | None = None
    status: BackupStatus | str
    status_message: str | None = None
    created_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    expiry_time: Timestamp | None = None
    backup_size: BackupSize | None = None
    include_attachments: bool | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> BackupStatus | str:
        return normalise_status(value, BackupStatus)


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
    "BackupRef",
    "BackupSize",
    "BackupStatus",
    "ConsentCheck",
    "Export",
    "FailedCheck",
    "Import",
    "OperationStatus",
    "Policy",
    "PostOpReport",
    "Product",
    "Restore",
    "RestoreStatus",
    "Storage",
    "normalise_product",
    "normalise_status",
]
