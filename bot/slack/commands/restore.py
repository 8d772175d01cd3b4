"""The `/restore` commands, each declared once, in the order the help lists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.access import Role
from bot.atlassian.models import Product
from bot.slack.commands.grammar import PRODUCT_OPTION, SITE_OPTION, Option, Positional
from bot.slack.commands.spec import Answer, CommandSet, NotFound, SlashCommand
from bot.slack.commands.values import BOOLEAN, DESTINATION, ID

RESTORE: Final = CommandSet("/restore", "*Restores* (`/restore`; `/restore help` shows just these)")


@RESTORE.command(
    "",
    summary="open a form: product, backup, destination and options",
    example="/restore",
    handler=None,  # the Slack app opens the form while the trigger is fresh
    role=Role.ADMIN,
    answer=Answer.FORM,
)
@dataclass(frozen=True, slots=True)
class RestoreModal(SlashCommand):
    pass


@RESTORE.command(
    "start",
    Positional("backup_id", ID, "backup id"),
    Option("to", DESTINATION, into=("dest_cloud_id", "dest_label"), required=True),
    Option("attachments", BOOLEAN, into="include_attachments"),
    Option("users", BOOLEAN, into="include_users_and_groups"),
    summary="restore a backup onto a site, once an approver confirms",
    example="/restore start bkp-456 to=acme-sandbox users=no",
    handler=None,  # the restore workflow in restore_handlers
    role=Role.ADMIN,
    answer=Answer.CARD,
    usage_hint=True,
)
@dataclass(frozen=True, slots=True)
class RestoreStart(SlashCommand):
    """``dest_label`` is the alias for the destination, or its cloud id when it has none.

    ``include_attachments`` None means the user did not say, so the backup decides.
    """

    backup_id: str
    dest_cloud_id: str
    dest_label: str
    include_attachments: bool | None = None
    include_users_and_groups: bool = True


@RESTORE.command(
    "list",
    SITE_OPTION,
    PRODUCT_OPTION,
    summary="list the restores",
    example="/restore list site=acme-sandbox",
    handler="restore_list",
    usage_hint=True,
)
@dataclass(frozen=True, slots=True)
class RestoreList(SlashCommand):
    cloud_id: str | None = None
    product: Product | None = None


@RESTORE.command(
    "show",
    Positional("restore_id", ID, "restore id"),
    summary="show one restore",
    example="/restore show rst-654",
    handler="restore_show",
    not_found=NotFound("restore_id", "restore", "`/restore list` shows the restores"),
    usage_hint=True,
)
@dataclass(frozen=True, slots=True)
class RestoreShow(SlashCommand):
    restore_id: str


@RESTORE.command(
    "report",
    Positional("ref", ID, "restore or migration id"),
    SITE_OPTION,
    summary="link to the report of a finished restore",
    example="/restore report rst-654 site=acme-sandbox",
    handler="restore_report",
    usage_hint=True,
)
@dataclass(frozen=True, slots=True)
class RestoreReport(SlashCommand):
    """``ref`` is a restore id or a migration id; the handler finds out which."""

    ref: str
    cloud_id: str | None = None
