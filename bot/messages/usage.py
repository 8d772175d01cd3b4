"""What the bot says when a command is typed out of shape or with a value it cannot read.

Every argument named ``typed`` is the user's own text, already quoted safely for mrkdwn by
the caller; ``label`` and ``noun`` name the value as the usage line does.
"""

from __future__ import annotations

from typing import Final


def unknown_command(typed: str) -> str:
    return f"Unknown command {typed}."


def nothing_to_explain(typed: str) -> str:
    return f"There is no command {typed} to explain."


# ---- the shape of a command line -----------------------------------------------------------


def spaces_around_equals(typed: str) -> str:
    return f"{typed} has spaces around `=`: write `key=value` with none."


def id_after_option(typed: str) -> str:
    return f"{typed} comes after an option: put ids first, then `key=value` options."


def option_without_value(key: str) -> str:
    return f"Option {key} has no value: give one after `=`."


def unknown_option(key: str, valid: str | None) -> str:
    offered = f"valid options are {valid}" if valid else "this command takes no options"
    return f"Unknown option {key}: {offered}."


def option_twice(key: str) -> str:
    return f"Option `{key}` is given twice."


def missing_argument(noun: str, hint: str | None, *, several: bool) -> str:
    shape = f" ({hint})" if hint else ""
    return f"Missing the {noun}{shape}" + (": give one or more." if several else ".")


def unexpected_argument(typed: str) -> str:
    return f"Unexpected argument {typed}."


def given_twice(noun: str, typed: str) -> str:
    return f"The {noun} {typed} is given twice."


def missing_options(keys: str, how_many: int) -> str:
    return f"Missing option{'s' if how_many > 1 else ''} {keys}."


def nothing_to_change(keys: str) -> str:
    return f"Say what to change: give at least one of {keys}."


# ---- values -----------------------------------------------------------------------------


def not_an_id(typed: str, noun: str) -> str:
    return (
        f"{typed} is not a valid {noun}: ids are letters, digits and - _ . : (at most 128),"
        " and not dots alone."
    )


def not_a_setting(label: str, typed: str) -> str:
    return f"{label} cannot be {typed}: use letters, digits and - _ . : / @ + = , (at most 256)."


def not_yes_or_no(label: str, typed: str) -> str:
    return f"{label} must be yes or no (or true/false, on/off, 1/0), not {typed}."


def not_a_product(label: str, typed: str) -> str:
    return f"{label} must be jira or confluence, not {typed}."


def unknown_site(typed: str, known: str) -> str:
    return (
        f"Unknown site {typed}. Known sites: {known}."
        " Use an alias from ATLASSIAN_SITES or a cloud id."
    )


def not_a_schedule(typed: str) -> str:
    return f"The schedule must be weekly, daily or off, not {typed}."


def not_a_day(label: str, typed: str) -> str:
    return f"{label} must be a day such as mon, tue … sun, not {typed}."


def not_a_time_of_day(label: str, typed: str) -> str:
    return f"{label} must be a time of day as HH:MM (24 h), not {typed}."


def not_a_time_zone(label: str, typed: str) -> str:
    return f"{label} must be a time zone such as Europe/Berlin or UTC, not {typed}."


PERSONAL_SPACES_CONFLUENCE_ONLY = "Option `personal-spaces` applies only to Confluence policies."
DAY_ONLY_WEEKLY = "Option `day` is only for a weekly schedule."
OFF_TAKES_NO_OPTIONS = "`off` takes no options: it stops the schedule."

#: The closing paragraph of every help answer: how any command line is read.
GRAMMAR_NOTE = (
    "Give ids first, then options as `key=value` with no spaces around `=`."
    " Yes/no options also take true/false, on/off, 1/0. A SITE is an alias from"
    " ATLASSIAN_SITES (see `/backup sites`) or a cloud id; a product is jira or confluence."
    " Commands marked (admin) change things and need a bot admin."
    " On `/restore start`, `attachments=` says whether the backup's attachments are restored"
    " (default: as the backup has them) and `users=` whether its users and groups are"
    " (default yes; no keeps the destination's own users, groups and permissions as they are)."
)


# What a value may be, in the usage line's words.
PRODUCT_HINT: Final = "jira or confluence"
SCHEDULE_CHOICE_HINT: Final = "weekly, daily or off"


__all__ = [
    "DAY_ONLY_WEEKLY",
    "GRAMMAR_NOTE",
    "OFF_TAKES_NO_OPTIONS",
    "PERSONAL_SPACES_CONFLUENCE_ONLY",
    "PRODUCT_HINT",
    "SCHEDULE_CHOICE_HINT",
    "given_twice",
    "id_after_option",
    "missing_argument",
    "missing_options",
    "not_a_day",
    "not_a_product",
    "not_a_schedule",
    "not_a_setting",
    "not_a_time_of_day",
    "not_a_time_zone",
    "not_an_id",
    "not_yes_or_no",
    "nothing_to_change",
    "nothing_to_explain",
    "option_twice",
    "option_without_value",
    "spaces_around_equals",
    "unexpected_argument",
    "unknown_command",
    "unknown_option",
    "unknown_site",
]
