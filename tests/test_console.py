"""The local console: example scripts end to end, failing steps, Redis isolation, rendering."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from rich.console import Console

from bot.atlassian.versions import ApiVersion
from bot.console import run_console
from bot.console.local import LocalOptions
from bot.console.render import ControlNumbers, Names, mrkdwn, mrkdwn_plain, render_surface
from bot.console.terminal import StepFailed, parse_wait
from bot.console.timeshift import parse_shift
from tests.fixtures.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FAST = LocalOptions(op_seconds=1.0, poll_seconds=0.5, in_process_store=True)
NAMES = Names(user={"UALICE": "alice", "UBOB": "bob"}.__getitem__, channel=lambda _: "backups")


async def run_lines(
    lines: list[str], options: LocalOptions = FAST, name: str = "script"
) -> tuple[int, str, str]:
    """Run script lines in this event loop; the exit code, what was printed, and stderr."""
    out = io.StringIO()
    errors = io.StringIO()
    code = await run_console(
        options,
        out=Console(file=out, width=200, color_system=None),
        script=lines,
        script_name=name,
        errors=errors,
    )
    return code, out.getvalue(), errors.getvalue()


def example(name: str) -> list[str]:
    return (EXAMPLES / name).read_text(encoding="utf-8").splitlines()


# -- the example scripts, end to end -----------------------------------------------------


def on(api: ApiVersion) -> LocalOptions:
    return dataclasses.replace(FAST, api=api)


@pytest.mark.parametrize("api", list(ApiVersion))
async def test_backup_example_runs_a_backup_to_complete(api: ApiVersion) -> None:
    """examples/backup.txt passes: the card turns COMPLETE and the thread reports it."""
    code, output, errors = await run_lines(example("backup.txt"), on(api), name="backup.txt")
    assert code == 0, errors + output
    assert "pol-acme-jira" in output
    assert "IN PROGRESS" in output
    assert "· updated" in output
    assert "Status: ✅ COMPLETE" in output
    assert "in the thread “Backup of Jira on acme" in output
    assert "backup.txt: every step passed." in output


@pytest.mark.parametrize("api", list(ApiVersion))
async def test_restore_example_needs_three_consents_by_bob_and_links_the_report(
    api: ApiVersion,
) -> None:
    """examples/restore-with-consent.txt passes: bob consents three times, the report is linked."""
    code, output, errors = await run_lines(example("restore-with-consent.txt"), on(api))
    assert code == 0, errors + output
    final_card = output[output.rindex("Restore of Jira backup onto acme-staging") :]
    assert final_card.count("@bob gave consent.") == 3
    assert "The restore has finished." in final_card
    assert "Post-restore report (https://admin.atlassian.com/" in output
    assert "You are now bob (approver)." in output


@pytest.mark.parametrize("api", list(ApiVersion))
async def test_restore_through_the_modal_example_finishes(api: ApiVersion) -> None:
    """examples/restore-from-modal.txt passes: selects chosen by text, modal submitted, run."""
    code, output, errors = await run_lines(example("restore-from-modal.txt"), on(api))
    assert code == 0, errors + output
    assert "→ acme-sandbox" in output
    assert "The modal was closed." in output
    assert "Post-restore report" in output


async def test_schedules_example_shows_activates_and_runs_policies_on_v2() -> None:
    """examples/schedules.txt passes on v2: names, schedules, activation and a manual run."""
    code, output, errors = await run_lines(example("schedules.txt"), on(ApiVersion.V2))
    assert code == 0, errors + output
    assert "weekly from" in output
    assert "slot 02:00 UTC" in output
    assert "activated a backup policy" in output
    assert "Atlassian starts the next backup" in output


async def test_weekly_assurance_example_shows_a_schedule_alerts_and_expiry() -> None:
    """examples/weekly-assurance.txt passes: /clock moves weeks, the schedule runs its
    backup, and the freshness alerts come and go."""
    code, output, errors = await run_lines(
        example("weekly-assurance.txt"), name="weekly-assurance.txt"
    )
    assert code == 0, errors + output
    assert "Schedule set." in output
    assert "is covered again by bkp-" in output
    assert "🔴 Jira on acme (pol-acme-jira) has no restorable backup" in output
    assert "The clock is now" in output
    assert "weekly-assurance.txt: every step passed." in output


@pytest.mark.parametrize(
    ("typed", "problem"),
    [("7d", "is not a move forward"), ("+7x", "is not a move forward"), ("+0d", "more than 0")],
)
async def test_clock_refuses_anything_but_a_move_forward(typed: str, problem: str) -> None:
    """`/clock` takes +7d, +12h, +30m or a mix; anything else fails the step, saying how."""
    code, output, errors = await run_lines([f"/clock {typed}"])
    assert code != 0
    assert problem in errors + output


def test_clock_shifts_combine_days_hours_and_minutes() -> None:
    """+1d6h30m is a day, six hours and thirty minutes."""
    assert parse_shift("+1d6h30m") == timedelta(days=1, hours=6, minutes=30)
    assert parse_shift(" +7D ") == timedelta(days=7)


async def test_activation_on_v1_is_answered_in_one_sentence() -> None:
    """On the EAP API, `/backup policy activate` says there is no activation and changes nothing."""
    code, output, errors = await run_lines(
        ["/backup policy activate pol-acme-jira", "expect has no policy activation"]
    )
    assert code == 0, errors + output


# -- failures, numbers, people ---------------------------------------------------------------


async def test_an_expect_that_cannot_match_fails_naming_its_line() -> None:
    """A script whose expect finds nothing exits 1 with one line naming that step."""
    lines = ["# a comment", "/backup policy list", "expect pol-nothing-like-this", "/backup sites"]
    code, output, errors = await run_lines(lines, name="broken.txt")
    assert code == 1
    assert errors.strip().splitlines() == [
        "backup-bot console: broken.txt failed at line 3 `expect pol-nothing-like-this`: "
        "'pol-nothing-like-this' was not shown since the last action."
    ]
    assert "» /backup sites" not in output


async def test_expect_only_sees_what_came_after_the_last_action() -> None:
    """Text shown before the latest command does not satisfy a later expect."""
    lines = ["/backup policy list", "/backup sites", "expect pol-acme-jira"]
    code, _, errors = await run_lines(lines)
    assert code == 1
    assert "line 3" in errors


async def test_a_number_clicks_the_button_it_labels() -> None:
    """Typing a button's number clicks it: [2] on a fresh restore card is Cancel."""
    lines = [
        "/restore start bkp-acme-jira-complete to=acme-sandbox",
        "expect [1] Start restore",
        "expect [2] Cancel",
        "2",
        "expect Cancelled by @alice",
    ]
    code, output, errors = await run_lines(lines)
    assert code == 0, errors + output


