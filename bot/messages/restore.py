"""What the bot says about restores: the card, its thread, answers to clickers, refusals.

The workflow decides what must be said (bot/restore/notices.py, bot/restore/clicks.py);
every sentence it can lead to is here, in one place. Pure functions returning mrkdwn, with
anything that came from a request or from Atlassian escaped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final, assert_never

from bot.atlassian.models import ConsentCheck, Product
from bot.messages import storage
from bot.messages.text import (
    FINAL_OPERATION_TEXT,
    STATUS_EMOJI,
    ago,
    code,
    count,
    duration,
    esc,
    listing,
    mention,
    plain_time,
    status_words,
    when,
    yes_no,
)
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
from bot.restore.session import Refusal, RestoreSession, SessionState, is_custom_group_check

# -- refused clicks and restore form submissions ----------------------------------------


def click_not_on_its_card() -> str:
    return (
        "That button is not on this restore's own card, so nothing was changed; "
        "use the buttons on the card the bot posted for it."
    )


def unknown_form() -> str:
    return "The bot does not know this form, so nothing was changed; close it and start again."


def click_unknown_button() -> str:
    return "The bot does not know that button, so nothing was changed; use the buttons on the card."


def click_turned_away() -> str:
    return (
        "The bot has too many clicks to work through right now, so this one was not taken "
        "and nothing was changed; press the button again in a moment."
    )


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
                f":raised_hand: Validation found {count(checks, 'check')} that need an "
                "approver's answer on the card."
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
    Refusal.WRONG_CARD: click_not_on_its_card(),
    Refusal.UNKNOWN_ACTION: click_unknown_button(),
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


# -- the restore card --------------------------------------------------------------------

STATE_LINES: Final = {
    SessionState.AWAITING_START: ":raised_hand: Waiting for an approver to press *Start restore*.",
    SessionState.VALIDATING: ":hourglass_flowing_sand: Atlassian is validating the restore…",
    SessionState.AWAITING_CONSENT: ":raised_hand: Atlassian's validation found checks that "
    "need an approver's answer before the restore can run.",
    SessionState.REVALIDATING: ":hourglass_flowing_sand: Revalidating with the answers given…",
    SessionState.RUNNING: ":rocket: The restore is running.",
    SessionState.DONE: ":white_check_mark: The restore has finished.",
    SessionState.FAILED: ":x: The restore failed.",
    SessionState.CANCELLED: ":no_entry_sign: The restore was cancelled.",
    SessionState.EXPIRED: ":hourglass: This request expired: nobody decided within 24 hours. "
    "Start a new one with `/restore start`.",
}

# How a restore ended, by Atlassian's final status: each outcome heads the card in its own
# words (an incomplete restore must never read as simply finished).
ENDING_LINES: Final = {
    "COMPLETE": ":white_check_mark: The restore has finished.",
    "INCOMPLETE": ":warning: The restore finished incomplete: not everything in the backup "
    "was restored.",
    "FAILED": ":x: The restore failed.",
}
ENDING_WORDS: Final = {
    "COMPLETE": "finished",
    "INCOMPLETE": "finished incomplete",
    "FAILED": "failed",
}


# Where a restore stands, in the words of the card's notification text.
STATE_WORDS: Final = {
    SessionState.AWAITING_START: "waiting for an approver to start it",
    SessionState.VALIDATING: "Atlassian is validating it",
    SessionState.AWAITING_CONSENT: "waiting for consent",
    SessionState.REVALIDATING: "Atlassian is revalidating it",
    SessionState.RUNNING: "running",
    SessionState.DONE: "finished",
    SessionState.FAILED: "failed",
    SessionState.CANCELLED: "cancelled",
    SessionState.EXPIRED: "expired",
}
START_TITLE = "Start the restore?"
START_LABEL = "Start restore"
CANCEL_TITLE = "Cancel after validation?"
CANCEL_LABEL = "Cancel here"


def decide_before(deadline: datetime) -> str:
    return f"Decide before {when(deadline)}; after that it expires."


def start_confirmation(backup_id: str, dest: str) -> str:
    return f"This restores backup {esc(backup_id)} onto {dest} and changes its data."


def cancel_confirmation(restore_id: str, dest: str, until: datetime | None) -> str:
    lasts = f"until {plain_time(until)}" if until else "for about 24 hours"
    return (
        f"Atlassian offers no way to cancel a validated restore: restore {esc(restore_id)} "
        f"stays waiting for consent there and blocks {dest} {lasts}. Cancelling here only "
        "stops the bot from answering its checks."
    )


def cancelled_by_line(by: str) -> str:
    return f":no_entry_sign: The restore was cancelled by {mention(by)}."


def things_with_keys(product: object) -> str:
    """What carries keys in a product: Jira has projects, Confluence has spaces."""
    if product == Product.JIRA:
        return "projects"
    if product == Product.CONFLUENCE:
        return "spaces"
    return "projects or spaces"


def _check_parts(check: str, dest: str, product: object) -> tuple[str, str]:
    """A failed check in the bot's words: what Atlassian found, and what consent does."""
    label = product.label if isinstance(product, Product) else "the product"
    things = things_with_keys(product)
    parts = {
        ConsentCheck.CONFLICTING_SPACE.value: (
            f"{things.capitalize()} with the same keys already exist on *{dest}*.",
            f"If you consent, those {things} are skipped and *{dest}* keeps its own version "
            "of them.",
        ),
        ConsentCheck.CONFLICTING_GROUP.value: (
            f"Groups with the same names already exist on *{dest}*.",
            "If you consent, the groups are merged, and their members may gain permissions "
            "they should not have.",
        ),
        ConsentCheck.PRODUCT_LICENSE.value: (
            f"*{dest}* has a free or lower {label} plan than the backed-up site.",
            "If you consent, the restore goes ahead anyway; upgrading the plan first is advised.",
        ),
        ConsentCheck.SITE_LICENSE.value: (
            f"*{dest}* is on a free trial.",
            "If you consent, the restore goes ahead anyway; a standard, premium or enterprise "
            "licence is advised.",
        ),
        ConsentCheck.TDP_SHARD.value: (
            f"*{dest}* is on a different data shard than the backup.",
            "If you consent, the restore goes ahead anyway; the same shard is advised.",
        ),
    }
    if is_custom_group_check(check):
        return (
            "The backup contains custom groups.",
            f"*Accept custom groups* restores them onto *{dest}*; *Deny custom groups* leaves "
            "them out of the restore.",
        )
    return parts.get(
        check,
        (
            f"Atlassian found a problem on *{dest}* that needs consent before the restore runs.",
            "If you consent, the restore goes ahead anyway.",
        ),
    )


