"""How the words after a command's name are read: positional ids first, then options.

Pure: no I/O. A command declares its arguments as :class:`Positional`, :class:`Several`,
:class:`Option` and :class:`Words`, each with a value type from
:mod:`bot.slack.commands.values`; :func:`bind` turns the typed tokens into the values of the
command's fields, or raises a :class:`~bot.errors.UsageError` whose problem is one sentence
and whose usage is the command's usage line.

Grammar, forgiving about spelling and exact about meaning:

* words are separated by any whitespace; subcommand words, option keys, products and
  booleans are case-insensitive, and ``_`` in a key means ``-`` (``personal_spaces=yes``);
* positional ids come first, then ``key=value`` options in any order, with no spaces around
  ``=`` and no quotes;
* ids are plain tokens (ASCII letters, digits, ``- _ . :``, at most 128), so Slack's
  mention and link escapes such as ``<@U123|name>`` are refused rather than passed on;
* booleans are yes/no, true/false, on/off or 1/0; products are jira or confluence;
* a site (``site=``, ``to=``) is an alias from ATLASSIAN_SITES or a raw cloud id.

Slack sends ``&``, ``<`` and ``>`` as ``&amp;``, ``&lt;`` and ``&gt;``; the text is unescaped
before parsing so an error shows what the user typed, and every piece of user text in a
problem is escaped again and put in backticks. Usage lines and examples contain none of
``& < >`` (placeholders are upper-case words), so ``UsageError.user_message`` is safe mrkdwn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from bot.config import SiteDirectory
from bot.errors import UsageError
from bot.messages import usage
from bot.slack.commands.values import PRODUCT, SITE, Mistake, Subject, ValueType, shown


def unescape_slack(text: str) -> str:
    # `&amp;` last, so a user's literal `&lt;` (sent as `&amp;lt;`) stays `&lt;`.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def word(token: str) -> str:
    """A command word or option key as the grammar compares it."""
    return token.lower().replace("_", "-")


def listing(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def placeholder(noun: str) -> str:
    """``policy id`` -> ``POLICY_ID``: how usage lines name an argument."""
    return noun.upper().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True, slots=True)
class Positional:
    """One positional argument filling the field ``into``."""

    into: str
    type: ValueType[Any]
    noun: str

    @property
    def usage(self) -> str:
        return self.type.placeholder or placeholder(self.noun)


@dataclass(frozen=True, slots=True)
class Several:
    """One or more distinct positional arguments, as a tuple in the field ``into``."""

    into: str
    type: ValueType[Any]
    noun: str

    @property
    def usage(self) -> str:
        one = self.type.placeholder or placeholder(self.noun)
        return f"{one} [{one} ...]"


@dataclass(frozen=True, slots=True)
class Words:
    """The rest of the text as words (a help topic): no ids or options, may be empty."""

    into: str
    noun: str

    @property
    def usage(self) -> str:
        return f"[{placeholder(self.noun)}]"


@dataclass(frozen=True, slots=True)
class Option:
    """``key=value``; ``into`` is the field (or fields, for a tuple value) it fills.

    An option not given leaves its field at the command's default.
    """

    key: str
    type: ValueType[Any]
    into: str | tuple[str, ...] = ""
    required: bool = False
    placeholder: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        if isinstance(self.into, tuple):
            return self.into
        return (self.into or self.key.replace("-", "_"),)

    @property
    def usage(self) -> str:
        text = f"{self.key}={self.placeholder or self.type.placeholder or placeholder(self.key)}"
        return text if self.required else f"[{text}]"


Argument: TypeAlias = Positional | Several | Words | Option

#: The options every list and status command filters by, filling `cloud_id` and `product`.
SITE_OPTION: Final = Option("site", SITE, into="cloud_id")
PRODUCT_OPTION: Final = Option("product", PRODUCT)


def usage_line(words: Sequence[str], arguments: Sequence[Argument]) -> str:
    return " ".join([*words, *(argument.usage for argument in arguments)])


def _spaced_equals(tokens: Sequence[str]) -> str | None:
    """The words of a `key = value` typed with spaces, which would otherwise read as ids."""
    for index, token in enumerate(tokens):
        if token.startswith("="):
            return " ".join(tokens[max(index - 1, 0) : index + 2 if token == "=" else index + 1])
        if token.endswith("=") and index + 1 < len(tokens) and "=" not in tokens[index + 1]:
            return " ".join(tokens[index : index + 2])
    return None


def _split(tokens: Sequence[str], keys: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Tokens as positionals then options, refusing anything out of shape."""
    spaced = _spaced_equals(tokens)
    if spaced is not None:
        raise Mistake(usage.spaces_around_equals(shown(spaced)))
    positionals: list[str] = []
    options: dict[str, str] = {}
    for token in tokens:
        key, equals, value = token.partition("=")
        if not equals:
            if options:
                raise Mistake(usage.id_after_option(shown(token)))
            positionals.append(token)
            continue
        key = word(key)
        if not value:
            raise Mistake(usage.option_without_value(shown(key)))
        if key not in keys:
            valid = listing(sorted(keys)) if keys else None
            raise Mistake(usage.unknown_option(shown(key), valid))
        if key in options:
            raise Mistake(usage.option_twice(key))
        options[key] = value
    return positionals, options


