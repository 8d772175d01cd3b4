"""Everything written about the commands, derived from the registry.

The help (`/backup help` and per-command help), the usage line shown after a mistake, the
closest command to a mistyped one, the usage hints in manifest.yaml and the command table
in the README. Pure: strings in, strings out.
"""

from __future__ import annotations

import difflib
import functools
import itertools
from collections.abc import Collection, Sequence
from typing import Final

from bot.access import Role
from bot.slack.commands.grammar import Option, Positional, Several, placeholder, word
from bot.slack.commands.registry import (
    REGISTRY,
    SLASH_COMMANDS,
    command_set,
    find,
    matching,
    subcommands,
)
from bot.slack.commands.spec import Answer, CommandSet, CommandSpec

#: How alike a mistyped word and a command word must be to suggest it (difflib's ratio):
#: `polcy` is 0.91 like `policy`, but `restore` only 0.71 like `storage`.
SUGGESTION_CUTOFF: Final = 0.75

_GRAMMAR_NOTE: Final = (
    "Give ids first, then options as `key=value` with no spaces around `=`."
    " Yes/no options also take true/false, on/off, 1/0. A SITE is an alias from"
    " ATLASSIAN_SITES (see `/backup sites`) or a cloud id; a product is jira or confluence."
    " Commands marked (admin) change things and need a bot admin."
    " On `/restore start`, `attachments=` says whether the backup's attachments are restored"
    " (default: as the backup has them) and `users=` whether its users and groups are"
    " (default yes; no keeps the destination's own users, groups and permissions as they are)."
)
_MARKS: Final = {Role.VIEWER: "", Role.ADMIN: " (admin)", Role.APPROVER: " (approver)"}
_WHO: Final = {Role.VIEWER: "anyone", Role.ADMIN: "admins", Role.APPROVER: "approvers"}
_ANSWERS: Final = {
    Answer.PRIVATE: "only you",
    Answer.CARD: "a card in the channel",
    Answer.FORM: "a form",
}


@functools.cache
def overview(commands: CommandSet) -> str:
    """Every subcommand in one line, shown after a mistake no command explains."""
    parts = []
    for first in subcommands(commands):
        members = subcommands(commands, [first])
        parts.append(f"{first} {'|'.join(members)}" if members else first)
    if "help" not in parts:
        parts.append("help")  # every slash command understands it
    listed = " | ".join(parts)
    if find(commands, ()) is not None:
        return f"{commands.slash} [{listed}]"  # the bare slash command is a command too
    return f"{commands.slash} {listed}"


def usage_of(commands: CommandSet, words: Sequence[str]) -> str:
    """The usage of the command, or of the group of commands, that ``words`` names."""
    members = subcommands(commands, words)
    spec = find(commands, words)
    if not words or (spec is None and not members):
        return overview(commands)
    if spec is not None:
        return spec.usage
    return " ".join([commands.slash, *words, "|".join(members)])


def closest_command(typed: Sequence[str], candidates: Collection[Sequence[str]]) -> tuple[str, ...]:
    """The command words ``typed`` most likely meant, word by word.

    Each typed word is matched exactly or by its closest spelling among the words that may
    follow the ones chosen so far; the result stops where nothing is close, so it may name a
    group (``("policy",)``) or nothing at all.
    """
    chosen: tuple[str, ...] = ()
    for text in typed:
        depth = len(chosen)
        options = list(
            dict.fromkeys(
                c[depth] for c in candidates if len(c) > depth and tuple(c[:depth]) == chosen
            )
        )
        close = (
            [text]
            if text in options
            else difflib.get_close_matches(text, options, n=1, cutoff=SUGGESTION_CUTOFF)
        )
        if not close:
            break
        chosen = (*chosen, close[0])
    return chosen


def suggestion(commands: CommandSet, typed: Sequence[str]) -> tuple[str, ...] | None:
    """The words of the command meant by a mistyped one, or None when no word was corrected."""
    candidates = [spec.words[1:] for spec in commands.specs]
    # Command words come before any `key=value`, which is never a misspelt subcommand.
    lowered = [word(text) for text in itertools.takewhile(lambda text: "=" not in text, typed)]
    closest = closest_command(lowered, candidates)
    if not closest or closest == tuple(lowered[: len(closest)]):
        return None
    return closest


def topic(words: Sequence[str], default: str) -> tuple[str, ...]:
    """Words naming commands, as the start of their words: `Policy` -> `/backup policy`."""
    lowered = [word(text) for text in words]
    if lowered and command_set(lowered[0]) is not None:
        return ("/" + lowered[0].removeprefix("/"), *lowered[1:])
    return (default, *lowered)


def _entry(spec: CommandSpec) -> str:
    mark = _MARKS[spec.role]
    return f"• `{spec.usage}` — {spec.summary}{mark}. Example: `{spec.example}`"


def help_text(command: str | None = None) -> str:
    """The help as mrkdwn: every command of both slash commands with its usage and an example.

    ``command`` narrows it to the commands whose usage starts with those words, e.g.
    ``"/restore"``, ``"policy"`` or ``"backup export-status"`` (without a slash command,
    `/backup` is meant). When nothing matches, the whole help is returned.
    """
    chosen = list(REGISTRY)
    if command is not None and command.split():
        chosen = matching(topic(command.split(), default="/backup")) or chosen
    lines: list[str] = []
    for commands in SLASH_COMMANDS:
        entries = [_entry(spec) for spec in chosen if spec.words[0] == commands.slash]
        if entries:
            lines.extend([commands.title, *entries, ""])
    lines.append(_GRAMMAR_NOTE)
    return "\n".join(lines)


def _camel(placeholder: str) -> str:
    first, *rest = placeholder.lower().split("_")
    return first + "".join(part.capitalize() for part in rest)


def _hinted(spec: CommandSpec) -> str:
    parts = list(spec.words[1:])
    for argument in spec.arguments:
        if isinstance(argument, Positional | Several):
            parts.append(f"<{_camel(placeholder(argument.noun))}>")
        elif isinstance(argument, Option) and argument.required:
            shown = argument.placeholder or argument.type.placeholder or argument.key
            parts.append(f"{argument.key}=<{_camel(shown)}>")
    return " ".join(parts)


def usage_hint(commands: CommandSet) -> str:
    """The ``usage_hint`` of this slash command in manifest.yaml: its featured commands."""
    return " | ".join(_hinted(spec) for spec in commands.specs if spec.usage_hint)


def command_table() -> str:
    """The README's command table: one row per command, in help order."""
    rows = ["| command | what it does | who may | answer |", "|---|---|---|---|"]
    for spec in REGISTRY:
        usage = spec.usage.replace("|", "\\|")
        rows.append(f"| `{usage}` | {spec.summary} | {_WHO[spec.role]} | {_ANSWERS[spec.answer]} |")
    return "\n".join(rows)