# Atlassian's own names for checks and answers, which only the API should read.
_API_WORDS: Final = re.compile(r"\b(?:Consent|Accept|Deny)_[A-Za-z_]+\b|\b[A-Z]+(?:_[A-Z]+)+\b")


def _atlassian_finding(message: str | None) -> str | None:
    """The first clause of Atlassian's message (what it found: which keys, which groups),
    or None when it names only API identifiers a person should not have to read."""
    if not message:
        return None
    finding = re.split(r"[;.]\s", message.strip(), maxsplit=1)[0].rstrip(" .;")
    if not finding or _API_WORDS.search(finding):
        return None
    return finding


def check_text(check: str, message: str | None, dest: str, product: object) -> str:
    """A failed validation check, said once: what was found (in Atlassian's words when they
    name the keys, groups or plans) and what consent does, in the bot's."""
    found, consequence = _check_parts(check, dest, product)
    finding = _atlassian_finding(message)
    if finding is not None:
        found = f"Atlassian found: {esc(finding)}."
    return f"{found} {consequence}"


def check_answer_line(consent: str, by: str | None) -> str:
    """Who answered a check and how, as a sentence."""
    if consent == ConsentCheck.ACCEPT_CUSTOM_GROUP.value:
        return f":white_check_mark: {mention(by)} accepted the custom groups: they are restored."
    if consent == ConsentCheck.DENY_CUSTOM_GROUP.value:
        return f":white_check_mark: {mention(by)} denied the custom groups: they are left out."
    return f":white_check_mark: {mention(by)} gave consent."


def started_line(
    started_by: str | None,
    restore_id: str | None,
    *,
    state: SessionState,
    since: datetime | None,
    ended_at: datetime | None,
    now: datetime,
) -> str:
    """Who started the restore, its id, and the time it has run or took."""
    line = f"Started by {mention(started_by)}"
    if restore_id:
        line += f" · restore {code(restore_id)}"
    if since is not None and state is SessionState.RUNNING:
        line += f" · running, started {ago(since)}"
    elif (
        since is not None
        and ended_at is not None
        and state
        in (
            SessionState.DONE,
            SessionState.FAILED,
        )
    ):
        line += f" · ended {when(ended_at)}, after {duration(ended_at - since)}"
    return line


# -- the decision log (`/restore show`) --------------------------------------------------


def check_name(check: str, product: object) -> str:
    """A validation check in a few words, as a person would name it."""
    if is_custom_group_check(check):
        return "the custom groups"
    label = product.label if isinstance(product, Product) else "product"
    names = {
        ConsentCheck.CONFLICTING_SPACE.value: f"{things_with_keys(product)} with the same keys",
        ConsentCheck.CONFLICTING_GROUP.value: "groups with the same names",
        ConsentCheck.PRODUCT_LICENSE.value: f"the destination's {label} plan",
        ConsentCheck.SITE_LICENSE.value: "the destination's free trial",
        ConsentCheck.TDP_SHARD.value: "the destination's data shard",
    }
    return names.get(check, "a check Atlassian raised")


