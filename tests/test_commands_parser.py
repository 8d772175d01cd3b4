"""The /backup and /restore parser: every command, every kind of mistake, help, and fuzzing."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import time
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.assurance.schedules import Weekday
from bot.atlassian.models import Product
from bot.config import SiteDirectory
from bot.errors import UsageError
from bot.slack import commands
from bot.slack.commands import (
    ALL_COMMANDS,
    ATLASSIAN_STORAGE,
    BACKUP_OVERVIEW,
    REGISTRY,
    RESTORE_OVERVIEW,
    AtlassianStorage,
    BackupList,
    BackupRun,
    BackupShow,
    Export,
    Exports,
    ExportStatus,
    Help,
    Import,
    ImportStatus,
    ParsedCommand,
    PolicyActivate,
    PolicyCreate,
    PolicyList,
    PolicyShow,
    PolicyUpdate,
    Regions,
    RestoreList,
    RestoreModal,
    RestoreReport,
    RestoreShow,
    RestoreStart,
    ScheduleChoice,
    Schedules,
    ScheduleSet,
    Sites,
    SlashCommand,
    Status,
    StorageCreate,
    StorageList,
    StorageShow,
    WhoAmI,
    escape_mrkdwn,
    help_text,
    parse_command,
)
from bot.slack.commands import spec as cmd_spec
from bot.slack.commands.grammar import Option, Positional, Several
from bot.slack.commands.help import closest_command
from bot.slack.commands.values import (
    BOOLEAN,
    DESTINATION,
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
    ValueType,
)

ACME = "11111111-1111-4111-8111-111111111111"
SANDBOX = "22222222-2222-4222-8222-222222222222"
UNALIASED = "33333333-3333-4333-8333-333333333333"
SITES = SiteDirectory({"acme": ACME, "acme-sandbox": SANDBOX})

GROUP_USAGES = {
    "/backup storage create|list|show",
    "/backup policy create|list|show|update|activate",
}
EVERY_USAGE = {c.usage for c in ALL_COMMANDS} | GROUP_USAGES | {BACKUP_OVERVIEW, RESTORE_OVERVIEW}


def parse(text: str, command: str = "/backup", sites: SiteDirectory = SITES) -> Any:
    return parse_command(command, text, sites)


def mistake(text: str, command: str = "/backup", sites: SiteDirectory = SITES) -> UsageError:
    result = parse(text, command, sites)
    assert isinstance(result, UsageError), f"{text!r} parsed as {result!r}"
    return result


# --- happy paths -------------------------------------------------------------------------

HAPPY = [
    ("/backup", "", Help(None)),
    ("/backup", "   \t ", Help(None)),
    ("/backup", "help", Help(None)),
    ("/backup", "HELP", Help(None)),
    ("/backup", "help policy", Help("/backup policy")),
    ("/backup", "help Policy Create", Help("/backup policy create")),
    ("/backup", "help export-status", Help("/backup export-status")),
    ("/backup", "help restore", Help("/restore")),
    ("/backup", "help /restore start", Help("/restore start")),
    ("/restore", "help", Help("/restore")),
    ("/restore", "help report", Help("/restore report")),
    ("/backup", "whoami", WhoAmI()),
    ("/backup", "WhoAmI", WhoAmI()),
    ("/backup", "sites", Sites()),
    ("/backup", "regions", Regions()),
    (
        "/backup",
        "storage create name=acme-s3 region=us-east-1 prefix=atlassian/acme "
        "role=arn:aws:iam::123456789012:role/backup tag=team=backup site=acme",
        StorageCreate(
            "acme-s3",
            "us-east-1",
            "atlassian/acme",
            "arn:aws:iam::123456789012:role/backup",
            "team=backup",
            ACME,
        ),
    ),
    (
        "/backup",
        "Storage CREATE SITE=Acme-Sandbox TAG=t ROLE=r PREFIX=p REGION=eu-west-1 NAME=Vault",
        StorageCreate("Vault", "eu-west-1", "p", "r", "t", SANDBOX),
    ),
    ("/backup", "storage list", StorageList(None, None)),
    ("/backup", "storage list site=acme", StorageList(ACME, None)),
    ("/backup", "storage list product=Confluence site=acme", StorageList(ACME, Product.CONFLUENCE)),
    ("/backup", f"storage list site={UNALIASED.upper()}", StorageList(UNALIASED, None)),
    ("/backup", "storage show stg-1", StorageShow("stg-1")),
    (
        "/backup",
        "policy create jira site=acme",
        PolicyCreate(Product.JIRA, ACME, include_attachments=True),
    ),
    (
        "/backup",
        "policy create CONFLUENCE storage=stg-1 personal_spaces=yes attachments=off site=acme",
        PolicyCreate(Product.CONFLUENCE, ACME, False, True, "stg-1"),
    ),
    (
        "/backup",
        "policy create jira site=acme storage=Atlassian attachments=1",
        PolicyCreate(Product.JIRA, ACME, True, None, None),
    ),
    ("/backup", "policy list", PolicyList()),
    ("/backup", "policy show pol-1", PolicyShow("pol-1")),
    ("/backup", "policy activate pol-1", PolicyActivate("pol-1")),
    (
        "/backup",
        "policy update pol-1 attachments=no",
        PolicyUpdate("pol-1", include_attachments=False),
    ),
    (
        "/backup",
        "policy update pol-1 storage=atlassian personal-spaces=TRUE",
        PolicyUpdate("pol-1", None, True, ATLASSIAN_STORAGE),
    ),
    (
        "/backup",
        "policy update pol-1 storage=stg-2 attachments=on personal-spaces=0",
        PolicyUpdate("pol-1", True, False, "stg-2"),
    ),
    ("/backup", "run pol-1", BackupRun("pol-1")),
    ("/backup", "schedule pol-1 weekly", ScheduleSet("pol-1", ScheduleChoice.WEEKLY)),
    (
        "/backup",
        "schedule pol-1 Weekly day=Tuesday at=3:30 tz=Europe/Berlin",
        ScheduleSet("pol-1", ScheduleChoice.WEEKLY, Weekday.TUE, time(3, 30), "Europe/Berlin"),
    ),
    (
        "/backup",
        "schedule pol-1 daily at=23:59 tz=utc",
        ScheduleSet("pol-1", ScheduleChoice.DAILY, None, time(23, 59), "UTC"),
    ),
    ("/backup", "schedule pol-1 off", ScheduleSet("pol-1", ScheduleChoice.OFF)),
    ("/backup", "schedules", Schedules()),
    ("/backup", "status", Status()),
    ("/backup", "list pol-1", BackupList("pol-1")),
    ("/backup", "show bkp.2024:01_a-b", BackupShow("bkp.2024:01_a-b")),
    ("/backup", "export bkp-1", Export(("bkp-1",))),
    ("/backup", "export bkp-1  bkp-2\tbkp-3", Export(("bkp-1", "bkp-2", "bkp-3"))),
    ("/backup", "exports", Exports(None)),
    ("/backup", "exports product=JIRA", Exports(Product.JIRA)),
    ("/backup", "export-status exp-1", ExportStatus("exp-1", None)),
    ("/backup", "export_status exp-1 site=acme-sandbox", ExportStatus("exp-1", SANDBOX)),
    ("/backup", "import bkp-1 bkp-2", Import(("bkp-1", "bkp-2"))),
    ("/backup", "import-status imp-1 site=acme", ImportStatus("imp-1", ACME)),
    ("/restore", "", RestoreModal()),
    ("/restore", " \n ", RestoreModal()),
    (
        "/restore",
        "start bkp-1 to=acme-sandbox",
        RestoreStart("bkp-1", SANDBOX, "acme-sandbox", None, True),
    ),
    (
        "/restore",
        "START bkp-1 users=no attachments=yes to=ACME-SANDBOX",
        RestoreStart("bkp-1", SANDBOX, "acme-sandbox", True, False),
    ),
    (
        "/restore",
        f"start bkp-1 to={SANDBOX}",
        RestoreStart("bkp-1", SANDBOX, "acme-sandbox", None, True),
    ),
    (
        "/restore",
        f"start bkp-1 to={UNALIASED} attachments=false",
        RestoreStart("bkp-1", UNALIASED, UNALIASED, False, True),
    ),
    ("/restore", "list", RestoreList(None, None)),
    ("/restore", "list product=jira site=acme", RestoreList(ACME, Product.JIRA)),
    ("/restore", "show rst-1", RestoreShow("rst-1")),
    ("/restore", "report mig-1", RestoreReport("mig-1", None)),
    ("/restore", "report rst-1 site=acme-sandbox", RestoreReport("rst-1", SANDBOX)),
    ("restore", "show rst-1", RestoreShow("rst-1")),
    (" /BACKUP ", "run pol-1", BackupRun("pol-1")),
]


@pytest.mark.parametrize(("command", "text", "expected"), HAPPY)
def test_valid_text_parses_into_the_expected_command(
    command: str, text: str, expected: ParsedCommand
) -> None:
    """Each command, with its options in any order and in any case, yields its typed object."""
    assert parse(text, command) == expected


def test_every_command_class_has_a_happy_path_here() -> None:
    """The happy-path table covers every command class, so none goes untested."""
    assert {type(expected) for _, _, expected in HAPPY} == set(ALL_COMMANDS)


@pytest.mark.parametrize("command_class", ALL_COMMANDS, ids=lambda c: c.__name__)
def test_each_example_parses_into_its_own_command(command_class: type[SlashCommand]) -> None:
    """The example the help shows for a command is itself a valid use of that command."""
    slash, _, text = command_class.example.partition(" ")
    assert isinstance(parse(text, slash), command_class)


# --- mistakes ----------------------------------------------------------------------------

MISTAKES = [
    # (command, text, usage expected, exact problem)
    ("/backup", "frobnicate now", BACKUP_OVERVIEW, "Unknown command `frobnicate`."),
    ("/restore", "begin bkp-1", RESTORE_OVERVIEW, "Unknown command `begin`."),
    ("/backup", "restore bkp-1", BACKUP_OVERVIEW, "Unknown command `restore`."),
    (
        "/backup",
        "storage",
        "/backup storage create|list|show",
        "`storage` needs one of `create`, `list`, `show`.",
    ),
    (
        "/backup",
        "storage delete stg-1",
        "/backup storage create|list|show",
        "Unknown command `storage delete`.",
    ),
    (
        "/backup",
        "policy",
        "/backup policy create|list|show|update|activate",
        "`policy` needs one of `create`, `list`, `show`, `update`, `activate`.",
    ),
    ("/backup", "run", BackupRun.usage, "Missing the policy id."),
    (
        "/backup",
        "schedule pol-1",
        ScheduleSet.usage,
        "Missing the schedule (weekly, daily or off).",
    ),
    (
        "/backup",
        "schedule pol-1 hourly",
        ScheduleSet.usage,
        "The schedule must be weekly, daily or off, not `hourly`.",
    ),
    (
        "/backup",
        "schedule pol-1 weekly day=someday",
        ScheduleSet.usage,
        "Option `day` must be a day such as mon, tue … sun, not `someday`.",
    ),
    (
        "/backup",
        "schedule pol-1 weekly at=25:00",
        ScheduleSet.usage,
        "Option `at` must be a time of day as HH:MM (24 h), not `25:00`.",
    ),
    (
        "/backup",
        "schedule pol-1 weekly tz=Moon/Base",
        ScheduleSet.usage,
        "Option `tz` must be a time zone such as Europe/Berlin or UTC, not `Moon/Base`.",
    ),
    (
        "/backup",
        "schedule pol-1 daily day=mon",
        ScheduleSet.usage,
        "Option `day` is only for a weekly schedule.",
    ),
    (
        "/backup",
        "schedule pol-1 off at=02:00",
        ScheduleSet.usage,
        "`off` takes no options: it stops the schedule.",
    ),
    ("/backup", "show", BackupShow.usage, "Missing the backup id."),
    ("/backup", "storage show", StorageShow.usage, "Missing the storage id."),
    ("/backup", "export-status", ExportStatus.usage, "Missing the export id."),
    ("/backup", "export", Export.usage, "Missing the backup id: give one or more."),
    ("/restore", "start to=acme", RestoreStart.usage, "Missing the backup id."),
    (
        "/restore",
        "report",
        RestoreReport.usage,
        "Missing the restore or migration id.",
    ),
    (
        "/backup",
        "policy create site=acme",
        PolicyCreate.usage,
        "Missing the product (jira or confluence).",
    ),
    ("/backup", "run pol-1 pol-2", BackupRun.usage, "Unexpected argument `pol-2`."),
    ("/backup", "whoami please", WhoAmI.usage, "Unexpected argument `please`."),
    ("/backup", "policy list all", PolicyList.usage, "Unexpected argument `all`."),
    ("/restore", "list acme", RestoreList.usage, "Unexpected argument `acme`."),
    (
        "/backup",
        "policy create jira confluence site=acme",
        PolicyCreate.usage,
        "Unexpected argument `confluence`.",
    ),
    (
        "/backup",
        "export-status exp-1 site=acme exp-2",
        ExportStatus.usage,
        "`exp-2` comes after an option: put ids first, then `key=value` options.",
    ),
    (
        "/backup",
        "storage list region=us-east-1",
        StorageList.usage,
        "Unknown option `region`: valid options are `product`, `site`.",
    ),
    (
        "/restore",
        "start bkp-1 to=acme site=acme",
        RestoreStart.usage,
        "Unknown option `site`: valid options are `attachments`, `to`, `users`.",
    ),
    (
        "/backup",
        "run pol-1 force=yes",
        BackupRun.usage,
        "Unknown option `force`: this command takes no options.",
    ),
    (
        "/backup",
        "storage list site=acme SITE=acme-sandbox",
        StorageList.usage,
        "Option `site` is given twice.",
    ),
    (
        "/backup",
        "policy update pol-1 personal-spaces=yes Personal_Spaces=no",
        PolicyUpdate.usage,
        "Option `personal-spaces` is given twice.",
    ),
    (
        "/backup",
        "storage create name=a region=b",
        StorageCreate.usage,
        "Missing options `prefix=`, `role=`, `tag=`, `site=`.",
    ),
    ("/backup", "policy create jira", PolicyCreate.usage, "Missing option `site=`."),
    ("/restore", "start bkp-1 users=no", RestoreStart.usage, "Missing option `to=`."),
    (
        "/backup",
        "policy update pol-1 attachments=",
        PolicyUpdate.usage,
        "Option `attachments` has no value: give one after `=`.",
    ),
    (
        "/backup",
        "policy update pol-1 attachments =no",
        PolicyUpdate.usage,
        "`attachments =no` has spaces around `=`: write `key=value` with none.",
    ),
    (
        "/backup",
        "policy update pol-1 attachments= no",
        PolicyUpdate.usage,
        "`attachments= no` has spaces around `=`: write `key=value` with none.",
    ),
    (
        "/backup",
        "policy create jira site=acme attachments = no",
        PolicyCreate.usage,
        "`attachments = no` has spaces around `=`: write `key=value` with none.",
    ),
    (
        "/backup",
        "storage list =acme",
        StorageList.usage,
        "`=acme` has spaces around `=`: write `key=value` with none.",
    ),
    (
        "/restore",
        "start bkp-1 to=acme users=maybe",
        RestoreStart.usage,
        "Option `users` must be yes or no (or true/false, on/off, 1/0), not `maybe`.",
    ),
    (
        "/backup",
        "policy create jira site=acme attachments=y",
        PolicyCreate.usage,
        "Option `attachments` must be yes or no (or true/false, on/off, 1/0), not `y`.",
    ),
    (
        "/backup",
        "policy create jirra site=acme",
        PolicyCreate.usage,
        "The product must be jira or confluence, not `jirra`.",
    ),
    (
        "/backup",
        "exports product=bamboo",
        Exports.usage,
        "Option `product` must be jira or confluence, not `bamboo`.",
    ),
    (
        "/backup",
        "policy create jira site=acme personal-spaces=no",
        PolicyCreate.usage,
        "Option `personal-spaces` applies only to Confluence policies.",
    ),
    (
        "/backup",
        "policy update pol-1",
        PolicyUpdate.usage,
        "Say what to change: give at least one of `attachments`, `personal-spaces`, `storage`.",
    ),
    (
        "/backup",
        "storage list site=nowhere",
        StorageList.usage,
        "Unknown site `nowhere`. Known sites: acme, acme-sandbox."
        " Use an alias from ATLASSIAN_SITES or a cloud id.",
    ),
    (
        "/restore",
        "start bkp-1 to=11111111-1111",
        RestoreStart.usage,
        "Unknown site `11111111-1111`. Known sites: acme, acme-sandbox."
        " Use an alias from ATLASSIAN_SITES or a cloud id.",
    ),
    (
        "/backup",
        "show bäckup",
        BackupShow.usage,
        "`bäckup` is not a valid backup id: ids are letters, digits and - _ . : (at most 128),"
        " and not dots alone.",
    ),
    (
        "/backup",
        "policy update pol-1 storage=s3/bucket",
        PolicyUpdate.usage,
        "`s3/bucket` is not a valid storage id: ids are letters, digits and - _ . : (at most 128),"
        " and not dots alone.",
    ),
    (
        "/backup",
        "storage create name=a region=b prefix=c role=d tag=e*f site=acme",
        StorageCreate.usage,
        "Option `tag` cannot be `e*f`: use letters, digits and - _ . : / @ + = , (at most 256).",
    ),
    (
        "/backup",
        "export bkp-1 bkp-2 bkp-1",
        Export.usage,
        "The backup id `bkp-1` is given twice.",
    ),
    (
        "/backup",
        "help teleport",
        BACKUP_OVERVIEW,
        "There is no command `teleport` to explain.",
    ),
    (
        "/restore",
        "help policy",
        RESTORE_OVERVIEW,
        "There is no command `policy` to explain.",
    ),
    ("/deploy", "now", Help.usage, "Unknown command `/deploy`."),
]


@pytest.mark.parametrize(("command", "text", "usage", "problem"), MISTAKES)
def test_mistakes_name_the_problem_and_show_that_commands_usage(
    command: str, text: str, usage: str, problem: str
) -> None:
    """Each kind of mistake gives one sentence saying what was wrong, and the right usage."""
    error = mistake(text, command)
    assert error.problem == problem
    assert error.usage == usage
    assert error.user_message == f"{problem} Usage: `{usage}`"


SUGGESTIONS = [
    # (command, text, exact problem, the command suggested, usage expected)
    ("/backup", "polcy list", "Unknown command `polcy`.", "/backup policy list", PolicyList.usage),
    (
        "/backup",
        "Policy LST",
        "Unknown command `policy LST`.",
        "/backup policy list",
        PolicyList.usage,
    ),
    (
        "/backup",
        "polcy",
        "Unknown command `polcy`.",
        "/backup policy",
        "/backup policy create|list|show|update|activate",
    ),
    ("/backup", "exprot bkp-1", "Unknown command `exprot`.", "/backup export", Export.usage),
    ("/backup", "imports bkp-1", "Unknown command `imports`.", "/backup import", Import.usage),
    ("/backup", "shw bkp-1", "Unknown command `shw`.", "/backup show", BackupShow.usage),
    (
        "/restore",
        "strat bkp-1 to=acme",
        "Unknown command `strat`.",
        "/restore start",
        RestoreStart.usage,
    ),
]


@pytest.mark.parametrize(("command", "text", "problem", "meant", "usage"), SUGGESTIONS)
def test_a_mistyped_subcommand_suggests_the_closest_command_and_shows_its_usage(
    command: str, text: str, problem: str, meant: str, usage: str
) -> None:
    """A misspelt word is answered with the command probably meant and that command's usage."""
    error = mistake(text, command)
    assert error.problem == problem
    assert error.suggestion == meant
    assert error.usage == usage
    assert error.user_message == f"{problem} Did you mean `{meant}`? Usage: `{usage}`"


