"""The `/backup` commands, each declared once, in the order the help lists them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Final

from bot.access import Role
from bot.assurance.schedules import Weekday
from bot.atlassian.models import Product
from bot.slack.commands.grammar import (
    PRODUCT_OPTION,
    SITE_OPTION,
    Option,
    Positional,
    Several,
    Words,
)
from bot.slack.commands.spec import Answer, CommandSet, NotFound, SlashCommand
from bot.slack.commands.values import (
    BOOLEAN,
    ID,
    PRODUCT,
    SCHEDULE_CHOICE,
    SETTING,
    SITE,
    STORAGE_CHOICE,
    STORAGE_ID,
    TIME_OF_DAY,
    TIME_ZONE,
    WEEKDAY,
    AtlassianStorage,
    ScheduleChoice,
)

BACKUP: Final = CommandSet("/backup", "*Backups* (`/backup`)")

_POLICY_NOT_FOUND: Final = NotFound(
    "policy_id", "backup policy", "`/backup policy list` shows the policies"
)
_ATTACHMENTS: Final = Option("attachments", BOOLEAN, into="include_attachments")
_PERSONAL_SPACES: Final = Option("personal-spaces", BOOLEAN, into="include_personal_spaces")


@BACKUP.command(
    "help",
    Words("topic", "command"),
    summary="show this help, or the help of one command",
    example="/backup help policy",
    handler=None,  # answered in the acknowledgement
    usage_hint=True,
)
@dataclass(frozen=True, slots=True)
class Help(SlashCommand):
    """Show the help; ``topic`` such as ``/backup policy`` narrows it (see ``help_text``)."""

    topic: str | None = None


@BACKUP.command(
    "whoami",
    summary="your role: admin, approver or viewer",
    example="/backup whoami",
    handler="whoami",
)
@dataclass(frozen=True, slots=True)
class WhoAmI(SlashCommand):
    pass


@BACKUP.command(
    "sites",
    summary="the site aliases configured in ATLASSIAN_SITES",
    example="/backup sites",
    handler="sites",
)
@dataclass(frozen=True, slots=True)
class Sites(SlashCommand):
    pass


@BACKUP.command(
    "regions",
    summary="the regions where your own S3 storage can be",
    example="/backup regions",
    handler="regions",
)
@dataclass(frozen=True, slots=True)
class Regions(SlashCommand):
    pass


@BACKUP.command(
    "storage create",
    Option("name", SETTING, required=True),
    Option("region", SETTING, required=True),
    Option("prefix", SETTING, required=True),
    Option("role", SETTING, required=True, placeholder="ROLE_ARN"),
    Option("tag", SETTING, required=True, placeholder="PRINCIPAL_TAG"),
    Option("site", SITE, into="cloud_id", required=True),
    summary="register your own S3 bucket as backup storage",
    example=(
        "/backup storage create name=acme-s3 region=us-east-1 prefix=atlassian/acme"
        " role=arn:aws:iam::123456789012:role/atlassian-backup tag=acme-backup site=acme"
    ),
    handler="storage_create",
    role=Role.ADMIN,
    answer=Answer.CARD,
)
@dataclass(frozen=True, slots=True)
class StorageCreate(SlashCommand):
    name: str
    region: str
    prefix: str
    role: str
    tag: str
    cloud_id: str


@BACKUP.command(
    "storage list",
    SITE_OPTION,
    PRODUCT_OPTION,
    summary="list the registered storages",
    example="/backup storage list site=acme",
    handler="storage_list",
)
@dataclass(frozen=True, slots=True)
class StorageList(SlashCommand):
    cloud_id: str | None = None
    product: Product | None = None


@BACKUP.command(
    "storage show",
    Positional("storage_id", ID, "storage id"),
    summary="show one storage",
    example="/backup storage show sto-acme-s3",
    handler="storage_show",
    not_found=NotFound("storage_id", "storage", "`/backup storage list` shows the storages"),
)
@dataclass(frozen=True, slots=True)
class StorageShow(SlashCommand):
    storage_id: str


def _personal_spaces_only_in_confluence(command: PolicyCreate) -> str | None:
    if command.include_personal_spaces is not None and command.product is not Product.CONFLUENCE:
        return "Option `personal-spaces` applies only to Confluence policies."
    return None


@BACKUP.command(
    "policy create",
    Positional("product", PRODUCT, "product"),
    Option("site", SITE, into="cloud_id", required=True),
    _ATTACHMENTS,
    _PERSONAL_SPACES,
    Option("storage", STORAGE_ID, "storage_id"),
    summary="create a backup policy for a site's Jira or Confluence",
    example="/backup policy create confluence site=acme personal-spaces=no",
    handler="policy_create",
    role=Role.ADMIN,
    answer=Answer.CARD,
    checks=[_personal_spaces_only_in_confluence],
)
@dataclass(frozen=True, slots=True)
class PolicyCreate(SlashCommand):
    """``storage_id`` None means Atlassian's storage; personal spaces exist only in Confluence."""

    product: Product
    cloud_id: str
    include_attachments: bool = True
    include_personal_spaces: bool | None = None
    storage_id: str | None = None