_ATTEMPTS: Final = {
    "start": "tried to start the restore",
    "consent": "tried to answer a check",
    "cancel": "tried to cancel the request",
}


def _refused_because(detail: str) -> str:
    reason = detail.rsplit("(", 1)[-1].rstrip(")") if detail.endswith(")") else detail
    try:
        return refusal_message(Refusal(reason))
    except ValueError:
        # The store's own refusals carry their reason; any other was the clicker's role.
        return "their role does not allow it."


def _answered(detail: str, product: object) -> str:
    check, _, consent = detail.partition(" = ")
    if consent == ConsentCheck.ACCEPT_CUSTOM_GROUP.value:
        return "accepted the custom groups (they are restored)"
    if consent == ConsentCheck.DENY_CUSTOM_GROUP.value:
        return "denied the custom groups (they are left out)"
    return f"gave consent on {check_name(check, product)}"


def _checks_named(detail: str, product: object) -> str:
    checks = [check.strip() for check in detail.split(",") if check.strip()]
    return f"{count(len(checks), 'check')}: " + listing(
        [check_name(check, product) for check in checks]
    )


def _accepted(action: str, to: SessionState | None, detail: str, session: RestoreSession) -> str:
    product, dest = session.product, esc(session.dest_label)
    match action:
        case "requested":
            return (
                f"requested the restore of backup {code(session.backup_id)} onto *{dest}* "
                f"(attachments {yes_no(session.include_attachments)}, users and groups "
                f"{yes_no(session.include_users_and_groups)})"
            )
        case "start":
            return "pressed *Start restore*; Atlassian was asked to validate"
        case "start_not_sent":
            return "could not reach Atlassian, so nothing was started; Start can be pressed again"
        case "validation_failed":
            return "was asked by Atlassian's validation for consent on " + _checks_named(
                detail, product
            )
        case "consent":
            return _answered(detail, product)
        case "revalidate":
            return "gave the last answer needed; Atlassian was asked to revalidate"
        case "running":
            return f"saw Atlassian start restore {code(session.restore_id)}"
        case "cancel":
            # The audit detail says what the cancel left at Atlassian, if anything.
            left = detail.removeprefix("cancelled ").strip()
            return "cancelled the request" + (f" ({esc(left)})" if left else "")
        case "expired":
            return "closed the request: nobody decided within 24 hours"
        case "gone":
            return "stopped following the restore: Atlassian no longer reports it"
        case "recovered_not_started":
            return "found no such restore at Atlassian, so nothing was started"
        case "finished":
            # Worded afresh from Atlassian's final status: the outcome stored back then may
            # be in words older than today's, or Atlassian's own.
            ended = ENDING_WORDS.get(session.final_status or "", STATE_WORDS[to or session.state])
            return f"saw the restore end: it {ended}"
    if to is SessionState.FAILED:
        return "recorded that the restore failed" + (
            f": {esc(session.outcome.rstrip('.'))}" if session.outcome else ""
        )
    if to in (SessionState.DONE,):
        ended = ENDING_WORDS.get(session.final_status or "", "finished")
        return f"saw the restore end: it {ended}"
    return "recorded a step" + (f" ({esc(action.replace('_', ' '))})" if action else "")


def decision_line(
    *,
    at: datetime,
    actor: str,
    action: str,
    outcome: str,
    to: SessionState | None,
    detail: str,
    session: RestoreSession,
) -> str:
    """One entry of a restore's decision log as a person would write it: when, who, what,
    on which check, and what came of it."""
    who = mention(actor)
    if outcome != "ok":
        attempt = _ATTEMPTS.get(action, "tried to act on the request")
        return f"• {when(at)} {who} {attempt}; refused: {_refused_because(detail)}"
    return f"• {when(at)} {who} {_accepted(action, to, detail, session)}."


# -- refusals of a new request ------------------------------------------------------------


def another_restore_under_way(session: RestoreSession) -> str:
    """A new request onto a site the bot's own unfinished restore holds: which one, and where."""
    dest = esc(session.dest_label)
    running = session.state is SessionState.RUNNING
    what = f"restore {code(session.restore_id)}" if session.restore_id else "a restore request"
    where = f" Its card is in <#{esc(session.channel)}>" if session.channel else " Its card"
    step = (
        "; wait for it to finish there before asking again."
        if running
        else "; finish or cancel it there before asking again."
    )
    return (
        f"Another restore onto *{dest}* is already under way: {what} of backup "
        f"{code(session.backup_id)}, requested by {mention(session.requester)} "
        f"{when(session.created_at)}.{where}{step}"
    )