async def test_a_number_that_is_not_on_screen_fails_the_step() -> None:
    """A number no visible control has is refused with a pointer to /screen."""
    code, _, errors = await run_lines(["/backup sites", "7"])
    assert code == 1
    assert "nothing numbered 7 is on your screen now" in errors


async def test_a_viewer_is_refused_and_an_approver_sees_four_eyes() -> None:
    """carol (viewer) cannot run a backup; with four-eyes alice cannot start her own restore."""
    lines = [
        "/as carol",
        "/backup run pol-acme-jira",
        "expect BOT_ADMINS",
        "/as alice",
        "/restore start bkp-acme-jira-complete to=acme-sandbox",
        "click Start restore",
        "expect Four-eyes rule",
    ]
    options = LocalOptions(op_seconds=1.0, poll_seconds=0.5, in_process_store=True, four_eyes=True)
    code, output, errors = await run_lines(lines, options)
    assert code == 0, errors + output


async def test_unknown_person_and_unknown_command_fail_clearly() -> None:
    """/as with an unknown name and a word that is no command both stop the script."""
    code, _, errors = await run_lines(["/as mallory"])
    assert code == 1
    assert "nobody called 'mallory'" in errors
    code, _, errors = await run_lines(["/deploy now"])
    assert code == 1
    assert "/deploy is not a command here" in errors


# -- where state goes -------------------------------------------------------------------------


