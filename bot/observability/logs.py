"""Log lines that cannot leak secrets, as text or as one JSON object per line.

``configure_logging(level, fmt)`` installs one handler on the root logger, so the bot's own
loggers and the libraries' (Bolt, slack_sdk, httpx, redis, aiohttp, asyncio) share its
level and format. Warnings go through logging too. Every line carries the context of
``bot.observability.context``: the request id (the reference a user is shown when
something went wrong), the command or button, and the kind of operation.

Redaction (``bot.redaction``) runs on every field: in text the formatted line is redacted;
in JSON each value is redacted before it is serialised, including values passed with
``extra=`` and the formatted stack trace, so a secret is caught whatever field carries it
and however JSON would have escaped it.

The HTTP clients log one line per request at INFO (httpx) and request details at DEBUG;
those per-request lines are kept at WARNING unless the level is DEBUG.
"""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pythonjsonlogger.json import JsonFormatter

from bot.observability.context import log_fields
from bot.redaction import redact


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Per-request chatter of the HTTP libraries: only worth its volume when debugging.
_PER_REQUEST_LOGGERS: Final = ("httpx", "httpcore", "aiohttp.access", "hpack")
_LIBRARY_LOGGERS: Final = (
    "slack_bolt",
    "slack_sdk",
    "redis",
    "aiohttp",
    "asyncio",
    "py.warnings",
)
_CONTEXT_KEYS: Final = ("request_id", "command", "action", "view", "event", "operation_kind")


class ContextFilter(logging.Filter):
    """Copies the current request's and operation's context onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in log_fields().items():
            setattr(record, key, value)
        return True


class RedactingFormatter(logging.Formatter):
    """Text lines; the request's context follows the message as ``key=value`` pairs."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{key}={value}" for key in _CONTEXT_KEYS if (value := getattr(record, key, None))
        )
        return redact(f"{line} [{context}]" if context else line)

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, context, exception."""

    def __init__(self) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: _redacted(value) for key, value in log_data.items()}


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode(errors="replace"))
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        return [_redacted(item) for item in value]
    # Anything else would be serialised through str(); redact that text instead.
    return redact(str(value))


def parse_level(text: str) -> int:
    """A level name (DEBUG, INFO, WARNING, ERROR, CRITICAL) as logging's number."""
    level = logging.getLevelNamesMapping().get(text.strip().upper())
    if level is None:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


_configured_format: LogFormat | None = None


def configure_logging(level: int = logging.INFO, fmt: LogFormat = LogFormat.TEXT) -> None:
    """Send every logger's records to stderr at ``level``, in ``fmt``."""
    global _configured_format
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    formatter: logging.Formatter = (
        RedactingJsonFormatter() if fmt is LogFormat.JSON else RedactingFormatter(TEXT_FORMAT)
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.setLevel(level)
        library.handlers.clear()
        library.propagate = True
    for name in _PER_REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)
    _configured_format = fmt


def report_fatal(message: str) -> None:
    """The one line a refused start-up prints: a JSON record when logs are JSON, else text."""
    if _configured_format is LogFormat.JSON:
        logging.getLogger("bot").critical(message)
    else:
        print(f"backup-bot: {redact(message)}", file=sys.stderr)


__all__ = [
    "ContextFilter",
    "LogFormat",
    "RedactingFormatter",
    "RedactingJsonFormatter",
    "configure_logging",
    "parse_level",
    "report_fatal",
]