def restorable_instead(reason: str, backups: list[tuple[str, str]], dest: str) -> str:
    """A backup that cannot be restored, and the backups of the same policy that can."""
    if not backups:
        return (
            f"{reason} No backup of that policy can be restored now; `/backup run` takes a new one."
        )
    listed = listing([f"`{backup_id}` ({age} old)" for backup_id, age in backups[:3]])
    newest = backups[0][0]
    return (
        f"{reason} Restorable backups of the same policy: {listed}; "
        f"`/restore start {newest} to={dest}` restores the newest."
    )


def open_card(link: str) -> str:
    return f"<{esc(link)}|Open its card>."


def backup_choice(
    backup_id: str, status: str, *, site: str, age: str, expiry: datetime | None
) -> tuple[str, str]:
    """A backup in the restore form's list (plain text): the label with its id, age and an
    incomplete backup marked, and the line below it with its site and expiry."""
    mark = "⚠ INCOMPLETE · " if status == "INCOMPLETE" else ""
    expires = f" · expires {plain_time(expiry)}" if expiry is not None else ""
    return f"{mark}{backup_id} · {age} old", f"from {site}{expires}"


# -- how a restore session ended (its outcome, plain text shown escaped) -------------------

LOST_THE_RESTORE_ID = "The bot lost the restore's id; look at the restore in admin.atlassian.com."
CARD_NOT_POSTED = "The restore card could not be posted."
NOTHING_MISSING_SAID = "it does not say what is missing"


def atlassian_refused_restore(why: str) -> str:
    return f"Atlassian refused the restore: {why}"


def atlassian_refused_consents(why: str) -> str:
    return f"Atlassian refused the consents: {why}"


def consent_without_checks(restore_id: str) -> str:
    return (
        f"Atlassian says restore {restore_id} needs consent but named no check the bot can "
        "read, so nothing was consented; look at the restore in admin.atlassian.com."
    )


def atlassian_failed_it(reason: str | None) -> str:
    return f"Atlassian reports the restore failed: {reason or 'no reason given'}."


def atlassian_reports(status: object, message: str | None) -> str:
    said = f"Atlassian reports {status_words(status).lower()}"
    return said + (f": {message}" if message else ".")


def restore_gone(restore_id: str) -> str:
    return (
        f"Atlassian no longer reports restore {restore_id}; check admin.atlassian.com before "
        "restoring onto this site again."
    )


def backup_without_product(backup_id: str) -> str:
    return (
        f"Atlassian did not say which product and site backup {backup_id} belongs to, so the "
        "bot will not restore it; `/backup show` tells what Atlassian says about it."
    )


def being_requested_now(dest: str) -> str:
    return (
        f"Another restore onto {dest} is being requested right now; look at its card before "
        "requesting another."
    )


def cancelled_outcome(user: str) -> str:
    return f"Cancelled by {mention(user)}."


def nothing_restored_yet_held(left: PendingAtAtlassian, dest: str) -> str:
    """A cancelled request whose restore still waits at Atlassian: it holds, nothing ran."""
    return f":warning: {still_pending(left, dest)} Nothing was restored."


def none_restorable(product_label: str) -> str:
    return f"No {product_label} backup can be restored right now."


__all__ = [
    "CANCEL_LABEL",
    "CANCEL_TITLE",
    "CARD_NOT_POSTED",
    "CHECKING_REPLY",
    "ENDING_LINES",
    "ENDING_WORDS",
    "LOST_THE_RESTORE_ID",
    "NOTHING_MISSING_SAID",
    "SETTLED_REPLY",
    "START_LABEL",
    "START_TITLE",
    "STATE_LINES",
    "STATE_WORDS",
    "STILL_CHECKING_REPLY",
    "another_restore_under_way",
    "atlassian_failed_it",
    "atlassian_refused_consents",
    "atlassian_refused_restore",
    "atlassian_reports",
    "backup_choice",
    "backup_without_product",
    "being_requested_now",
    "cancel_confirmation",
    "cancelled_by_line",
    "cancelled_outcome",
    "check_answer_line",
    "check_name",
    "check_text",
    "click_not_on_its_card",
    "click_reply",
    "click_turned_away",
    "click_unknown_button",
    "consent_without_checks",
    "decide_before",
    "decision_line",
    "destination_busy",
    "form_gone",
    "form_not_yours",
    "form_pick_a_backup",
    "form_pick_a_destination",
    "form_pick_offered_options",
    "mention",
    "none_restorable",
    "nothing_restored_yet_held",
    "notice_line",
    "open_card",
    "refusal_message",
    "restorable_instead",
    "restore_gone",
    "settled_reply",
    "start_confirmation",
    "started_line",
    "still_pending",
    "things_with_keys",
    "unknown_form",
]
