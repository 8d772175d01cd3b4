"""What a slash command is, declared once: words, arguments, role, answer, handler and help.

A command is a frozen dataclass (its fields are what the handler gets) decorated by its
slash command's :class:`CommandSet` with everything else about it: see ``backup.py`` and
``restore.py``. Parsing, the usage line, the help, role checks, routing and the not-found
answer all read the :class:`CommandSpec` the decorator attaches as ``PolicyShow.spec``.
Declaring is pure: nothing here does I/O, and a handler is named, not imported, so the
handlers' module may import this one.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar

from bot.access import Role
from bot.config import SiteDirectory
from bot.errors import UsageError
from bot.slack.commands.grammar import Argument, Option, Positional, Several, bind, usage_line

T = TypeVar("T")
C = TypeVar("C", bound="SlashCommand")

#: A rule across a parsed command's fields; returns the problem, or None when it holds.
Check: TypeAlias = Callable[[Any], str | None]


class Answer(enum.StrEnum):
    """Where a command's answer appears."""

    PRIVATE = "private"
    """Only the caller sees it (an ephemeral message)."""
    CARD = "card"
    """A status card in the channel, which the tracker keeps up to date."""
    FORM = "form"
    """A modal for the caller to fill in."""


@dataclass(frozen=True, slots=True)
class NotFound:
    """What Atlassian's 404 means for a command naming one id.

    ``field`` holds the id, ``noun`` says what it is and ``hint`` where real ones are listed.
    """

    field: str
    noun: str
    hint: str


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command's declaration; see the module docstring."""

    words: tuple[str, ...]
    """The slash command and subcommand words: ``("/backup", "policy", "show")``."""
    arguments: tuple[Argument, ...]
    command: type[SlashCommand]
    summary: str
    example: str
    handler: str | None
    """The ``CommandHandlers`` method doing the work after the ack; None where the Slack
    app answers itself (the help in the ack, the restore workflow)."""
    role: Role = Role.VIEWER
    answer: Answer = Answer.PRIVATE
    not_found: NotFound | None = None
    needs_an_option: bool = False
    """At least one option must be given (an update that changes nothing is a mistake)."""
    checks: tuple[Check, ...] = ()
    usage_hint: bool = False
    """Listed in the slash command's usage hint in manifest.yaml."""
    usage: str = field(init=False)

    def __post_init__(self) -> None:
        # Built once: every usage error and every help line shows it.
        object.__setattr__(self, "usage", usage_line(self.words, self.arguments))

    @property
    def changes_things(self) -> bool:
        """True when the command creates, changes or starts work (only bot admins may)."""
        return self.role is not Role.VIEWER

    def parse(self, tokens: Sequence[str], sites: SiteDirectory) -> SlashCommand:
        """The command the tokens after its words make; a mistake raises a UsageError."""
        values = bind(
            self.arguments, tokens, sites, self.usage, needs_an_option=self.needs_an_option
        )
        build: Callable[..., SlashCommand] = self.command
        parsed = build(**values)
        for check in self.checks:
            problem = check(parsed)
            if problem is not None:
                raise UsageError(problem, self.usage)
        return parsed


class _FromSpec(Generic[T]):
    """A class attribute read from the command's spec, so nothing is stated twice."""

    def __init__(self, read: Callable[[CommandSpec], T]) -> None:
        self._read = read

    def __get__(self, instance: object, owner: type[SlashCommand]) -> T:
        return self._read(owner.spec)


class SlashCommand:
    """A parsed command; its class carries its declaration as ``spec``."""

    __slots__ = ()

    spec: ClassVar[CommandSpec]
    usage = _FromSpec(lambda spec: spec.usage)
    example = _FromSpec(lambda spec: spec.example)
    summary = _FromSpec(lambda spec: spec.summary)
    changes_things = _FromSpec(lambda spec: spec.changes_things)


class CommandSet:
    """The commands of one slash command, in the order its help lists them."""

    def __init__(self, slash: str, title: str) -> None:
        self.slash = slash
        self.title = title
        """The heading of this slash command's part of the help."""
        self._specs: list[CommandSpec] = []

    @property
    def specs(self) -> tuple[CommandSpec, ...]:
        return tuple(self._specs)

    def command(
        self,
        words: str,
        *arguments: Argument,
        summary: str,
        example: str,
        handler: str | None,
        role: Role = Role.VIEWER,
        answer: Answer = Answer.PRIVATE,
        not_found: NotFound | None = None,
        needs_an_option: bool = False,
        checks: Sequence[Check] = (),
        usage_hint: bool = False,
    ) -> Callable[[type[C]], type[C]]:
        """Declare the decorated dataclass as the command ``/slash words``."""

        def declare(command: type[C]) -> type[C]:
            spec = CommandSpec(
                words=(self.slash, *words.split()),
                arguments=arguments,
                command=command,
                summary=summary,
                example=example,
                handler=handler,
                role=role,
                answer=answer,
                not_found=not_found,
                needs_an_option=needs_an_option,
                checks=tuple(checks),
                usage_hint=usage_hint,
            )
            _check_fields(spec)
            command.spec = spec
            self._specs.append(spec)
            return command

        return declare


def _check_fields(spec: CommandSpec) -> None:
    """Refuse, at import, a declaration whose arguments do not fill its dataclass."""
    fields = {f.name: f for f in dataclasses.fields(spec.command)}  # type: ignore[arg-type]
    filled: set[str] = set()
    always: set[str] = set()
    for argument in spec.arguments:
        if isinstance(argument, Option):
            filled.update(argument.fields)
            if argument.required:
                always.update(argument.fields)
        else:
            filled.add(argument.into)
            if isinstance(argument, Positional | Several):
                always.add(argument.into)
    if spec.not_found is not None:
        filled.add(spec.not_found.field)
    unknown = filled - set(fields)
    if unknown:
        raise TypeError(f"{spec.usage}: no field {sorted(unknown)} in {spec.command.__name__}")
    unfilled = [
        name
        for name, f in fields.items()
        if name not in always
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if unfilled:
        raise TypeError(f"{spec.usage}: nothing fills {unfilled} of {spec.command.__name__}")