@pytest.mark.parametrize(("command", "text", "usage", "problem"), MISTAKES)
def test_nothing_is_suggested_when_no_command_is_close(
    command: str, text: str, usage: str, problem: str
) -> None:
    """`frobnicate`, `restore` (not quite `storage`) or `storage delete` suggest nothing."""
    assert mistake(text, command).suggestion is None


def test_an_option_where_a_subcommand_belongs_suggests_nothing() -> None:
    """`region=b` is an option typed too early, not a misspelt `regions`."""
    error = mistake("region=b")
    assert error.problem == "Unknown command `region=b`."
    assert error.suggestion is None
    assert error.usage == BACKUP_OVERVIEW


def test_closest_command_corrects_word_by_word_and_stops_where_nothing_is_close() -> None:
    """The suggestion follows the typed words as far as each is close to a command word."""
    candidates = [("policy", "list"), ("policy", "show"), ("list",), ("run",)]
    assert closest_command(["polcy", "shwo", "pol-1"], candidates) == ("policy", "show")
    assert closest_command(["policy", "frobnicate"], candidates) == ("policy",)
    assert closest_command(["lst", "pol-1"], candidates) == ("list",)
    assert closest_command(["teleport"], candidates) == ()
    assert closest_command([], candidates) == ()


def test_unknown_site_lists_none_when_no_aliases_are_configured() -> None:
    """With no ATLASSIAN_SITES the unknown-site message says so instead of listing nothing."""
    error = mistake("start bkp-1 to=acme", "/restore", SiteDirectory({}))
    assert error.problem == (
        "Unknown site `acme`. Known sites: none. Use an alias from ATLASSIAN_SITES or a cloud id."
    )


