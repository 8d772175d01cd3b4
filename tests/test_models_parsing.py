"""Parsing of the API's JSON into models: status spellings, tolerant shapes, documented examples."""

from __future__ import annotations

import contextlib
import enum
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.atlassian.models import (
    _STATUS_SYNONYMS,
    ApiModel,
    Backup,
    BackupRef,
    BackupStatus,
    ConsentCheck,
    Export,
    FailedCheck,
    Import,
    OperationStatus,
    Policy,
    PostOpReport,
    Product,
    Restore,
    RestoreStatus,
    Storage,
    normalise_status,
)

STATUS_KINDS: list[type[enum.StrEnum]] = [BackupStatus, OperationStatus, RestoreStatus]


def letters_only(text: str) -> str:
    return re.sub(r"[^A-Za-z]", "", text).upper()


# Every spelling, reduced to its letters, that some status enum recognises.
KNOWN_LETTERS = {letters_only(member.value) for kind in STATUS_KINDS for member in kind} | {
    letters_only(spelling) for spelling in _STATUS_SYNONYMS
}


@st.composite
def spelling_of(draw: st.DrawFn, canonical: str) -> str:
    """Any casing of ``canonical`` with any mix of spaces, hyphens and underscores between words."""
    words = canonical.split("_")
    separator = st.text(alphabet=" -_\t", min_size=1, max_size=3)
    cased = [
        "".join(ch.upper() if draw(st.booleans()) else ch.lower() for ch in word) for word in words
    ]
    text = cased[0]
    for word in cased[1:]:
        text += draw(separator) + word
    padding = st.text(alphabet=" \t\n", max_size=2)
    return draw(padding) + text + draw(padding)


status_member = st.sampled_from([(kind, member) for kind in STATUS_KINDS for member in kind])


@given(data=st.data(), pair=status_member)
def test_any_spelling_of_a_known_status_normalises_to_its_member(
    data: st.DataObject, pair: tuple[type[enum.StrEnum], enum.StrEnum]
) -> None:
    """Casing, spacing and hyphen variants of a status map onto the one enum member."""
    kind, member = pair
    text = data.draw(spelling_of(member.value))
    assert normalise_status(text, kind) is member


@given(
    data=st.data(),
    synonym=st.sampled_from(sorted(_STATUS_SYNONYMS.items())),
)
def test_synonyms_in_any_spelling_normalise_to_their_status(
    data: st.DataObject, synonym: tuple[str, str]
) -> None:
    """COMPLETED, In Progress, succeeded and the like reach the canonical member."""
    spelling, canonical = synonym
    text = data.draw(spelling_of(spelling))
    for kind in STATUS_KINDS:
        if canonical in kind.__members__.values():
            assert normalise_status(text, kind) == kind(canonical)


@given(text=st.text(), kind=st.sampled_from(STATUS_KINDS))
def test_any_other_string_is_kept_verbatim_and_never_raises(
    text: str, kind: type[enum.StrEnum]
) -> None:
    """A string whose letters spell no known status comes back unchanged."""
    result = normalise_status(text, kind)
    assert isinstance(result, kind) or result == text
    non_ascii = not re.sub(r"\s", "", text).isascii()
    if non_ascii or letters_only(text) not in KNOWN_LETTERS:
        assert result == text
        assert not isinstance(result, kind)


@given(text=st.text(alphabet=st.characters(min_codepoint=128), min_size=1))
def test_non_ascii_text_is_never_taken_for_a_status(text: str) -> None:
    """Text made of non-ASCII characters is kept verbatim."""
    assert normalise_status(text, OperationStatus) == text


@pytest.mark.parametrize("forged", ["ſuccess", "faıled", "İN PROGRESS"])
def test_unicode_look_alikes_do_not_forge_a_status(forged: str) -> None:
    """Letters whose Unicode upper case is ASCII (ſ, ı) do not spell a status."""
    assert normalise_status(forged, BackupStatus) == forged


@given(raw=st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.booleans()))
def test_non_string_statuses_never_raise(raw: object) -> None:
    """None, numbers and booleans as a status are kept as text, not rejected."""
    result = normalise_status(raw, RestoreStatus)
    assert result == ("" if raw is None else str(raw))


@given(status=st.text())
def test_models_accept_any_status_text(status: str) -> None:
    """A backup, export, import or restore with any status string parses."""
    Backup.model_validate({"backupId": "b", "status": status})
    Export.model_validate({"exportId": "e", "status": status})
    Import.model_validate({"importId": "i", "status": status})
    Restore.model_validate({"restoreId": "r", "status": status})


