"""Removing secrets from anything that may reach a log line, a message or an exception."""

from __future__ import annotations

import re
from collections.abc import Iterable

_REDACTED = "[redacted]"

# Shapes of secrets this bot handles, matched even when nobody registered the value:
# Slack tokens, Basic credentials and Atlassian API tokens (ATATT... prefix).
_PATTERNS = (
    re.compile(r"xox[abposr]-[A-Za-z0-9-]{6,}"),
    re.compile(r"xapp-[A-Za-z0-9-]{6,}"),
    re.compile(r"(?i)(authorization:\s*)(basic|bearer)\s+[A-Za-z0-9+/=._-]+"),
    re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._-]{12,}"),
    re.compile(r"ATATT[A-Za-z0-9_=-]{8,}"),
)


class Redactor:
    """Replaces registered secret values and well-known token shapes with a marker."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        # Very short values would blank out ordinary words; nobody's real secret is that short.
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(_REDACTED, text)
        return text


# Process-wide redactor; settings register their secrets here at start-up.
redact = Redactor()