def test_a_raw_cloud_id_works_without_any_aliases() -> None:
    """A cloud id is accepted as a site even when ATLASSIAN_SITES is empty."""
    assert parse(f"storage list site={ACME}", sites=SiteDirectory({})) == StorageList(ACME)


def test_an_id_longer_than_128_characters_is_refused() -> None:
    """Ids are capped at 128 characters, and the echo of a long one is clipped."""
    assert parse("show " + "a" * 128) == BackupShow("a" * 128)
    error = mistake("show " + "a" * 129)
    assert "is not a valid backup id" in error.problem
    assert "…" in error.problem
    assert len(error.problem) < 200


# --- Slack escapes and injection ---------------------------------------------------------


def test_escape_mrkdwn_escapes_ampersand_first_and_angle_brackets() -> None:
    """Slack's three control characters become entities, and `&` is not escaped twice."""
    assert escape_mrkdwn("a & <b> &lt;") == "a &amp; &lt;b&gt; &amp;lt;"


def test_slack_escaped_channel_ping_is_an_invalid_id_shown_harmlessly() -> None:
    """Text Slack escaped (`&lt;!channel&gt;`) is refused as an id and echoed without a ping."""
    error = mistake("run &lt;!channel&gt;")
    assert error.problem.startswith("`&lt;!channel&gt;` is not a valid policy id")
    assert "<" not in error.user_message
    assert ">" not in error.user_message


