"""What the text of one argument may be: an id, a storage setting, a boolean, a product, a site.

Pure: no I/O. Each :class:`ValueType` reads a token into a typed value or raises
:class:`Mistake` with one sentence, in which the user's text is quoted by :func:`shown`
(clipped, escaped for mrkdwn, in backticks) so it cannot ping, link or break the line.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from typing import Final, Generic, NamedTuple, TypeAlias, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.assurance.schedules import Weekday
from bot.atlassian.models import Product
from bot.config import SiteDirectory
from bot.messages import usage
from bot.messages.text import esc

T = TypeVar("T")

# An id of dots only would be a dot segment in the API path, which URL normalisation removes.
_ID_PATTERN = re.compile(r"(?!\.+$)[A-Za-z0-9_.:-]{1,128}")
# Storage settings carry ARNs (`arn:aws:iam::1:role/x`), S3 prefixes and AWS tags, so they
# allow a few more characters than ids, but still nothing that mrkdwn or Slack would act on.
_SETTING_PATTERN = re.compile(r"[A-Za-z0-9_.:/@+=,-]{1,256}")
_ECHO_LIMIT = 60

_BOOLEANS: Final[Mapping[str, bool]] = {
    "yes": True,
    "true": True,
    "on": True,
    "1": True,
    "no": False,
    "false": False,
    "off": False,
    "0": False,
}
_PRODUCTS: Final[Mapping[str, Product]] = {"jira": Product.JIRA, "confluence": Product.CONFLUENCE}


escape_mrkdwn = esc


def shown(text: str) -> str:
    """User text made safe to quote in a one-line mrkdwn message: clipped, escaped, in backticks."""
    clipped = text if len(text) <= _ECHO_LIMIT else text[: _ECHO_LIMIT - 1] + "…"
    # A backtick would close the code span early and a newline would break the sentence.
    printable = "".join(
        ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in clipped
    ).replace("`", "'")
    return f"`{escape_mrkdwn(printable)}`"


class Mistake(Exception):
    """A value that does not fit its type; :func:`bind` adds the command's usage."""


class Subject(NamedTuple):
    """What a value is called in a problem: ``noun`` "policy id", ``label`` "Option `site`"."""

    noun: str
    label: str


Reader: TypeAlias = Callable[[str, Subject, SiteDirectory], T]


@dataclass(frozen=True, slots=True)
class ValueType(Generic[T]):
    """How the text of one argument becomes a value, and how usage lines show it.

    ``placeholder`` None means the argument's own name in capitals (``POLICY_ID``); ``hint``
    is added when the argument is missing: "Missing the product (jira or confluence).".
    """

    read: Reader[T]
    placeholder: str | None = None
    hint: str | None = None


def _identifier(text: str, subject: Subject, sites: SiteDirectory) -> str:
    if not _ID_PATTERN.fullmatch(text):
        raise Mistake(usage.not_an_id(shown(text), subject.noun))
    return text


def _setting(text: str, subject: Subject, sites: SiteDirectory) -> str:
    if not _SETTING_PATTERN.fullmatch(text):
        raise Mistake(usage.not_a_setting(subject.label, shown(text)))
    return text


def _boolean(text: str, subject: Subject, sites: SiteDirectory) -> bool:
    if text.lower() not in _BOOLEANS:
        raise Mistake(usage.not_yes_or_no(subject.label, shown(text)))
    return _BOOLEANS[text.lower()]


def _product(text: str, subject: Subject, sites: SiteDirectory) -> Product:
    if text.lower() not in _PRODUCTS:
        raise Mistake(usage.not_a_product(subject.label, shown(text)))
    return _PRODUCTS[text.lower()]


def _site(text: str, subject: Subject, sites: SiteDirectory) -> str:
    cloud_id = sites.resolve(text)
    if cloud_id is None:
        known = ", ".join(sorted(sites.aliases)) or "none"
        raise Mistake(usage.unknown_site(shown(text), known))
    return cloud_id