MINIMAL: dict[type[ApiModel], dict[str, Any]] = {
    Storage: {"storageId": "s"},
    Policy: {"policyId": "p", "cloudId": "c", "product": "JIRA"},
    Backup: {"backupId": "b", "status": "COMPLETE"},
    Export: {"exportId": "e", "status": "COMPLETE"},
    Import: {"importId": "i", "status": "COMPLETE"},
    Restore: {"restoreId": "r", "status": "COMPLETE"},
    FailedCheck: {"check": "Consent_Site_License_Check"},
}


def field_names(model: type[ApiModel]) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names |= {name, info.alias or name}
    return names


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    model=st.sampled_from(list(MINIMAL)),
    extra=st.dictionaries(st.text(min_size=1, max_size=12), json_values, max_size=4),
)
def test_models_keep_unknown_fields(model: type[ApiModel], extra: dict[str, Any]) -> None:
    """Fields the model does not know are kept, unchanged, in unknown_fields."""
    extra = {key: value for key, value in extra.items() if key not in field_names(model)}
    parsed = model.model_validate({**MINIMAL[model], **extra})
    assert parsed.unknown_fields == extra


id_fields = {
    Storage: ("storageId", "storage_id"),
    Policy: ("policyId", "policy_id"),
    Backup: ("backupId", "backup_id"),
    Export: ("exportId", "export_id"),
    Import: ("importId", "import_id"),
    Restore: ("restoreId", "restore_id"),
}


@given(model=st.sampled_from(list(id_fields)), number=st.integers(min_value=0, max_value=10**18))
def test_numeric_ids_become_strings(model: type[ApiModel], number: int) -> None:
    """An id sent as a JSON number is read as its decimal string."""
    wire_name, attribute = id_fields[model]
    parsed = model.model_validate({**MINIMAL[model], wire_name: number})
    assert getattr(parsed, attribute) == str(number)


