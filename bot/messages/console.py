"""What the local console says about itself (not what the bot says inside it)."""

from __future__ import annotations

from bot.messages.text import count


def nothing_to_submit() -> str:
    return (
        "this form has no submit button yet: pick the choices it shows first (`choose …`, or a "
        "number), and submit once its button appears"
    )


def store_in_redis(url: str, prefix: str, hours: int) -> str:
    return (
        f"Redis at {url}, keys under {prefix} only (nothing else is read, changed or deleted; "
        f"they expire {count(hours, 'hour')} after the console stops)"
    )


def store_in_memory(reason: str) -> str:
    return f"an in-process store ({reason}); its state ends with the console"


NO_REDIS_URL = "REDIS_URL is not set, so no Redis is used even if one runs on the default address"


BANNER_TITLE = "Atlassian backup bot: local console"
FOUR_EYES_ON = "Four-eyes is on: a restore's requester cannot approve it."
FOUR_EYES_OFF = "Four-eyes is off (--four-eyes turns it on)."


def banner_atlassian(sites: str, url: str, op_seconds: float) -> str:
    return f"Atlassian: the simulated demo org ({sites}) at {url}; operations take {op_seconds:g} s"


def banner_slack(channel: str, url: str, poll_seconds: float) -> str:
    return (
        f"Slack: a local stand-in, channel #{channel}; the bot serves signed requests at {url} "
        f"and checks running operations every {poll_seconds:g} s"
    )


def banner_state(description: str) -> str:
    return f"State: {description}"


def banner_you(name: str, roles: str) -> str:
    return (
        f"You are {name} ({roles}). /users (or /as) lists people, /as bob switches, /help lists "
        "console commands, /backup help the bot's."
    )


__all__ = [
    "BANNER_TITLE",
    "FOUR_EYES_OFF",
    "FOUR_EYES_ON",
    "NO_REDIS_URL",
    "banner_atlassian",
    "banner_slack",
    "banner_state",
    "banner_you",
    "nothing_to_submit",
    "store_in_memory",
    "store_in_redis",
]