@BACKUP.command(
    "policy list",
    summary="list the backup policies",
    example="/backup policy list",
    handler="policy_list",
    usage_hint=True,
)
@dataclass(frozen=True, slots=True)
class PolicyList(SlashCommand):
    pass


@BACKUP.command(
    "policy show",
    Positional("policy_id", ID, "policy id"),
    summary="show one backup policy",
    example="/backup policy show pol-123",
    handler="policy_show",
    not_found=_POLICY_NOT_FOUND,
)
@dataclass(frozen=True, slots=True)
class PolicyShow(SlashCommand):
    policy_id: str


@BACKUP.command(
    "policy update",
    Positional("policy_id", ID, "policy id"),
    _ATTACHMENTS,
    _PERSONAL_SPACES,
    Option("storage", STORAGE_CHOICE, "storage_id"),
    summary="change a policy; storage=atlassian moves its backups back to Atlassian's storage",
    example="/backup policy update pol-123 attachments=no storage=atlassian",
    handler="policy_update",
    role=Role.ADMIN,
    answer=Answer.CARD,
    needs_an_option=True,
)
@dataclass(frozen=True, slots=True)
class PolicyUpdate(SlashCommand):
    """None means "leave as it is"; ``storage_id`` ATLASSIAN_STORAGE moves back to Atlassian's."""

    policy_id: str
    include_attachments: bool | None = None
    include_personal_spaces: bool | None = None
    storage_id: str | AtlassianStorage | None = None


@BACKUP.command(
    "policy activate",
    Positional("policy_id", ID, "policy id"),
    summary="activate a saved policy so Atlassian runs its schedule (current API only)",
    example="/backup policy activate pol-123",
    handler="policy_activate",
    role=Role.ADMIN,
    answer=Answer.CARD,
    not_found=_POLICY_NOT_FOUND,
)
@dataclass(frozen=True, slots=True)
class PolicyActivate(SlashCommand):
    policy_id: str


@BACKUP.command(
    "run",
    Positional("policy_id", ID, "policy id"),
    summary="start a backup now",
    example="/backup run pol-123",
    handler="backup_run",
    role=Role.ADMIN,
    answer=Answer.CARD,
    not_found=_POLICY_NOT_FOUND,
    usage_hint=True,
)
@dataclass(frozen=True, slots=True)
class BackupRun(SlashCommand):
    policy_id: str


def _schedule_options_fit(command: SlashCommand) -> str | None:
    assert isinstance(command, ScheduleSet)
    if command.choice is ScheduleChoice.OFF and (command.day, command.at, command.tz) != (
        None,
        None,
        None,
    ):
        return "`off` takes no options: it stops the schedule."
    if command.choice is ScheduleChoice.DAILY and command.day is not None:
        return "Option `day` is only for a weekly schedule."
    return None


