"""Every card and answer reads as plain words: no cloud ids, API enum names, Python reprs or
unescaped user text, in anything the example scripts and the failure paths make the bot say.

The scripts run through the console against the simulator and the local Slack; then every
version of every message, ephemeral answer and modal the fake Slack recorded is checked, as
Slack received it (raw mrkdwn) and as the console showed it.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bot.atlassian.versions import ApiVersion
from bot.config import Settings
from bot.console import run_script
from bot.console.local import ALICE, LocalBot, LocalOptions, start_local_bot
from bot.console.screen import Screen
from bot.console.terminal import Terminal
from bot.slack.commands.registry import REGISTRY

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FAST = LocalOptions(op_seconds=1.0, poll_seconds=0.5, in_process_store=True)

UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
# API names: upper-case words joined by underscores, and Atlassian's consent identifiers.
ENUM = re.compile(r"\b(?:[A-Z]{2,}(?:_[A-Z]+)+|(?:Consent|Accept|Deny)_[A-Za-z_]+)\b")
REPR = re.compile(r"\b(?:True|False|None)\b|\{'|\['|\[\]|\(\)")
# Slack's own markup; any other `<` in mrkdwn is user or API text that was not escaped.
SLACK_MARKUP = re.compile(r"<(?:@[UW][A-Z0-9]+|#C[A-Z0-9]+|!date\^[^>]+|https?://[^>]+)>")
URL = re.compile(r"https?://[^\s|>)]+")
# Settings an operator sets are named as such in refusals meant for them, and a usage line's
# placeholders (POLICY_ID, ROLE_ARN) stand for what the user types.
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields) | frozenset(
    word for spec in REGISTRY for word in re.findall(r"[A-Z][A-Z_]+", spec.usage)
)


@dataclass
class Transcript:
    failure: str | None
    shown: str
    raw: list[str]


def _texts(node: Any) -> Iterator[str]:
    """Every text a person can read in a Block Kit payload (mrkdwn, plain text, labels)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            elif key not in (
                "action_id",
                "block_id",
                "value",
                "url",
                "callback_id",
                "private_metadata",
                "hash",
                "id",
                "initial_option",
            ):
                yield from _texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item)


def _recorded(local: LocalBot) -> list[str]:
    slack = local.slack
    found: list[str] = []
    for message in slack.messages():
        found += [message.text, *_texts(message.blocks)]
        for edit in message.edits:
            found += [edit.text, *_texts(edit.blocks)]
    for ephemeral in slack.ephemerals():
        found += [ephemeral.text, *_texts(ephemeral.blocks)]
        for replaced in ephemeral.replaced:
            found += [replaced.text, *_texts(replaced.blocks)]
    for view in slack.views.values():
        found += [*_texts(view.view), *(t for old in view.history for t in _texts(old))]
    return found


async def transcript(
    lines: Sequence[str],
    options: LocalOptions = FAST,
    then: Callable[[list[str]], list[str]] | None = None,
) -> Transcript:
    """Run script lines in the console; what it showed and every text Slack received.

    ``then`` makes more lines from what Slack received so far (an id the bot made up).
    """
    out = io.StringIO()
    local = await start_local_bot(options)
    try:
        screen = Screen(local.slack, Console(file=out, width=200, color_system=None), ALICE.user_id)
        terminal = Terminal(local, screen, user=ALICE)
        failure = await run_script(terminal, lines)
        if failure is None and then is not None:
            failure = await run_script(terminal, then(_recorded(local)))
        await local.settle()
        screen.refresh()
        return Transcript(str(failure) if failure else None, out.getvalue(), _recorded(local))
    finally:
        await local.stop()


def problems(text: str) -> list[str]:
    """What in one text an admin should not have to read."""
    found: list[str] = []
    without_urls = URL.sub("URL", text)
    found += [f"cloud id {m!r}" for m in UUID.findall(without_urls)]
    found += [f"API name {m!r}" for m in ENUM.findall(without_urls) if m not in SETTING_NAMES]
    found += [f"Python repr {m!r}" for m in REPR.findall(without_urls)]
    return found


