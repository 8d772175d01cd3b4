"""Every command of every slash command, in the order the help lists them, and lookups.

The one list the parser, the help, role checks, routing and the docs are derived from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeAlias

from bot.slack.commands.backup import BACKUP, Help
from bot.slack.commands.restore import RESTORE
from bot.slack.commands.spec import CommandSet, CommandSpec, SlashCommand

#: Any parsed command; the classes are ``ALL_COMMANDS``.
ParsedCommand: TypeAlias = SlashCommand

SLASH_COMMANDS: Final[tuple[CommandSet, ...]] = (BACKUP, RESTORE)
REGISTRY: Final[tuple[CommandSpec, ...]] = tuple(
    spec for commands in SLASH_COMMANDS for spec in commands.specs
)
ALL_COMMANDS: Final[tuple[type[SlashCommand], ...]] = tuple(spec.command for spec in REGISTRY)

_BY_SLASH: Final = {commands.slash: commands for commands in SLASH_COMMANDS}


def _following(specs: Sequence[CommandSpec]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Each prefix of some command's words, with the words that may follow it in help order."""
    following: dict[tuple[str, ...], list[str]] = {}
    for spec in specs:
        for depth in range(1, len(spec.words)):
            words = following.setdefault(spec.words[:depth], [])
            if spec.words[depth] not in words:
                words.append(spec.words[depth])
    return {prefix: tuple(words) for prefix, words in following.items()}


# Looked up on every command typed, so indexed once.
_BY_WORDS: Final = {spec.words: spec for spec in REGISTRY}
_FOLLOWING: Final = _following(REGISTRY)


def command_set(slash: str) -> CommandSet | None:
    """The commands of ``/backup`` or ``/restore`` (the slash is optional)."""
    return _BY_SLASH.get("/" + slash.removeprefix("/"))


def bare_command(commands: CommandSet) -> SlashCommand:
    """What the slash command means with no text: its own form, or else the help."""
    spec = find(commands, ())
    return Help() if spec is None else spec.command()


def subcommands(commands: CommandSet, prefix: Sequence[str] = ()) -> list[str]:
    """The distinct words that may follow ``prefix`` (words after the slash), in help order."""
    return list(_FOLLOWING.get((commands.slash, *prefix), ()))


def find(commands: CommandSet, words: Sequence[str]) -> CommandSpec | None:
    """The command named exactly by ``words`` (after the slash), if there is one."""
    return _BY_WORDS.get((commands.slash, *words))


def matching(topic: Sequence[str]) -> list[CommandSpec]:
    """The commands whose words start with ``topic``, such as ``("/backup", "policy")``."""
    return [spec for spec in REGISTRY if spec.words[: len(topic)] == tuple(topic)]
