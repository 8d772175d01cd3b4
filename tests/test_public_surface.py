"""The public surface of bot.atlassian is pinned, so a rename is a deliberate act."""

from __future__ import annotations

import bot.atlassian
from bot import errors
from bot.atlassian import client, models, retry

EXPECTED = {
    "FINAL_BACKUP_STATUSES",
    "FINAL_OPERATION_STATUSES",
    "FINAL_RESTORE_STATUSES",
    "MAX_PAGES",
    "PAGE_SIZE",
    "RECONCILE_SKEW",
    "UNSET",
    "AtlassianClient",
    "AtlassianError",
    "AuthError",
    "Backup",
    "BackupRef",
    "BackupSize",
    "BackupStatus",
    "ConflictError",
    "ConsentCheck",
    "Export",
    "FailedCheck",
    "ForbiddenError",
    "Import",
    "NotFoundError",
    "OperationStatus",
    "OutcomeUnknown",
    "Policy",
    "PostOpReport",
    "Product",
    "RateLimited",
    "RecordingSleep",
    "Restore",
    "RestoreStatus",
    "RetryPolicy",
    "RuleViolation",
    "Storage",
    "Unavailable",
    "UnexpectedResponse",
    "Unset",
    "normalise_product",
    "normalise_status",
}

OPERATIONS = [
    "list_regions",
    "create_storage",
    "list_storages",
    "get_storage",
    "create_policy",
    "list_policies",
    "get_policy",
    "update_policy",
    "run_backup",
    "list_backups",
    "get_backup",
    "export_backups",
    "list_exports",
    "get_export",
    "import_backups",
    "get_import",
    "create_restore",
    "revalidate_restore",
    "list_restores",
    "get_restore",
    "get_post_op_report",
]


def test_all_is_exactly_the_pinned_names() -> None:
    """bot.atlassian.__all__ lists exactly the pinned names, each importable."""
    assert set(bot.atlassian.__all__) == EXPECTED
    assert len(bot.atlassian.__all__) == len(EXPECTED)
    for name in bot.atlassian.__all__:
        assert getattr(bot.atlassian, name) is not None


def test_reexports_are_the_same_objects_as_their_modules() -> None:
    """Re-exported names are the very classes of client, models, retry and errors."""
    assert bot.atlassian.AtlassianClient is client.AtlassianClient
    assert bot.atlassian.Restore is models.Restore
    assert bot.atlassian.RetryPolicy is retry.RetryPolicy
    assert bot.atlassian.OutcomeUnknown is errors.OutcomeUnknown


def test_the_client_offers_all_21_operations_as_coroutines() -> None:
    """Each documented operation is an async method of AtlassianClient."""
    import inspect

    assert len(OPERATIONS) == 21
    for name in OPERATIONS:
        method = getattr(client.AtlassianClient, name)
        assert inspect.iscoroutinefunction(method), name