@given(number=st.integers(min_value=0, max_value=2**40).map(float))
def test_integral_float_ids_have_no_decimal_point(number: float) -> None:
    """12.0 as an id is "12", as the service meant it."""
    assert Backup.model_validate({"backupId": number, "status": "x"}).backup_id == str(int(number))


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """Run with the process in a time zone far from UTC, restoring it afterwards."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"
    time.tzset()
    yield
    if previous is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = previous
    time.tzset()


# The zone is set once for all examples on purpose: none of them changes it.
@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seconds=st.integers(min_value=10**9, max_value=4 * 10**9), in_ms=st.booleans())
def test_epoch_timestamps_are_utc_whatever_the_local_zone(
    far_from_utc: None, seconds: int, in_ms: bool
) -> None:
    """Epoch seconds and milliseconds mean the same UTC instant in any local zone."""
    value = seconds * 1000 if in_ms else seconds
    backup = Backup.model_validate({"backupId": "b", "status": "COMPLETE", "createdAt": value})
    assert backup.created_at == datetime.fromtimestamp(seconds, tz=UTC)
    assert backup.created_at is not None
    assert backup.created_at.utcoffset() is not None
    assert backup.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@given(value=st.integers())
def test_any_numeric_timestamp_parses_or_is_a_validation_error(value: int) -> None:
    """An absurd epoch value is a validation error, never an overflow escaping the parser."""
    with contextlib.suppress(ValidationError):
        Backup.model_validate({"backupId": "b", "status": "x", "createdAt": value})


@given(
    check=st.sampled_from(list(ConsentCheck)),
    upper=st.booleans(),
)
def test_failed_check_values_match_consents_case_insensitively(
    check: ConsentCheck, upper: bool
) -> None:
    """A failed check named in any case is the ConsentCheck member."""
    text = check.value.upper() if upper else check.value.lower()
    assert FailedCheck.model_validate({"check": f" {text} "}).check is check


# -- the documented shapes -----------------------------------------------------------------


def test_storage_documented_shape() -> None:
    """A storage object reads every documented field."""
    storage = Storage.model_validate(STORAGE)
    assert storage.storage_id == "sto-1"
    assert storage.storage_region == "us-east-1"
    assert storage.role_identifier == "arn:aws:iam::123456789012:role/backup"
    assert storage.cloud_id == "11111111-1111-4111-8111-111111111111"
    assert storage.status == "ACTIVE"


def test_policy_documented_shape() -> None:
    """A policy reads product, optional storage and flags, and a UTC createdAt."""
    policy = Policy.model_validate(POLICY)
    assert policy.product is Product.CONFLUENCE
    assert policy.storage_id is None
    assert policy.include_attachments is True
    assert policy.include_personal_spaces is False
    assert policy.created_at == datetime(2026, 10, 1, 8, 30, tzinfo=UTC)


def test_backup_documented_shape() -> None:
    """A backup reads its 'IN PROGRESS'-style status, times and size block."""
    backup = Backup.model_validate(BACKUP)
    assert backup.status is BackupStatus.INCOMPLETE
    assert backup.status_message == "Some spaces are missing"
    assert backup.expiry_time == datetime(2026, 11, 13, 2, 0, tzinfo=UTC)
    assert backup.backup_size is not None
    assert backup.backup_size.total_backup_size_in_gb == 12.5


def test_export_and_import_documented_shapes() -> None:
    """Exports and imports read their ids, backup and status."""
    export = Export.model_validate(EXPORT)
    imported = Import.model_validate({**EXPORT, "importId": "imp-1", "status": "IN_PROGRESS"})
    assert (export.export_id, export.backup_id, export.status) == (
        "exp-1",
        "bkp-1",
        OperationStatus.COMPLETE,
    )
    assert imported.status is OperationStatus.IN_PROGRESS
    assert imported.product is Product.JIRA


def test_restore_documented_shape() -> None:
    """A restore reads its failed checks as ConsentCheck members and keeps unknown checks."""
    restore = Restore.model_validate(RESTORE)
    assert restore.status is RestoreStatus.VALIDATION_FAILED
    assert [check.check for check in restore.failed_checks] == [
        ConsentCheck.CONFLICTING_SPACE,
        ConsentCheck.PRODUCT_LICENSE,
        "Consent_Brand_New_Check",
    ]
    assert restore.failed_checks[0].code == "SPACE_KEY_CONFLICT"
    assert restore.migration_id is None
    assert Restore.model_validate({**RESTORE, "failedChecks": None}).failed_checks == []


def test_post_op_report_reads_report_url_or_url() -> None:
    """The report link is reportUrl, or url from a differently shaped answer."""
    assert PostOpReport.model_validate({"reportUrl": "https://a"}).link == "https://a"
    assert PostOpReport.model_validate({"url": "https://b"}).link == "https://b"
    assert PostOpReport.model_validate({}).link is None


def test_backup_ref_dumps_to_the_export_request_item() -> None:
    """A BackupRef serialises to the documented {product, cloudId, backupId}."""
    ref = BackupRef(product=Product.JIRA, cloud_id="c", backup_id=42)  # type: ignore[arg-type]
    assert ref.model_dump(by_alias=True, mode="json") == {
        "product": "JIRA",
        "cloudId": "c",
        "backupId": "42",
    }


STORAGE = {
    "storageId": "sto-1",
    "storageName": "acme-s3",
    "storageRegion": "us-east-1",
    "storagePrefix": "backups/",
    "storageType": "aws",
    "roleIdentifier": "arn:aws:iam::123456789012:role/backup",
    "principalTag": "acme",
    "cloudId": "11111111-1111-4111-8111-111111111111",
    "status": "ACTIVE",
}

POLICY = {
    "policyId": "pol-1",
    "cloudId": "11111111-1111-4111-8111-111111111111",
    "product": "confluence",
    "storageId": None,
    "includeAttachments": True,
    "includePersonalSpaces": False,
    "status": "ACTIVE",
    "createdAt": "2026-10-01T08:30:00Z",
}

BACKUP = {
    "backupId": "bkp-1",
    "policyId": "pol-1",
    "cloudId": "11111111-1111-4111-8111-111111111111",
    "product": "CONFLUENCE",
    "status": "Partially Completed",
    "statusMessage": "Some spaces are missing",
    "createdAt": "2026-10-30T02:00:00Z",
    "completedAt": "2026-10-30T03:10:00",
    "expiryTime": "2026-11-13T02:00:00+00:00",
    "backupSize": {"dataSize": 2.5, "attachmentsSize": 10, "totalBackupSizeInGB": 12.5},
}

EXPORT = {
    "exportId": "exp-1",
    "backupId": "bkp-1",
    "cloudId": "11111111-1111-4111-8111-111111111111",
    "product": "JIRA",
    "status": "COMPLETED",
    "createdAt": "2026-10-30T02:00:00Z",
}

RESTORE = {
    "restoreId": "rst-1",
    "backupId": "bkp-1",
    "cloudId": "33333333-3333-4333-8333-333333333333",
    "product": "CONFLUENCE",
    "status": "VALIDATION FAILED",
    "failedChecks": [
        {"check": "Consent_Conflicting_Space_Check", "code": "SPACE_KEY_CONFLICT", "message": "x"},
        {"check": "consent_product_license_check", "code": "LICENSE", "message": "y"},
        {"check": "Consent_Brand_New_Check"},
    ],
    "createdAt": "2026-11-01T09:00:00Z",
}
