"""Every sentence a user can read lives in bot/messages, where they are read and reviewed together.

The scan reads the source of every other module and fails on a string literal (or f-string,
its placeholders counted as words) that reads like a sentence: a capital letter or a
placeholder first, words with spaces between, and a full stop, question or exclamation mark at
the end. Docstrings, bare strings documenting an attribute and the arguments of log calls are
for developers and operators, so they are skipped.

A second scan catches the short words a user reads on a card or form, which are no
sentences: any literal with a word in it that becomes a header, field label, button text,
modal title or placeholder, or a console refusal. Those are the literals passed as ``text=``,
``title=``, ``label=``, ``placeholder=`` (or stored under such a key in a dict), those passed
into a slack_sdk block or element constructor or one of the bot's own block helpers (also by
way of a local name later handed to one), and those a console step fails with.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"

# Parts of bot/ whose text no user of the bot reads, each with its reason.
NOT_SCANNED = {
    "bot/messages": "where the sentences belong",
    "bot/simulator": "the simulated Atlassian speaks for Atlassian, not for the bot",
    "bot/localslack": "the fake Slack Web API answers as Slack does, for tests and the console",
    "bot/observability": "metric descriptions are read in Prometheus by the people running it",
}

# Sentences outside bot/messages that no user ever reads, each with its reason.
ALLOWED = {
    (
        "bot/restore/store.py",
        "Redis did not confirm a restore decision in time; it may have been made.",
    ): "StoreUncertain is caught where a decision is clicked, and the clicker is told the "
    "outcome is being checked (bot.messages.restore.CHECKING_REPLY) instead",
}

LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "log"})
PLACEHOLDER = "{}"
SENTENCE = re.compile(
    r"^(?:(?::[a-z_]+: )?[*_]?[A-Z]|\{\} [a-z])"  # a capital, or a value and then a word
    r"[^\n]* [a-z]+"  # words with spaces between
    r"[^\n]*[.!?]$",  # and the mark ending a sentence
    re.S,
)


# What builds something a user reads: slack_sdk's blocks and elements, the bot's own block
# helpers (bot/slack/blocks.py, restore_blocks.py) and the console's refusal of a line.
UI_CALLS = frozenset(
    {
        "ActionsBlock",
        "ButtonElement",
        "CheckboxesElement",
        "ConfirmObject",
        "ContextBlock",
        "HeaderBlock",
        "InputBlock",
        "MarkdownTextObject",
        "Option",
        "OptionGroup",
        "PlainTextInputElement",
        "PlainTextObject",
        "RadioButtonsElement",
        "SectionBlock",
        "StaticSelectElement",
        "View",
        "_button",
        "_confirm",
        "_more",
        "_option",
        "_sections",
        "add_column",
        "announced",
        "context",
        "error_message",
        "fields",
        "header",
        "help_message",
        "info_message",
        "list_sections",
        "more",
        "notice_message",
        "notice_modal",
        "nothing_matching",
        "restore_thread_line",
        "section",
        "StepFailed",
    }
)
TEXT_KEYS = frozenset(
    {"text", "title", "label", "placeholder", "submit", "close", "hint", "alt_text", "description"}
)
# Literals no user reads as words: ids, styles, block types, emoji codes, commands, metavars.
MACHINE = re.compile(r"^(?:[a-z0-9_.:/\-]*|[A-Z0-9_]+|/[a-z]+(?: [a-z\-]+)*)$")
EMOJI = re.compile(r":[a-z0-9_+\-]+:")
WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class Found:
    path: str
    line: int
    text: str


def _flat(node: ast.JoinedStr) -> str:
    return "".join(
        str(part.value) if isinstance(part, ast.Constant) else PLACEHOLDER for part in node.values
    )


def _skipped(tree: ast.AST) -> set[int]:
    """The nodes whose strings are for developers: docstrings, bare strings, log calls."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skipped.add(id(node.value))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LOG_METHODS
        ):
            skipped.update(id(inner) for inner in ast.walk(node))
        elif isinstance(node, ast.JoinedStr):
            skipped.update(id(part) for part in node.values)
    return skipped


