"""What the bot says about a command as typed: ids it does not know, what was probably meant."""

from __future__ import annotations

from bot.messages.text import code, esc


def no_such_id(noun: str, typed: str, *, site: str | None, hint: str, meant: str | None) -> str:
    """Atlassian knows no ``noun`` with the id typed; the closest known id when there is one."""
    where = f" on site {esc(site)}" if site else ""
    said = f"Atlassian has no {noun} {code(typed)}{where}"
    if meant is not None:
        return f"{said}. Did you mean {code(meant)}? Otherwise {hint}."
    return f"{said}; {hint}."


__all__ = ["no_such_id"]