def test_slack_mention_escape_is_an_invalid_id_not_a_crash() -> None:
    """A `<@U123|bob>` mention where an id belongs is refused and echoed escaped."""
    error = mistake("start <@U123|bob> to=acme", "/restore")
    assert error.problem.startswith("`&lt;@U123|bob&gt;` is not a valid backup id")


def test_slack_escaped_ampersand_is_shown_as_the_user_typed_it() -> None:
    """`&amp;` from Slack is read as `&`, then escaped once for display, not twice."""
    error = mistake("show a&amp;b")
    assert error.problem.startswith("`a&amp;b` is not a valid backup id")


def test_link_escape_in_an_option_value_is_refused() -> None:
    """A value Slack turned into a link (`<mailto:...>`) is not accepted as a storage setting."""
    error = mistake(
        "storage create name=a region=b prefix=c role=d site=acme tag=&lt;mailto:x@y.z|x@y.z&gt;"
    )
    assert error.problem.startswith("Option `tag` cannot be `&lt;mailto:x@y.z|x@y.z&gt;`")


def test_echoed_text_cannot_break_out_of_its_code_span_or_line() -> None:
    """Backticks and control characters in echoed text are neutralised so the span stays whole."""
    error = mistake("x`<!here>`\x07y")
    assert error.problem == "Unknown command `x'&lt;!here&gt;'\N{REPLACEMENT CHARACTER}y`."


