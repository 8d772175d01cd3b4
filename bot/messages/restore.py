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


def form_pick_a_backup() -> str:
    return "Pick one of the backups this form lists."


def form_pick_a_destination() -> str:
    return "Pick one of the sites this form lists to restore onto."


def form_pick_offered_options() -> str:
    return "Tick only the options this form shows."


def form_gone() -> str:
    return (
        "This restore form is no longer open (it was opened more than an hour ago, or "
        "elsewhere); close it and run `/restore` again."
    )


def form_not_yours() -> str:
    return "Only the person who opened this restore form can use it; run `/restore` yourself."


def destination_busy(dest: str) -> str:
    return (
        f"Another restore onto {dest} is already under way; finish or cancel it on its card first."
    )