def _text(node: ast.AST) -> str | None:
    """The text of a string literal or f-string (placeholders as {}); None for anything else."""
    if isinstance(node, ast.JoinedStr):
        return _flat(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def sentences(source: str, path: str) -> Iterator[Found]:
    tree = ast.parse(source)
    skipped = _skipped(tree)
    for node in ast.walk(tree):
        text = None if id(node) in skipped else _text(node)
        if text is not None and SENTENCE.match(text.strip()):
            yield Found(path, node.lineno, text.strip())


def _called(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _has_words(text: str) -> bool:
    text = text.strip()
    return not MACHINE.match(text) and bool(WORD.search(EMOJI.sub("", text)))


def _fed_names(function: ast.AST) -> set[str]:
    """The local names a function hands to a block helper or as a text argument."""
    fed: set[str] = set()
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        if _called(node.func) in UI_CALLS:
            fed.update(arg.id for arg in node.args if isinstance(arg, ast.Name))
        fed.update(
            keyword.value.id
            for keyword in node.keywords
            if keyword.arg in TEXT_KEYS and isinstance(keyword.value, ast.Name)
        )
    return fed


def _shown_parts(tree: ast.AST) -> Iterator[ast.expr]:
    """Every expression whose strings end up in front of a user as they are."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if _called(node.func) in UI_CALLS:
                yield from node.args
            yield from (keyword.value for keyword in node.keywords if keyword.arg in TEXT_KEYS)
        elif isinstance(node, ast.Dict):
            yield from (
                value
                for key, value in zip(node.keys, node.values, strict=True)
                if isinstance(key, ast.Constant) and key.value in TEXT_KEYS
            )
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            fed = _fed_names(node)
            for inner in ast.walk(node):
                if isinstance(inner, ast.Assign | ast.AnnAssign | ast.AugAssign):
                    targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                    named = any(isinstance(t, ast.Name) and t.id in fed for t in targets)
                    if named and inner.value is not None:
                        yield inner.value
                elif (
                    isinstance(inner, ast.Call)
                    and isinstance(inner.func, ast.Attribute)
                    and isinstance(inner.func.value, ast.Name)
                    and inner.func.value.id in fed
                    and inner.func.attr in {"append", "insert", "extend"}
                ):
                    yield from inner.args


def labels(source: str, path: str) -> Iterator[Found]:
    """Literals with words that become a header, label, button, title or refusal."""
    tree = ast.parse(source)
    inside_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    seen: set[int] = set()
    for part in _shown_parts(tree):
        for node in ast.walk(part):
            text = None if id(node) in inside_fstrings or id(node) in seen else _text(node)
            if text is None:
                continue
            seen.add(id(node))
            if _has_words(text):
                yield Found(path, node.lineno, text.strip())


def _scanned() -> Iterator[tuple[str, str]]:
    for file in sorted(BOT.rglob("*.py")):
        path = file.relative_to(ROOT).as_posix()
        if not any(path.startswith(part + "/") for part in NOT_SCANNED):
            yield path, file.read_text(encoding="utf-8")


def test_every_sentence_a_user_reads_is_in_bot_messages() -> None:
    found = [hit for path, source in _scanned() for hit in sentences(source, path)]
    outside = [hit for hit in found if (hit.path, hit.text) not in ALLOWED]
    assert not outside, "move these into bot/messages:\n" + "\n".join(
        f"{hit.path}:{hit.line}: {hit.text!r}" for hit in outside
    )
    # An entry whose sentence has gone would let the next one like it in unseen.
    stale = set(ALLOWED) - {(hit.path, hit.text) for hit in found}
    assert not stale, f"allowed sentences no longer in the code: {sorted(stale)}"


def test_every_part_left_unscanned_exists() -> None:
    assert all((ROOT / part).is_dir() for part in NOT_SCANNED)


def test_the_scan_finds_sentences_and_skips_what_developers_read() -> None:
    source = '''
"""A module docstring. It has sentences."""
import logging
log = logging.getLogger(__name__)

def f(name, n):
    """A docstring."""
    log.warning("Redis is slow; retrying in a moment.")
    a = "Unknown policy."
    b = f"{name} is not a site; try again."
    c = f":warning: The restore of {name} failed."
    d = "weekly"
    e = "Start restore"
    g = f"{n} left"
    return a, b, c, d, e, g
'''
    found = [hit.text for hit in sentences(source, "x.py")]
    assert found == [
        "Unknown policy.",
        "{} is not a site; try again.",
        ":warning: The restore of {} failed.",
    ]


def test_every_label_a_user_reads_is_in_bot_messages() -> None:
    found = [hit for path, source in _scanned() for hit in labels(source, path)]
    assert not found, "move these into bot/messages (labels.py or their area):\n" + "\n".join(
        f"{hit.path}:{hit.line}: {hit.text!r}" for hit in found
    )


def test_the_scan_finds_labels_and_skips_ids_styles_and_emoji() -> None:
    source = """
from slack_sdk.models.blocks import ButtonElement, HeaderBlock, PlainTextObject

def card(title, n, session_id):
    pairs = [("Backup", code(n))]
    pairs.append(("Requested by", "x"))
    text = f"{title}: running"
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Restore a backup"}}
    blocks = [
        header(f"Restore of {title}"),
        fields(pairs),
        HeaderBlock(text=PlainTextObject(text="Post-restore report")),
        ButtonElement(text="Cancel", action_id="restore_cancel", value=session_id),
        _button(words.START_LABEL, ACTION_START, session_id, style="danger"),
        context(f":warning: {title}"),
        section("*Validation checks*"),
        {"type": "input", "label": {"type": "plain_text", "text": "Include attachments"}},
        section(words.count(n, "check")),
        input_block(placeholder="Where to restore"),
        context("/restore list"),
        header("ROLE_ARN"),
    ]
    if not blocks:
        raise StepFailed(f"cannot click {title!r}: gone.")
    log.info("Created the card.")
    return Message(text=text, blocks=blocks), view
"""
    found = sorted(hit.text for hit in labels(source, "x.py"))
    assert found == sorted(
        [
            "Backup",
            "Requested by",
            "{}: running",
            "Restore a backup",
            "Restore of {}",
            "Post-restore report",
            "Cancel",
            "*Validation checks*",
            "Include attachments",
            "Where to restore",
            "cannot click {}: gone.",
        ]
    )