def test_usage_lines_and_examples_are_safe_mrkdwn() -> None:
    """No usage line or example contains & < >, so a UsageError's whole message is safe mrkdwn."""
    for text in EVERY_USAGE | {c.example for c in ALL_COMMANDS}:
        assert not re.search(r"[&<>]", text), text
        assert "\n" not in text
        assert "`" not in text


# --- command attributes ------------------------------------------------------------------


def test_changes_things_marks_exactly_the_commands_that_start_or_change_work() -> None:
    """Creating, changing or starting something is flagged; looking is not."""
    changing = {c for c in ALL_COMMANDS if c.changes_things}
    assert changing == {
        StorageCreate,
        PolicyCreate,
        PolicyUpdate,
        PolicyActivate,
        BackupRun,
        ScheduleSet,
        Export,
        Import,
        RestoreStart,
        RestoreModal,
    }


def test_parsed_commands_are_frozen_and_slotted() -> None:
    """A parsed command cannot be altered after parsing and carries no per-instance dict."""
    command = parse("run pol-1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.policy_id = "pol-2"
    assert not hasattr(command, "__dict__")


def test_public_surface_is_pinned() -> None:
    """The module exports exactly the names other parts are written against."""
    assert set(commands.__all__) == {
        "ALL_COMMANDS",
        "ATLASSIAN_STORAGE",
        "BACKUP_OVERVIEW",
        "REGISTRY",
        "RESTORE_OVERVIEW",
        "Answer",
        "AtlassianStorage",
        "CommandSpec",
        "NotFound",
        "ParsedCommand",
        "ScheduleChoice",
        "SlashCommand",
        "escape_mrkdwn",
        "help_text",
        "parse_command",
        *(c.__name__ for c in ALL_COMMANDS),
    }


# --- help --------------------------------------------------------------------------------


def test_help_lists_every_command_with_usage_and_example() -> None:
    """The full help shows each command's usage line and its example."""
    text = help_text()
    for command_class in ALL_COMMANDS:
        assert f"`{command_class.usage}`" in text, command_class.__name__
        assert f"`{command_class.example}`" in text, command_class.__name__


def test_help_for_a_group_shows_only_that_group() -> None:
    """Naming a subcommand group narrows the help to that group's commands."""
    text = help_text("policy")
    for command_class in (PolicyCreate, PolicyList, PolicyShow, PolicyUpdate, PolicyActivate):
        assert command_class.usage in text
    assert BackupRun.usage not in text
    assert RestoreStart.usage not in text


def test_help_for_one_word_does_not_match_a_longer_word() -> None:
    """`export` is not `export-status` or `exports`: matching is by whole words."""
    text = help_text("/backup export")
    assert Export.usage in text
    assert ExportStatus.usage not in text
    assert Exports.usage not in text


def test_help_for_restore_shows_only_restore_commands() -> None:
    """`/restore` narrows the help to the /restore commands, including the modal."""
    text = help_text("/restore")
    for command_class in (RestoreModal, RestoreStart, RestoreList, RestoreShow, RestoreReport):
        assert f"`{command_class.usage}`" in text
    assert "/backup run" not in text


def test_help_topic_from_the_parser_narrows_help_text() -> None:
    """The topic a Help command carries is understood by help_text."""
    topic = parse("help restore start").topic
    text = help_text(topic)
    assert RestoreStart.usage in text
    assert RestoreList.usage not in text


def test_help_for_an_unknown_topic_is_the_whole_help() -> None:
    """help_text falls back to everything when nothing matches what it was given."""
    assert help_text("teleport") == help_text()
    assert help_text("   ") == help_text()


# --- property tests ----------------------------------------------------------------------

# Every declared command's words, so a new command is fuzzed as soon as it is declared; and a
# product after `policy create`, to reach past its first argument.
WORDS = [
    *dict.fromkeys(" ".join(spec.words[1:]) for spec in REGISTRY),
    "policy create jira",
    "policy create confluence",
]
OPTION_KEYS = sorted(
    {
        argument.key
        for spec in REGISTRY
        for argument in spec.arguments
        if isinstance(argument, Option)
    }
)
NASTY = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("<>&=`|@!#:/_.-  \t\n\r\x00\u00a0\u200b")),
        st.characters(),
    ),
    max_size=60,
)


