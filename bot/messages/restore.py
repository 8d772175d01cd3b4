"""What the bot says about restores: refused clicks and refused restore form submissions."""

from __future__ import annotations


def click_not_on_its_card() -> str:
    return (
        "That button is not on this restore's own card, so nothing was changed; "
        "use the buttons on the card the bot posted for it."
    )


def unknown_form() -> str:
    return "The bot does not know this form, so nothing was changed; close it and start again."


def click_unknown_button() -> str:
    return "The bot does not know that button, so nothing was changed; use the buttons on the card."
