"""What a status card says at each step of starting an operation from a slash command.

Pure functions from ``OperationCard`` to the next card: started (with the id Atlassian
gave), failed to start, and a change announced in the channel.
"""

from __future__ import annotations

from typing import Any

from bot.errors import BotError
from bot.messages import operations as operation_words
from bot.slack import blocks
from bot.slack.blocks import Message, OperationCard


def announced(message: Message, line: str) -> Message:
    return Message(text=f"{line} {message.text}", blocks=[blocks.context(line), *message.blocks])


def started(view: OperationCard, operation_id: str, status: object, at: Any) -> OperationCard:
    return OperationCard(
        kind=view.kind,
        operation_id=operation_id,
        product=view.product,
        site=view.site,
        started_by=view.started_by,
        status=status,
        started_at=at or view.started_at,
        detail=view.detail,
    )


def failed_to_start(view: OperationCard, error: BotError) -> Message:
    failed = OperationCard(
        kind=view.kind,
        operation_id="(not started)",
        product=view.product,
        site=view.site,
        started_by=view.started_by,
        status="FAILED",
        started_at=view.started_at,
        status_message=operation_words.could_not_start(error.user_message),
        detail=view.detail,
    )
    return blocks.operation_card(failed)


__all__ = ["announced", "failed_to_start", "started"]