def unescaped(raw: str) -> list[str]:
    """Angle brackets in mrkdwn that are not Slack's own markup: unescaped user text."""
    rest = SLACK_MARKUP.sub("", raw)
    return [f"unescaped {rest[max(0, i - 20) : i + 20]!r}" for i, c in enumerate(rest) if c in "<>"]


def assert_plain(result: Transcript) -> None:
    assert result.failure is None, result.failure + "\n" + result.shown
    bad = sorted(
        {f"{p} in {text[:160]!r}" for text in result.raw for p in problems(text) + unescaped(text)}
        | {f"{p} shown" for p in problems(result.shown)}
    )
    assert not bad, "\n".join(bad)


def example(name: str) -> list[str]:
    return (EXAMPLES / name).read_text(encoding="utf-8").splitlines()


SCRIPTS = [
    ("backup.txt", ApiVersion.V1),
    ("backup.txt", ApiVersion.V2),
    ("restore-with-consent.txt", ApiVersion.V1),
    ("restore-from-modal.txt", ApiVersion.V2),
    ("schedules.txt", ApiVersion.V2),
    ("weekly-assurance.txt", ApiVersion.V1),
    ("failures.txt", ApiVersion.V1),
    ("failures.txt", ApiVersion.V2),
]


@pytest.mark.parametrize(("name", "api"), SCRIPTS)
async def test_every_card_and_answer_of_the_example_scripts_reads_as_plain_words(
    name: str, api: ApiVersion
) -> None:
    """No cloud id, API enum name, Python repr or unescaped user text in any example's words."""
    assert_plain(await transcript(example(name), dataclasses.replace(FAST, api=api)))


def test_the_checks_catch_what_they_look_for() -> None:
    """Each kind of internal the guard looks for is found in a sentence that has it."""
    assert problems("Site 11111111-1111-4111-8111-111111111111 has none")
    assert problems("status IN_PROGRESS")
    assert problems("Consent_Conflicting_Space_Check")
    assert problems("attachments=True")
    assert problems("{'a': 1}")
    assert problems("got []")
    assert unescaped("Unknown policy <!channel>")
    assert not unescaped("by <@UALICE> &lt;b&gt;")
    assert not problems(
        "set BOT_APPROVERS; see <https://x.test/11111111-1111-4111-8111-111111111111|it>"
    )


async def test_atlassian_refusals_name_sites_by_alias_and_fields_by_option() -> None:
    """A refused storage and a second policy: the option typed and the alias, then the fix."""
    result = await transcript(
        [
            "/backup storage create name=lab region=us-east-1 prefix=lab/ role=not-an-arn "
            "tag=lab site=acme-sandbox",
            "/backup policy create jira site=acme",
            "/backup policy create confluence site=acme-sandbox storage=sto-acme-s3",
        ]
    )
    raw = "\n".join(result.raw)
    assert "Atlassian refused: `role=` must be the ARN of an IAM role" in raw
    assert "roleIdentifier" not in raw
    assert "Atlassian refused: Site acme already has a Jira backup policy" in raw
    assert "Change the command and run it again: `/backup policy create jira|confluence" in raw
    assert (
        "Storage acme-backups belongs to site acme, not to acme-sandbox where the new policy "
        "backs up; `/backup storage list site=acme-sandbox` shows that site's storages." in raw
    )
    assert_plain(result)


async def test_an_id_close_to_a_known_one_is_suggested() -> None:
    """A typo in a policy id or a backup id is answered with the id it most likely meant."""
    result = await transcript(
        ["/backup policy show pol-acme-jra", "/backup show bkp-acme-jira-complet"]
    )
    raw = "\n".join(result.raw)
    assert "Atlassian has no backup policy `pol-acme-jra`. Did you mean `pol-acme-jira`?" in raw
    assert "Did you mean `bkp-acme-jira-complete`?" in raw
    assert_plain(result)


def _show_the_restore(raw: list[str]) -> list[str]:
    found = re.search(r"restore `(rst-[\w-]+)`", "\n".join(raw))
    assert found is not None
    return [f"/restore show {found.group(1)}"]