class Destination(NamedTuple):
    """A site to restore onto: its cloud id, and the alias typed (or the site's name)."""

    cloud_id: str
    label: str


def _destination(text: str, subject: Subject, sites: SiteDirectory) -> Destination:
    cloud_id = _site(text, subject, sites)
    typed = text.lower()
    return Destination(cloud_id, typed if typed in sites.aliases else sites.name(cloud_id))


class AtlassianStorage(enum.Enum):
    """`storage=atlassian`: keep backups in Atlassian's storage (the API's storageId null)."""

    ATLASSIAN = "atlassian"


ATLASSIAN_STORAGE: Final = AtlassianStorage.ATLASSIAN


def _storage_choice(text: str, subject: Subject, sites: SiteDirectory) -> str | AtlassianStorage:
    if text.lower() == ATLASSIAN_STORAGE.value:
        return ATLASSIAN_STORAGE
    return _identifier(text, Subject("storage id", subject.label), sites)


def _storage_id(text: str, subject: Subject, sites: SiteDirectory) -> str | None:
    choice = _storage_choice(text, subject, sites)
    return None if choice is ATLASSIAN_STORAGE else choice


ID: Final = ValueType(_identifier)
SETTING: Final = ValueType(_setting)
BOOLEAN: Final = ValueType(_boolean, "yes|no")
PRODUCT: Final = ValueType(_product, "jira|confluence", hint=usage.PRODUCT_HINT)
SITE: Final = ValueType(_site, "SITE")
DESTINATION: Final = ValueType(_destination, "SITE")
#: For a change: ATLASSIAN_STORAGE moves back to Atlassian's storage, apart from "not said".
STORAGE_CHOICE: Final = ValueType(_storage_choice, "STORAGE_ID|atlassian")
#: For something new: Atlassian's storage is the API's null, the same as not saying.
STORAGE_ID: Final = ValueType(_storage_id, "STORAGE_ID|atlassian")


class ScheduleChoice(enum.StrEnum):
    """What `/backup schedule` asks for: a cadence, or no schedule any more."""

    WEEKLY = "weekly"
    DAILY = "daily"
    OFF = "off"


_TIME_PATTERN = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_DAY_WORDS: Final[Mapping[str, Weekday]] = {
    **{day.word: day for day in Weekday},
    **{
        name: day
        for day, name in zip(
            Weekday,
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
            strict=True,
        )
    },
}


def _schedule_choice(text: str, subject: Subject, sites: SiteDirectory) -> ScheduleChoice:
    try:
        return ScheduleChoice(text.lower())
    except ValueError:
        raise Mistake(usage.not_a_schedule(shown(text))) from None


def _weekday(text: str, subject: Subject, sites: SiteDirectory) -> Weekday:
    day = _DAY_WORDS.get(text.lower())
    if day is None:
        raise Mistake(usage.not_a_day(subject.label, shown(text)))
    return day


def _time_of_day(text: str, subject: Subject, sites: SiteDirectory) -> time:
    match = _TIME_PATTERN.fullmatch(text)
    if match is None:
        raise Mistake(usage.not_a_time_of_day(subject.label, shown(text)))
    return time(int(match.group(1)), int(match.group(2)))


def _time_zone(text: str, subject: Subject, sites: SiteDirectory) -> str:
    if text.upper() == "UTC":
        return "UTC"
    try:
        if text in available_timezones():
            ZoneInfo(text)
            return text
    except (ZoneInfoNotFoundError, ValueError):
        pass
    raise Mistake(usage.not_a_time_zone(subject.label, shown(text)))


SCHEDULE_CHOICE: Final = ValueType(
    _schedule_choice, "weekly|daily|off", hint=usage.SCHEDULE_CHOICE_HINT
)
WEEKDAY: Final = ValueType(_weekday, "mon..sun")
TIME_OF_DAY: Final = ValueType(_time_of_day, "HH:MM")
TIME_ZONE: Final = ValueType(_time_zone, "AREA/CITY")
