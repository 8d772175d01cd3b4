"""What the local console says about itself (not what the bot says inside it)."""

from __future__ import annotations


def nothing_to_submit() -> str:
    return (
        "this form has no submit button yet: pick the choices it shows first (`choose …`, or a "
        "number), and submit once its button appears"
    )


def store_in_redis(url: str, prefix: str, hours: int) -> str:
    return (
        f"Redis at {url}, keys under {prefix} only (nothing else is read, changed or deleted; "
        f"they expire {hours} hours after the console stops)"
    )


def store_in_memory(reason: str) -> str:
    return f"an in-process store ({reason}); its state ends with the console"


NO_REDIS_URL = "REDIS_URL is not set, so no Redis is used even if one runs on the default address"


__all__ = ["NO_REDIS_URL", "nothing_to_submit", "store_in_memory", "store_in_redis"]