def assert_well_formed(result: object) -> None:
    assert isinstance(result, (UsageError, *ALL_COMMANDS))
    if isinstance(result, UsageError):
        assert result.usage in EVERY_USAGE
        assert result.problem.endswith(".")
        assert "<" not in result.problem
        assert ">" not in result.problem
        assert "\n" not in result.problem
        assert "\r" not in result.problem


@given(st.sampled_from(["/backup", "/restore", "backup", "RESTORE", "/nope", ""]), st.text())
def test_arbitrary_text_never_raises(command: str, text: str) -> None:
    """Any text at all yields a command or a well-formed UsageError, never an exception."""
    assert_well_formed(parse_command(command, text, SITES))


@given(
    st.sampled_from(["/backup", "/restore"]),
    st.sampled_from(WORDS),
    st.lists(st.one_of(NASTY, NASTY.map(lambda v: "site=" + v), NASTY.map(lambda v: v + "="),
                       st.tuples(st.sampled_from(OPTION_KEYS), NASTY).map("=".join)),
             max_size=5),
)  # fmt: skip
def test_arbitrary_arguments_after_a_real_subcommand_never_raise(
    command: str, word: str, arguments: list[str]
) -> None:
    """Hostile arguments behind every real subcommand are refused cleanly, never raised."""
    assert_well_formed(parse_command(command, " ".join([word, *arguments]), SITES))


# Round trip: build valid text from the grammar, with the object it must parse into.

# Ids of dots alone are refused by their format (they would be dot segments in an API path).
IDS = st.from_regex(r"[A-Za-z0-9_.:-]{1,24}", fullmatch=True).filter(lambda s: s.strip("."))
SETTINGS = st.from_regex(r"[A-Za-z0-9_.:/@+=,-]{1,40}", fullmatch=True)
SPACE = st.text(alphabet=" \t\n\u00a0", min_size=1, max_size=3)
BOOLEANS = st.sampled_from(
    [("yes", True), ("no", False), ("true", True), ("false", False), ("on", True),
     ("off", False), ("1", True), ("0", False)]
)  # fmt: skip
SITE_VALUES = st.sampled_from(
    [("acme", ACME, "acme"), ("acme-sandbox", SANDBOX, "acme-sandbox"), (ACME, ACME, "acme"),
     (UNALIASED, UNALIASED, UNALIASED)]
)  # fmt: skip
PRODUCTS = st.sampled_from([("jira", Product.JIRA), ("confluence", Product.CONFLUENCE)])


