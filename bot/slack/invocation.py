"""Who ran a command and what came of posting its card: the small types every handler shares."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import BotError
from bot.messages import commands as command_words


@dataclass(frozen=True, slots=True)
class Invocation:
    """Who ran a command, and where: the channel and the workspace (team) it is in."""

    user_id: str
    channel_id: str
    team_id: str = ""


@dataclass(frozen=True, slots=True)
class PostedCard:
    channel: str
    ts: str


class NotTracked(BotError):
    """Work started at Atlassian, but the bot could not save it for tracking."""

    def __init__(self, kind: str, operation_ids: str, status_command: str) -> None:
        super().__init__(command_words.not_tracked(kind, operation_ids, status_command))


class SlackPostFailed(BotError):
    """The bot could not post in the channel; the message says how to fix it."""

    def __init__(self, message: str, *, error: str) -> None:
        super().__init__(message)
        self.error = error


def product_name(product: object) -> str | None:
    return str(product) if product else None


__all__ = ["Invocation", "NotTracked", "PostedCard", "SlackPostFailed", "product_name"]
