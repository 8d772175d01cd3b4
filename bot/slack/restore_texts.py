"""What the restore workflow says in words: thread notices and answers to the clicker.

The workflow decides what must be said (bot/restore/notices.py, bot/restore/clicks.py);
every sentence it can lead to is here, in one place. Pure functions: mrkdwn, with anything
that came from a request or from Atlassian escaped.
"""

from __future__ import annotations

from typing import Final, assert_never

from bot.messages import restore as said
from bot.messages import storage
from bot.restore import notices
from bot.restore.blocking import PendingAtAtlassian
from bot.restore.clicks import (
    Accepted,
    Checking,
    ClickResult,
    NotAllowed,
    NotRecorded,
    Refused,
)
from bot.restore.session import Refusal, RestoreSession
from bot.slack.blocks import FINAL_OPERATION_TEXT, STATUS_EMOJI, Message, code, section, when
from bot.slack.commands import escape_mrkdwn as esc


def mention(user: str | None) -> str:
    return f"<@{esc(user)}>" if user else "the bot"


def still_pending(left: PendingAtAtlassian, dest: str) -> str:
    """A validated restore that stays at Atlassian after its card was cancelled, in words."""
    until = f"until {when(left.until)}" if left.until else "for about 24 hours"
    return (
        f"Restore {code(left.restore_id)} is still waiting for consent at Atlassian, which "
        f"offers no way to cancel it: it blocks *{dest}* {until}, when Atlassian lets it lapse."
    )


def notice_line(notice: notices.Notice, session: RestoreSession) -> str:
    """The words for a notice in the thread of ``session``'s card (mrkdwn, API text escaped)."""
    match notice:
        case notices.RestoreRunning(restore_id=restore_id, dest_label=dest_label):
            return (
                f":rocket: Restore {code(restore_id)} is running on {esc(dest_label)}; "
                "this card follows it to the end."
            )
        case notices.RestoreEnded(
            restore_id=restore_id, status=status, status_message=message, report_url=url
        ):
            emoji = STATUS_EMOJI.get(status, ":grey_question:")
            verb = FINAL_OPERATION_TEXT.get(status, f"ended with the status {esc(status)}")
            line = f"{emoji} Restore {code(restore_id)} {verb}" + (
                f": {esc(message)}" if message else "."
            )
            if url:
                line += f"\n:page_facing_up: <{esc(url)}|Post-restore report>"
            return line
        case notices.ConsentNeeded(checks=checks):
            return (
                f":raised_hand: Validation found {checks} check(s) that need an approver's "
                "answer on the card."
            )
        case notices.CreateUnconfirmed():
            return (
                ":grey_question: Atlassian did not confirm the restore request. The bot will look "
                "it up and update this card; do not start another restore meanwhile."
            )
        case notices.NotStarted(reason=reason):
            return f":warning: {esc(reason)} Nothing was started; press Start again."
        case notices.RestoreFailed(outcome=outcome):
            return f":x: {esc(outcome)}"
        case notices.RevalidateUnanswered():
            return (
                ":grey_question: Atlassian did not answer the revalidation; the bot will retry it."
            )
        case notices.Cancelled(by=by, pending=left):
            line = f":no_entry_sign: Cancelled by {mention(by)}; nothing was restored."
            if left is not None:
                line += f" {still_pending(left, esc(session.dest_label))}"
            return line
        case notices.Expired():
            return ":hourglass: Expired: nobody decided within 24 hours."
        case notices.NothingStarted():
            return (
                ":warning: Atlassian has no record of this restore, so nothing was started; "
                "an approver can press Start again."
            )
        case _:
            assert_never(notice)


def restore_thread_line(session: RestoreSession, line: str) -> Message:
    """A line in the thread of ``session``'s card, with the same text for notifications."""
    return Message(text=line, blocks=[section(line)])


def notice_message(notice: notices.Notice, session: RestoreSession) -> Message:
    return restore_thread_line(session, notice_line(notice, session))


_REFUSAL_MESSAGES: Final = {
    Refusal.UNKNOWN: "This restore request is unknown to the bot; start a new one with "
    "`/restore start`.",
    Refusal.EXPIRED: "This restore request expired because nobody decided in time; "
    "start a new one with `/restore start`.",
    Refusal.FINISHED: "This restore request is already finished, so nothing was changed.",
    Refusal.WRONG_STATE: "This restore request has moved on since these buttons were shown, "
    "so nothing was changed; see the card for its current state.",
    Refusal.UNKNOWN_CHECK: "That check is not waiting for an answer on this restore.",
    Refusal.INVALID_CONSENT: "That answer does not fit this check; use the check's own buttons.",
    Refusal.WRONG_CARD: said.click_not_on_its_card(),
    Refusal.UNKNOWN_ACTION: said.click_unknown_button(),
}


def settled_reply(result: ClickResult) -> str:
    """What the clicker is told once the bot learnt what their unconfirmed click did."""
    if isinstance(result, Checking):
        return STILL_CHECKING_REPLY
    return click_reply(result) or SETTLED_REPLY


def refusal_message(reason: Refusal | str | None, *, answered_by: str | None = None) -> str:
    """One sentence for the clicker explaining why their click changed nothing."""
    if reason == Refusal.ALREADY_ANSWERED:
        who = f"<@{esc(answered_by)}>" if answered_by else "Someone"
        return f"{who} already answered this check, so nothing was changed."
    try:
        return _REFUSAL_MESSAGES[Refusal(reason or "")]
    except (ValueError, KeyError):
        return "That click changed nothing on this restore."


CHECKING_REPLY: Final = (
    ":hourglass_flowing_sand: The bot's database did not confirm your click in time, so it "
    "may or may not have taken effect. The bot is checking now; the card will show the outcome."
)
STILL_CHECKING_REPLY: Final = (
    ":hourglass_flowing_sand: The bot's database is still not answering. The bot will settle "
    "your click as soon as it answers; the card will show the outcome."
)
SETTLED_REPLY: Final = (
    ":white_check_mark: Checked: your click went through; the card shows what followed."
)


def click_reply(result: ClickResult) -> str | None:
    """What the clicker alone is told about their click; None when the card says it all."""
    match result:
        case Accepted():
            return None
        case Checking():
            return CHECKING_REPLY
        case Refused(reason=reason, answered_by=answered_by):
            return refusal_message(reason, answered_by=answered_by)
        case NotAllowed(why=why):
            return why
        case NotRecorded():
            return storage.click_not_recorded()
        case _:
            assert_never(result)


__all__ = [
    "CHECKING_REPLY",
    "SETTLED_REPLY",
    "STILL_CHECKING_REPLY",
    "click_reply",
    "mention",
    "notice_line",
    "notice_message",
    "refusal_message",
    "restore_thread_line",
    "settled_reply",
    "still_pending",
]