async def test_memory_store_ignores_a_redis_url_in_the_environment(
    redis_server: RedisServer, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --memory a REDIS_URL naming a live Redis is never written to."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    code, output, errors = await run_lines(["/backup run pol-acme-jira", "wait COMPLETE"])
    assert code == 0, errors + output
    assert "in-process store (--memory given)" in output
    assert await redis_client.dbsize() == 0


async def test_real_redis_gets_only_keys_under_the_console_prefix(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """A console on a real Redis keeps all its keys under its own run prefix and deletes none."""
    await redis_client.set("bbot:op:backup:production-one", "keep me")
    options = LocalOptions(op_seconds=1.0, poll_seconds=0.5, redis_url=redis_server.url)
    lines = [
        "/backup run pol-acme-jira",
        "wait COMPLETE",
        "/restore start bkp-acme-jira-complete to=acme-sandbox",
        "click Start restore",
        "wait The restore is running",
    ]
    code, output, errors = await run_lines(lines, options)
    assert code == 0, errors + output
    assert f"Redis at {redis_server.url}, keys under bbot-console:" in output
    keys = {key async for key in redis_client.scan_iter()}
    assert "bbot:op:backup:production-one" in keys
    console_keys = keys - {"bbot:op:backup:production-one"}
    assert console_keys
    assert all(key.startswith("bbot-console:") for key in console_keys)
    assert len({key.split(":")[1] for key in console_keys}) == 1
    assert await redis_client.get("bbot:op:backup:production-one") == "keep me"
    # What the console leaves behind expires; nothing else gets a TTL.
    ttls = [await redis_client.ttl(key) for key in console_keys]
    assert all(ttl > 0 for ttl in ttls), ttls
    assert await redis_client.ttl("bbot:op:backup:production-one") == -1


async def test_without_redis_url_a_redis_on_the_default_address_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """REDIS_URL unset: the console says it keeps state in-process, as the README says."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    options = LocalOptions(op_seconds=1.0, poll_seconds=0.5)
    code, output, errors = await run_lines(["/backup sites", "expect acme-staging"], options)
    assert code == 0, errors + output
    assert (
        "an in-process store (REDIS_URL is not set, so no Redis is used even if one runs on "
        "the default address)" in " ".join(output.split())
    )


async def test_as_alone_lists_the_people_and_submit_without_a_button_says_what_to_do() -> None:
    """`/as` prints who one can be; `submit` on a form with no button yet names the next step."""
    code, output, errors = await run_lines(["/as", "/restore", "submit"])
    assert code == 1
    assert "People in the local workspace" in output
    assert "carol" in output
    assert "this form has no submit button yet: pick the choices it shows first" in errors


async def test_unreachable_redis_falls_back_to_the_in_process_store() -> None:
    """A REDIS_URL nobody answers at leaves the console running on its in-process store."""
    options = LocalOptions(op_seconds=1.0, poll_seconds=0.5, redis_url="redis://127.0.0.1:9/0")
    code, output, errors = await run_lines(["/backup sites", "expect acme-staging"], options)
    assert code == 0, errors + output
    assert "did not answer" in output


def test_the_command_line_reports_a_failed_script_in_one_line(tmp_path: Path) -> None:
    """`backup-bot console --script` exits 1 and names the failed step on stderr."""
    script = tmp_path / "broken.txt"
    script.write_text("/backup whoami\nexpect superuser\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    finished = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--memory", "--script", str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert finished.stderr.strip().splitlines()[-1] == (
        f"backup-bot console: {script} failed at line 2 `expect superuser`: "
        "'superuser' was not shown since the last action."
    )
    assert "admin, approver" in finished.stdout


# -- rendering ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("<@UALICE> started it", "@alice started it"),
        ("<@UBOB|robert> approved", "@robert approved"),
        ("in <#C1>", "in #backups"),
        (
            "due <!date^1798761600^{date_short_pretty} {time}|2027-01-01 00:00 UTC>",
            "due 2027-01-01 00:00 UTC",
        ),
        (
            "<https://example.com/r?a=1&amp;b=2|Post-restore report>",
            "Post-restore report (https://example.com/r?a=1&b=2)",
        ),
        ("<https://example.com>", "https://example.com"),
        ("<mailto:ops@acme.example|ops@acme.example>", "ops@acme.example"),
        ("<!here> look", "@here look"),
        ("*Status*: _fine_ ~old~ `bkp-1`", "Status: fine old bkp-1"),
        ("1 &lt; 2 &amp;&amp; 3 &gt; 2", "1 < 2 && 3 > 2"),
        ("`&lt;@U1&gt;` stays literal", "<@U1> stays literal"),
        (":white_check_mark: done :unknown_code:", "✅ done :unknown_code:"),
        ("pol_acme_jira and 10:30:00", "pol_acme_jira and 10:30:00"),
        ("*<@UALICE>* asked", "@alice asked"),
    ],
)
def test_mrkdwn_reads_as_plain_text(source: str, shown: str) -> None:
    """Mentions by name, dates by fallback, links with their URL, escapes undone."""
    assert mrkdwn_plain(source, NAMES) == shown


def test_bold_and_code_are_styled_not_spelled() -> None:
    """Bold and code spans become styles on the text, without their marker characters."""
    text = mrkdwn("*Backup* `bkp-1`", NAMES)
    assert text.plain == "Backup bkp-1"
    styles = {text.plain[span.start : span.end]: str(span.style) for span in text.spans}
    assert "bold" in styles["Backup"]
    assert "cyan" in styles["bkp-1"]


CARD = [
    {"type": "header", "text": {"type": "plain_text", "text": "Restore of Jira backup"}},
    {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": "*Requested by*\n<@UALICE>"}],
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Decide soon"}]},
    {
        "type": "actions",
        "block_id": "restore_controls",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Start restore"},
                "action_id": "restore_start",
                "value": "s1",
                "style": "danger",
                "confirm": {
                    "title": {"type": "plain_text", "text": "Start?"},
                    "text": {"type": "mrkdwn", "text": "This changes data."},
                    "confirm": {"type": "plain_text", "text": "Start"},
                    "deny": {"type": "plain_text", "text": "No"},
                },
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Cancel"},
                "action_id": "restore_cancel",
                "value": "s1",
            },
        ],
    },
]


def test_a_card_renders_fields_context_and_numbered_buttons() -> None:
    """Fields read `Label: value`, and each button shows its number and label."""
    numbers = ControlNumbers()
    rendered = render_surface(
        surface=("message", "C1", "1.0"),
        title="#backups",
        blocks=CARD,
        names=NAMES,
        numbers=numbers,
    )
    assert rendered.plain.splitlines() == [
        "#backups",
        "Restore of Jira backup",
        "  Requested by: @alice",
        "Decide soon",
        "[1]  Start restore  (asks to confirm)  [2]  Cancel ",
    ]
    start = numbers.get(1)
    assert start is not None
    assert start.action_id == "restore_start"
    assert start.value == "s1"
    assert start.confirm == "This changes data."
    cancel = numbers.get(2)
    assert cancel is not None
    assert cancel.label == "Cancel"


def test_button_numbers_survive_an_edit_and_retire_with_their_button() -> None:
    """An edited card keeps Cancel's number; a button the edit removed loses its number."""
    numbers = ControlNumbers()
    key = ("message", "C1", "1.0")
    render_surface(surface=key, title="card", blocks=CARD, numbers=numbers)
    edited = [*CARD[:3], {**CARD[3], "elements": [CARD[3]["elements"][1]]}]
    render_surface(surface=key, title="card", blocks=edited, numbers=numbers)
    assert numbers.get(1) is None
    assert numbers.get(2) is not None
    assert numbers.get(2).label == "Cancel"
    other = render_surface(
        surface=("message", "C1", "2.0"), title="b", blocks=CARD, numbers=numbers
    )
    assert [control.number for control in other.controls] == [3, 4]


def test_selects_list_their_options_and_show_the_choice() -> None:
    """A modal select is numbered, lists numbered options and shows what was chosen."""
    modal_blocks = [
        {
            "type": "input",
            "block_id": "dest",
            "label": {"type": "plain_text", "text": "Destination site"},
            "element": {
                "type": "static_select",
                "action_id": "dest",
                "options": [
                    {"text": {"type": "plain_text", "text": "acme"}, "value": "c1"},
                    {"text": {"type": "plain_text", "text": "acme-sandbox"}, "value": "c2"},
                ],
            },
        }
    ]
    rendered = render_surface(
        surface=("view", "V1"),
        title="Modal",
        blocks=modal_blocks,
        chosen={("dest", "dest"): "acme-sandbox"},
    )
    assert rendered.plain.splitlines()[1] == (
        "[1] ▾ Destination site  1) acme  2) acme-sandbox  → acme-sandbox"
    )
    control = rendered.controls[0]
    assert control.is_choice
    assert not control.takes_many
    assert [option.value for option in control.options] == ["c1", "c2"]


def test_a_message_without_blocks_shows_its_text() -> None:
    """A plain-text message renders its mrkdwn text."""
    rendered = render_surface(
        surface=("message", "C1", "3.0"),
        title="t",
        blocks=[],
        fallback_text="hi <@UBOB>",
        names=NAMES,
    )
    assert rendered.plain == "t\nhi @bob"


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        ("COMPLETE", ("COMPLETE", 30.0)),
        ("Post-restore report 12", ("Post-restore report", 12.0)),
        ("restore rst-1 is running", ("restore rst-1 is running", 30.0)),
    ],
)
def test_wait_takes_an_optional_timeout_as_its_last_word(
    rest: str, expected: tuple[str, float]
) -> None:
    """`wait <text> [seconds]`: a trailing number is the timeout, else 30 s."""
    assert parse_wait(rest) == expected


def test_wait_without_text_is_refused() -> None:
    """`wait` alone is a mistake in the script, not a wait for anything."""
    with pytest.raises(StepFailed):
        parse_wait("  ")