@BACKUP.command(
    "schedule",
    Positional("policy_id", ID, "policy id"),
    Positional("choice", SCHEDULE_CHOICE, "schedule"),
    Option("day", WEEKDAY),
    Option("at", TIME_OF_DAY),
    Option("tz", TIME_ZONE),
    summary="let the bot back a policy up weekly (default mon at 02:00 UTC) or daily; off stops it",
    example="/backup schedule pol-123 weekly day=mon at=02:00 tz=Europe/Berlin",
    handler="schedule",
    role=Role.ADMIN,
    answer=Answer.CARD,
    not_found=_POLICY_NOT_FOUND,
    checks=[_schedule_options_fit],
)
@dataclass(frozen=True, slots=True)
class ScheduleSet(SlashCommand):
    """None: the default (weekly on Monday, at 02:00, in UTC)."""

    policy_id: str
    choice: ScheduleChoice
    day: Weekday | None = None
    at: time | None = None
    tz: str | None = None


@BACKUP.command(
    "schedules",
    summary="list the backup schedules (the bot's, or Atlassian's under the current API)",
    example="/backup schedules",
    handler="schedules",
)
@dataclass(frozen=True, slots=True)
class Schedules(SlashCommand):
    pass


@BACKUP.command(
    "status",
    summary="could we restore today, and how much would we lose: one line per site and product",
    example="/backup status",
    handler="status",
    usage_hint=True,
)
@dataclass(frozen=True, slots=True)
class Status(SlashCommand):
    pass


@BACKUP.command(
    "list",
    Positional("policy_id", ID, "policy id"),
    summary="list a policy's backups",
    example="/backup list pol-123",
    handler="backup_list",
    not_found=_POLICY_NOT_FOUND,
    usage_hint=True,
)
@dataclass(frozen=True, slots=True)
class BackupList(SlashCommand):
    policy_id: str


@BACKUP.command(
    "show",
    Positional("backup_id", ID, "backup id"),
    summary="show one backup",
    example="/backup show bkp-456",
    handler="backup_show",
    not_found=NotFound("backup_id", "backup", "`/backup list POLICY_ID` shows a policy's backups"),
)
@dataclass(frozen=True, slots=True)
class BackupShow(SlashCommand):
    backup_id: str


@BACKUP.command(
    "export",
    Several("backup_ids", ID, "backup id"),
    summary="copy backups to their site's customer storage (S3)",
    example="/backup export bkp-456 bkp-457",
    handler="export",
    role=Role.ADMIN,
    answer=Answer.CARD,
    usage_hint=True,
)
@dataclass(frozen=True, slots=True)
class Export(SlashCommand):
    backup_ids: tuple[str, ...]


@BACKUP.command(
    "exports",
    PRODUCT_OPTION,
    summary="list the exports",
    example="/backup exports product=jira",
    handler="exports",
)
@dataclass(frozen=True, slots=True)
class Exports(SlashCommand):
    product: Product | None = None


@BACKUP.command(
    "export-status",
    Positional("export_id", ID, "export id"),
    SITE_OPTION,
    summary="show how an export is going",
    example="/backup export-status exp-789 site=acme",
    handler="export_status",
    not_found=NotFound("export_id", "export", "`/backup exports` shows the exports"),
)
@dataclass(frozen=True, slots=True)
class ExportStatus(SlashCommand):
    export_id: str
    cloud_id: str | None = None


@BACKUP.command(
    "import",
    Several("backup_ids", ID, "backup id"),
    summary="bring exported backups back from customer storage so they can be restored",
    example="/backup import bkp-456",
    handler="import_",
    role=Role.ADMIN,
    answer=Answer.CARD,
)
@dataclass(frozen=True, slots=True)
class Import(SlashCommand):
    backup_ids: tuple[str, ...]


@BACKUP.command(
    "import-status",
    Positional("import_id", ID, "import id"),
    SITE_OPTION,
    summary="show how an import is going",
    example="/backup import-status imp-321",
    handler="import_status",
    not_found=NotFound("import_id", "import", "check the id and the site"),
)
@dataclass(frozen=True, slots=True)
class ImportStatus(SlashCommand):
    import_id: str
    cloud_id: str | None = None