def _missing(argument: Positional | Several) -> str:
    return usage.missing_argument(
        argument.noun, argument.type.hint, several=isinstance(argument, Several)
    )


def _positionals(
    arguments: Sequence[Positional | Several], given: list[str], sites: SiteDirectory
) -> dict[str, object]:
    """The positional values, counted before any is read, as the usage line orders them."""
    several = arguments[-1] if arguments and isinstance(arguments[-1], Several) else None
    single = arguments[:-1] if several else arguments
    if len(given) < len(single):
        raise Mistake(_missing(single[len(given)]))
    if several is not None and len(given) == len(single):
        raise Mistake(_missing(several))
    if several is None and len(given) > len(single):
        raise Mistake(usage.unexpected_argument(shown(given[len(single)])))
    values: dict[str, object] = {}
    for argument, text in zip(single, given, strict=False):
        subject = Subject(argument.noun, f"The {argument.noun}")
        values[argument.into] = argument.type.read(text, subject, sites)
    if several is not None:
        rest = given[len(single) :]
        subject = Subject(several.noun, f"The {several.noun}")
        for position, text in enumerate(rest):
            several.type.read(text, subject, sites)
            if text in rest[:position]:
                raise Mistake(usage.given_twice(several.noun, shown(text)))
        values[several.into] = tuple(rest)
    return values


def bind(
    arguments: Sequence[Argument],
    tokens: Sequence[str],
    sites: SiteDirectory,
    usage: str,
    *,
    needs_an_option: bool = False,
) -> dict[str, object]:
    """The field values the tokens give a command with these arguments; a mistake raises."""
    try:
        return _bind(arguments, tokens, sites, needs_an_option)
    except Mistake as mistake:
        raise UsageError(str(mistake), usage) from None


def _bind(
    arguments: Sequence[Argument],
    tokens: Sequence[str],
    sites: SiteDirectory,
    needs_an_option: bool,
) -> dict[str, object]:
    words = [argument for argument in arguments if isinstance(argument, Words)]
    if words:
        return {words[0].into: " ".join(tokens) or None}
    options = [argument for argument in arguments if isinstance(argument, Option)]
    given, typed = _split(tokens, [option.key for option in options])
    values = _positionals(
        [argument for argument in arguments if isinstance(argument, Positional | Several)],
        given,
        sites,
    )
    missing = [f"{o.key}=" for o in options if o.required and o.key not in typed]
    if missing:
        raise Mistake(usage.missing_options(listing(missing), len(missing)))
    if needs_an_option and not typed:
        keys = [option.key for option in options]
        raise Mistake(usage.nothing_to_change(listing(keys)))
    for option in options:
        if option.key not in typed:
            continue
        subject = Subject(option.key, f"Option `{option.key}`")
        value = option.type.read(typed[option.key], subject, sites)
        if len(option.fields) == 1:
            values[option.fields[0]] = value
        else:
            values.update(zip(option.fields, value, strict=True))
    return values