async def test_restore_show_tells_the_decisions_in_plain_lines() -> None:
    """Each decision is one line: when, who as a mention, what, on which check, the result."""
    result = await transcript(example("restore-with-consent.txt"), then=_show_the_restore)
    shown = "\n".join(text for text in result.raw if "*Decisions*" in text)
    assert "<@UALICE> requested the restore of backup `bkp-acme-jira-complete` onto " in shown
    assert "*acme-staging* (attachments yes, users and groups yes)." in shown
    assert "<@UBOB> pressed *Start restore*; Atlassian was asked to validate." in shown
    assert (
        "the bot was asked by Atlassian's validation for consent on 3 checks: projects with the "
        "same keys, groups with the same names and the destination's Jira plan." in shown
    )
    assert "<@UBOB> gave consent on projects with the same keys." in shown
    assert "<@UBOB> gave the last answer needed; Atlassian was asked to revalidate." in shown
    assert "the bot saw the restore end: it finished." in shown
    assert "|2026-" in shown  # every line starts with when, as <!date^…|fallback>
    assert_plain(result)


async def test_a_finished_backup_card_says_when_how_long_how_big_until_when_and_what_next() -> None:
    """The backup card: elapsed time while running; then finished, duration, size, expiry, next."""
    result = await transcript(example("backup.txt"))
    said = "\n".join(result.raw)
    assert re.search(r"Started <!date\^\d+\^\{ago\}\|[^>]+>; Atlassian reports no progress", said)
    assert re.search(r"\*Finished\*\n<!date\^\d+\^[^>]+>, after \d+ seconds?", said)
    assert "*Size*\n16.4 GB" in said
    assert re.search(r"\*Expires\*\n<!date\^\d+\^", said)
    assert re.search(
        r"Next: `/restore start (bkp-[\w-]+) to=SITE` restores it onto another site; "
        r"`/backup export \1` keeps a copy in your own storage\.",
        said,
    )


async def test_a_restore_ending_names_who_requested_and_who_approved_it() -> None:
    """The final thread message mentions the requester and the approver."""
    result = await transcript(example("restore-with-consent.txt"))
    ended = [text for text in result.raw if "of *Jira* on *acme-staging* finished." in text]
    assert ended
    assert "Requested by <@UALICE>, approved by <@UBOB>." in ended[0]
    # Counts are said with their plural, never "check(s)".
    said = "\n".join(result.raw)
    assert "Validation found 3 checks that need an approver's answer on the card." in said
    assert "(s)" not in said


async def test_a_refused_restore_says_what_to_do_instead() -> None:
    """An expired backup names the restorable ones; a busy site names its restore and card."""
    result = await transcript(
        [
            "/restore start bkp-acme-jira-expired to=acme-sandbox",
            "/restore start bkp-acme-jira-complete to=acme-sandbox",
            "/restore start bkp-acme-confluence-complete to=acme-sandbox",
        ]
    )
    raw = "\n".join(result.raw)
    assert (
        "(backups are kept 14 days). Restorable backups of the same policy: "
        "`bkp-acme-jira-complete` (8 days old); `/restore start bkp-acme-jira-complete "
        "to=acme-sandbox` restores the newest." in raw
    )
    assert re.search(
        r"Another restore onto \*acme-sandbox\* is already under way: a restore request of "
        r"backup `bkp-acme-jira-complete`, requested by <@UALICE> <!date\^\d+\^[^>]+>\. Its "
        r"card is in <#CBACKUPS>; finish or cancel it there before asking again\. "
        r"<https://localslack\.slack\.com/archives/CBACKUPS/p\d+\|Open its card>\.",
        raw,
    )
    assert_plain(result)


async def test_an_expired_backup_refused_for_export_gives_its_date_in_plain_text() -> None:
    """A refusal is plain text escaped for Slack: its date is written out, not Slack markup."""
    result = await transcript(["/backup export bkp-acme-jira-expired"])
    raw = "\n".join(result.raw)
    assert re.search(
        r"Backup `bkp-acme-jira-expired` expired on \d{4}-\d\d-\d\d \d\d:\d\d UTC, so there is "
        r"nothing left to export; `/backup list POLICY_ID` shows the backups still kept\.",
        raw,
    )
    assert "&lt;!date" not in raw
    assert_plain(result)