@st.composite
def any_case(draw: st.DrawFn, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(ch.upper() if flip else ch for ch, flip in zip(word, flips, strict=True))


@st.composite
def option_key(draw: st.DrawFn, key: str) -> str:
    spelling = draw(st.sampled_from([key, key.replace("-", "_")]))
    return draw(any_case(spelling))


@st.composite
def joined(
    draw: st.DrawFn, keywords: list[str], positionals: list[str], options: dict[str, str]
) -> str:
    """Keywords in any case, positionals as they are, then options in any order and spacing."""
    tokens = [draw(any_case(word)) for word in keywords] + positionals
    option_tokens = [f"{draw(option_key(key))}={value}" for key, value in options.items()]
    tokens += draw(st.permutations(option_tokens))
    text = draw(st.sampled_from(["", " ", "\t"]))
    for token in tokens:
        text += token + draw(SPACE)
    return text


Case = tuple[str, str, ParsedCommand]


def some(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def storage_create(draw: st.DrawFn) -> Case:
    values = {key: draw(SETTINGS) for key in ("name", "region", "prefix", "role", "tag")}
    typed, cloud_id, _ = draw(SITE_VALUES)
    text = draw(joined(["storage", "create"], [], {**values, "site": typed}))
    return "/backup", text, StorageCreate(**values, cloud_id=cloud_id)


@st.composite
def site_and_product(draw: st.DrawFn) -> Case:
    slash, words, command_class = draw(
        st.sampled_from(
            [("/backup", ["storage", "list"], StorageList), ("/restore", ["list"], RestoreList)]
        )
    )
    site, product = draw(some(SITE_VALUES)), draw(some(PRODUCTS))
    options = {}
    if site:
        options["site"] = draw(any_case(site[0]))
    if product:
        options["product"] = draw(any_case(product[0]))
    expected = command_class(site[1] if site else None, product[1] if product else None)
    return slash, draw(joined(words, [], options)), expected


ONE_ID: list[tuple[str, list[str], Callable[[str], ParsedCommand]]] = [
    ("/backup", ["storage", "show"], StorageShow),
    ("/backup", ["policy", "show"], PolicyShow),
    ("/backup", ["policy", "activate"], PolicyActivate),
    ("/backup", ["run"], BackupRun),
    ("/backup", ["list"], BackupList),
    ("/backup", ["show"], BackupShow),
    ("/restore", ["show"], RestoreShow),
]


@st.composite
def one_id(draw: st.DrawFn) -> Case:
    slash, words, build = draw(st.sampled_from(ONE_ID))
    identifier = draw(IDS)
    return slash, draw(joined(words, [identifier], {})), build(identifier)


@st.composite
def id_and_site(draw: st.DrawFn) -> Case:
    slash, words, command_class = draw(
        st.sampled_from(
            [
                ("/backup", ["export-status"], ExportStatus),
                ("/backup", ["import-status"], ImportStatus),
                ("/restore", ["report"], RestoreReport),
            ]
        )
    )
    identifier, site = draw(IDS), draw(some(SITE_VALUES))
    options = {"site": site[0]} if site else {}
    expected = command_class(identifier, site[1] if site else None)
    return slash, draw(joined(words, [identifier], options)), expected


@st.composite
def several_ids(draw: st.DrawFn) -> Case:
    word, command_class = draw(st.sampled_from([("export", Export), ("import", Import)]))
    identifiers = draw(st.lists(IDS, min_size=1, max_size=5, unique=True))
    expected = command_class(tuple(identifiers))
    return "/backup", draw(joined([word], identifiers, {})), expected


@st.composite
def exports(draw: st.DrawFn) -> Case:
    product = draw(some(PRODUCTS))
    options = {"product": draw(any_case(product[0]))} if product else {}
    return "/backup", draw(joined(["exports"], [], options)), Exports(product and product[1])


STORAGE_CHOICES = st.one_of(
    st.sampled_from(["atlassian", "ATLASSIAN"]), IDS.filter(lambda v: v.lower() != "atlassian")
)


@st.composite
def policy_create(draw: st.DrawFn) -> Case:
    word, product = draw(PRODUCTS)
    typed, cloud_id, _ = draw(SITE_VALUES)
    options = {"site": typed}
    attachments = draw(some(BOOLEANS))
    if attachments:
        options["attachments"] = draw(any_case(attachments[0]))
    personal = draw(some(BOOLEANS)) if product is Product.CONFLUENCE else None
    if personal:
        options["personal-spaces"] = personal[0]
    storage = draw(some(STORAGE_CHOICES))
    if storage:
        options["storage"] = storage
    expected = PolicyCreate(
        product=product,
        cloud_id=cloud_id,
        include_attachments=attachments[1] if attachments else True,
        include_personal_spaces=personal[1] if personal else None,
        storage_id=None if storage is None or storage.lower() == "atlassian" else storage,
    )
    return "/backup", draw(joined(["policy", "create", word], [], options)), expected


def expected_storage(typed: str | None) -> str | AtlassianStorage | None:
    if typed is not None and typed.lower() == "atlassian":
        return ATLASSIAN_STORAGE
    return typed


@st.composite
def policy_update(draw: st.DrawFn) -> Case:
    policy_id = draw(IDS)
    attachments, personal, storage = draw(
        st.tuples(some(BOOLEANS), some(BOOLEANS), some(STORAGE_CHOICES)).filter(
            lambda chosen: any(part is not None for part in chosen)
        )
    )
    options = {}
    if attachments:
        options["attachments"] = attachments[0]
    if personal:
        options["personal-spaces"] = personal[0]
    if storage:
        options["storage"] = storage
    expected = PolicyUpdate(
        policy_id,
        attachments[1] if attachments else None,
        personal[1] if personal else None,
        expected_storage(storage),
    )
    return "/backup", draw(joined(["policy", "update"], [policy_id], options)), expected


@st.composite
def restore_start(draw: st.DrawFn) -> Case:
    backup_id = draw(IDS)
    typed, cloud_id, label = draw(SITE_VALUES)
    options = {"to": draw(any_case(typed))}
    attachments, users = draw(some(BOOLEANS)), draw(some(BOOLEANS))
    if attachments:
        options["attachments"] = attachments[0]
    if users:
        options["users"] = draw(any_case(users[0]))
    expected = RestoreStart(
        backup_id,
        cloud_id,
        label,
        attachments[1] if attachments else None,
        users[1] if users else True,
    )
    return "/restore", draw(joined(["start"], [backup_id], options)), expected


@st.composite
def no_arguments(draw: st.DrawFn) -> Case:
    words, expected = draw(
        st.sampled_from(
            [
                (["whoami"], WhoAmI()),
                (["sites"], Sites()),
                (["regions"], Regions()),
                (["policy", "list"], PolicyList()),
                (["help"], Help(None)),
                (["help", "storage"], Help("/backup storage")),
            ]
        )
    )
    return "/backup", draw(joined(words, [], {})), expected


VALID_COMMANDS = st.one_of(
    storage_create(),
    site_and_product(),
    one_id(),
    id_and_site(),
    several_ids(),
    exports(),
    policy_create(),
    policy_update(),
    restore_start(),
    no_arguments(),
)


@given(VALID_COMMANDS)
def test_text_built_from_the_grammar_parses_into_the_expected_command(case: Case) -> None:
    """Any valid command, whatever its case, spacing and option order, parses to its meaning."""
    slash, text, expected = case
    assert parse_command(slash, text, SITES) == expected


# Round trip over the registry: valid text for any declared command, from its declaration.
# Each value type has a strategy of (text typed, value meant); a command using these types
# is covered the moment it is declared.

VALUES: dict[ValueType[Any], st.SearchStrategy[tuple[str, Any]]] = {
    ID: IDS.map(lambda v: (v, v)),
    SETTING: SETTINGS.map(lambda v: (v, v)),
    BOOLEAN: BOOLEANS,
    PRODUCT: PRODUCTS,
    SITE: SITE_VALUES.map(lambda typed: (typed[0], typed[1])),
    DESTINATION: SITE_VALUES.map(lambda typed: (typed[0], (typed[1], typed[2]))),
    STORAGE_CHOICE: STORAGE_CHOICES.map(lambda v: (v, expected_storage(v))),
    STORAGE_ID: STORAGE_CHOICES.map(lambda v: (v, None if v.lower() == "atlassian" else v)),
    SCHEDULE_CHOICE: st.sampled_from(list(ScheduleChoice)).map(lambda c: (c.value, c)),
    WEEKDAY: st.sampled_from(list(Weekday)).map(lambda d: (d.word, d)),
    TIME_OF_DAY: st.times().map(lambda t: (f"{t:%H:%M}", time(t.hour, t.minute))),
    TIME_ZONE: st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]).map(
        lambda z: (z, z)
    ),
}
# Help's topic words are resolved against the registry; `no_arguments` covers it.
ROUND_TRIPPED = [spec for spec in REGISTRY if spec.command is not Help]


