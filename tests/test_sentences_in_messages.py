"""Every sentence a user can read lives in bot/messages, where they are read and reviewed together.

The scan reads the source of every other module and fails on a string literal (or f-string,
its placeholders counted as words) that reads like a sentence: a capital letter or a
placeholder first, words with spaces between, and a full stop, question or exclamation mark at
the end. Docstrings, bare strings documenting an attribute and the arguments of log calls are
for developers and operators, so they are skipped.
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


def sentences(source: str, path: str) -> Iterator[Found]:
    tree = ast.parse(source)
    skipped = _skipped(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.JoinedStr):
            text = _flat(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if SENTENCE.match(text.strip()):
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
