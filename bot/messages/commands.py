"""What the bot says about a command as typed: ids it does not know, what was probably meant."""

from __future__ import annotations

from bot.messages.text import code, esc, status_words


def no_such_id(noun: str, typed: str, *, site: str | None, hint: str, meant: str | None) -> str:
    """Atlassian knows no ``noun`` with the id typed; the closest known id when there is one."""
    where = f" on site {esc(site)}" if site else ""
    said = f"Atlassian has no {noun} {code(typed)}{where}"
    if meant is not None:
        return f"{said}. Did you mean {code(meant)}? Otherwise {hint}."
    return f"{said}; {hint}."


CANNOT_POST_HERE = (
    "The bot cannot post in this channel; invite it with `/invite @backup-bot` and run the "
    "command again."
)
SLACK_DID_NOT_ANSWER = (
    "Slack did not answer when the bot posted its status card; nothing was started, try again."
)


def card_refused(error: str, card: str = "status card") -> str:
    return f"Slack refused the bot's {card} ({error}); nothing was started, try again."


def posting_too_fast(retry_after: float) -> str:
    return (
        "Slack is limiting how fast the bot may post here; nothing was started, try again in "
        f"{max(1, round(retry_after))} s."
    )


def done_but_only_you_see_it(error: str) -> str:
    return (
        f":warning: Done, but Slack would not let the bot post this in the channel "
        f"({esc(error)}), so only you can see it; do not run the command again."
    )


def export_site_unknown(export_id: str) -> str:
    return (
        f"The bot does not know which site export `{export_id}` belongs to; add site=ALIAS "
        "(`/backup sites` lists them)."
    )


def import_site_unknown(import_id: str) -> str:
    return (
        f"The bot did not start import `{import_id}`, so it does not know its site; add "
        "site=ALIAS (`/backup sites` lists them)."
    )


def report_not_yet(restore_id: str, status: object) -> str:
    return (
        f"Restore {restore_id} has not run yet ({status_words(status)}); its report exists once "
        f"it has finished, and `/restore show {restore_id}` tells where it stands."
    )


def no_report_yet(restore_id: str, site: str) -> str:
    return (
        f"Atlassian has no report for restore `{restore_id}` on site {site} yet; a report "
        f"appears once the restore has finished (`/restore show {restore_id}` tells where it "
        "stands)."
    )


def no_such_restore(ref: str, site: str | None) -> str:
    where = f" on site {esc(site)}" if site else ""
    return f"No restore or migration has the id `{ref}`{where}; `/restore list` shows the restores."


def something_went_wrong(what: str, reference: str) -> str:
    return (
        f"Something went wrong while handling {what}; nothing more was changed. Try again, and "
        f"give the bot's operator the reference {reference} if it fails again."
    )


__all__ = [
    "CANNOT_POST_HERE",
    "SLACK_DID_NOT_ANSWER",
    "card_refused",
    "done_but_only_you_see_it",
    "export_site_unknown",
    "import_site_unknown",
    "no_report_yet",
    "no_such_id",
    "no_such_restore",
    "posting_too_fast",
    "report_not_yet",
    "something_went_wrong",
]
