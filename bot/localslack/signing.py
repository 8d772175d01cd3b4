"""Slack's request signing (v0), computed the way Slack computes it for every HTTP delivery."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"


def signature(signing_secret: str, body: bytes, timestamp: int) -> str:
    """The `v0=<hex>` value of X-Slack-Signature for this body sent at this Unix time."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def sign(signing_secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The two headers Slack adds to a request so the app can prove it came from Slack."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(signing_secret, body, timestamp),
    }
