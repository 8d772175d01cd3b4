"""Slash command text in, a parsed command or a UsageError out.

Pure: no I/O. ``parse_command`` never raises; a mistake comes back as a
:class:`~bot.errors.UsageError` whose ``problem`` is one sentence saying what was wrong and
whose ``usage`` is the correct usage line of that subcommand (or the overview); a mistyped
subcommand also carries the ``suggestion`` of the command it most likely meant. The words
after the slash command pick the command from the registry; its declared arguments read
the rest (see :mod:`bot.slack.commands.grammar`).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import SiteDirectory
from bot.errors import UsageError
from bot.messages import usage
from bot.slack.commands.backup import Help
from bot.slack.commands.grammar import listing, unescape_slack, word
from bot.slack.commands.help import overview, suggestion, topic, usage_of
from bot.slack.commands.registry import (
    bare_command,
    command_set,
    find,
    matching,
    subcommands,
)
from bot.slack.commands.spec import CommandSet, CommandSpec, SlashCommand
from bot.slack.commands.values import shown


def parse_command(command: str, text: str, sites: SiteDirectory) -> SlashCommand | UsageError:
    """Parse one slash command; a mistake is returned (never raised) as a UsageError.

    ``command`` is ``/backup`` or ``/restore`` (the slash is optional); ``text`` is what
    Slack sends after it, Slack-escaped or not.
    """
    slash = command.strip().lower().removeprefix("/")
    commands = command_set(slash)
    if commands is None:
        return UsageError(usage.unknown_command(shown("/" + slash)), Help.usage)
    tokens = unescape_slack(text).split()
    try:
        if not tokens:
            return bare_command(commands)
        rest: Sequence[str]
        # Every slash command understands `help`, wherever the help is declared.
        if word(tokens[0]) == "help":
            spec, rest = Help.spec, tokens[1:]
        else:
            spec, rest = _lookup(commands, tokens)
        parsed = spec.parse(rest, sites)
        if isinstance(parsed, Help):
            return _explain(commands, parsed.topic)
        return parsed
    except UsageError as problem:
        return problem


def _lookup(commands: CommandSet, tokens: Sequence[str]) -> tuple[CommandSpec, Sequence[str]]:
    """The command the first tokens name, and the tokens left for its arguments."""
    chosen: list[str] = []
    for index, token in enumerate(tokens):
        if word(token) not in subcommands(commands, chosen):
            problem = usage.unknown_command(shown(" ".join([*chosen, token])))
            meant = suggestion(commands, tokens)
            if meant is None:
                raise UsageError(problem, usage_of(commands, chosen))
            raise UsageError(
                problem,
                usage_of(commands, meant),
                suggestion=" ".join([commands.slash, *meant]),
            )
        chosen.append(word(token))
        spec = find(commands, chosen)
        if spec is not None:
            return spec, tokens[index + 1 :]
    group = " ".join(chosen)
    raise UsageError(
        f"`{group}` needs one of {listing(subcommands(commands, chosen))}.",
        usage_of(commands, chosen),
    )


def _explain(commands: CommandSet, typed: str | None) -> Help | UsageError:
    """The help topic typed words name, checked against the registry."""
    if typed is None:
        # `/backup help` is everything; `/restore help` is the /restore part of it.
        return Help(None if Help.spec.words[0] == commands.slash else commands.slash)
    wanted = topic(typed.split(), default=commands.slash)
    if not matching(wanted):
        return UsageError(usage.nothing_to_explain(shown(typed)), overview(commands))
    return Help(" ".join(wanted))