def test_every_value_type_in_the_registry_has_a_round_trip_strategy() -> None:
    """A declaration using a new value type needs a strategy here, or it would go unfuzzed."""
    used = {
        argument.type
        for spec in ROUND_TRIPPED
        for argument in spec.arguments
        if isinstance(argument, Positional | Several | Option)
    }
    assert used <= set(VALUES)


@st.composite
def typed_value(draw: st.DrawFn, value_type: ValueType[Any]) -> tuple[str, Any]:
    text, value = draw(VALUES[value_type])
    # Products and booleans are read in any case; ids, settings and site values as typed.
    if value_type in (PRODUCT, BOOLEAN):
        text = draw(any_case(text))
    return text, value


def first(pair: tuple[str, Any]) -> str:
    return pair[0]


@st.composite
def declared_command(draw: st.DrawFn) -> tuple[str, str, cmd_spec.CommandSpec, dict[str, Any]]:
    """Valid text for a declared command, and the field values it must parse into."""
    spec = draw(st.sampled_from(ROUND_TRIPPED))
    positionals: list[str] = []
    options: dict[str, str] = {}
    fields: dict[str, Any] = {}
    for argument in spec.arguments:
        if isinstance(argument, Positional):
            text, fields[argument.into] = draw(typed_value(argument.type))
            positionals.append(text)
        elif isinstance(argument, Several):
            pairs = draw(
                st.lists(
                    typed_value(argument.type), min_size=1, max_size=4, unique_by=lambda p: p[0]
                )
            )
            positionals.extend(text for text, _ in pairs)
            fields[argument.into] = tuple(value for _, value in pairs)
        elif isinstance(argument, Option) and (argument.required or draw(st.booleans())):
            options[argument.key], value = draw(typed_value(argument.type))
            meant = value if len(argument.fields) > 1 else (value,)
            fields.update(zip(argument.fields, meant, strict=True))
    assume(options or not spec.needs_an_option)
    text = draw(joined(list(spec.words[1:]), positionals, options))
    return spec.words[0], text, spec, fields


@given(declared_command())
def test_text_built_from_any_declaration_parses_into_that_command(
    case: tuple[str, str, cmd_spec.CommandSpec, dict[str, Any]],
) -> None:
    """Every declared command, with any valid arguments, parses into its dataclass; where
    one of its declared rules refuses the combination, the answer is that rule's sentence."""
    slash, text, spec, fields = case
    expected = spec.command(**fields)
    refusals = [problem for check in spec.checks if (problem := check(expected)) is not None]
    result = parse_command(slash, text, SITES)
    if refusals:
        assert isinstance(result, UsageError)
        assert (result.problem, result.usage) == (refusals[0], spec.usage)
    else:
        assert result == expected


def test_the_help_explains_the_restore_options_and_shows_real_looking_ids() -> None:
    """`users=` and `attachments=` are explained; the storage example uses a `sto-…` id."""
    from bot.slack.commands.help import help_text

    whole = help_text()
    assert "`users=` whether its users and groups are (default yes;" in whole
    assert "`attachments=` says whether the backup's attachments are restored" in whole
    assert "/backup storage show sto-acme-s3" in whole
    assert "stg-" not in whole
