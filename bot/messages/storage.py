"""What people are told when the bot's database (Redis) cannot be reached."""

from __future__ import annotations


def click_not_recorded() -> str:
    """A click that never reached a decision: Redis did not answer before anything was written."""
    return (
        "Your click was not recorded: the bot's database did not answer (it may be "
        "switching to a standby). Nothing was changed; press the button again in a few seconds."
    )


__all__ = ["click_not_recorded"]
