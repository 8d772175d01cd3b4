"""Block Kit for restores: the restore card and the restore modal. Pure functions.

Buttons carry only the session id (unguessable); the action id says what was pressed and,
for consent buttons, which check and which answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.atlassian import rules
from bot.atlassian.models import Backup, ConsentCheck, Product
from bot.messages import labels
from bot.messages import restore as words
from bot.messages.restore import (
    ENDING_LINES,
    ENDING_WORDS,
    STATE_LINES,
    backup_choice,
    cancelled_by_line,
    check_answer_line,
    check_text,
    mention,
    notice_line,
    started_line,
)
from bot.messages.text import code, status_label, when, yes_no
from bot.restore import notices
from bot.restore.blocking import pending_of
from bot.restore.facts import BackupFacts
from bot.restore.session import (
    RestoreSession,
    SessionState,
    valid_consents,
)
from bot.slack.blocks import (
    Block,
    Message,
    context,
    divider,
    fields,
    header,
    product_label,
    section,
)
from bot.slack.commands import escape_mrkdwn as esc

ACTION_START = "restore_start"
ACTION_CANCEL = "restore_cancel"
ACTION_ANSWER_PREFIX = "restore_answer:"

MODAL_CALLBACK = "restore_modal"
MODAL_PRODUCT_ACTION = "restore_modal_product"
BLOCK_PRODUCT, BLOCK_BACKUP, BLOCK_DEST, BLOCK_OPTIONS = (
    "product",
    "backup",
    "destination",
    "options",
)
ACTION_BACKUP, ACTION_DEST, ACTION_OPTIONS = "backup", "destination", "options"


def backup_option_value(backup_id: str, source_cloud_id: str | None) -> str:
    """A backup choice in the modal: its id and the site it was taken from.

    Carrying the source lets the submission refuse the backup's own site as destination
    in the acknowledgement itself, as a field error, before any I/O.
    """
    return f"{backup_id}@{source_cloud_id or ''}"


def parse_backup_option_value(value: str) -> tuple[str, str | None]:
    # Cloud ids never contain "@", so the last one separates even an id that has one.
    backup_id, sep, source = value.rpartition("@")
    if not sep:
        return value, None
    return backup_id, source or None


def answer_action_id(check: str, consent: str) -> str:
    return f"{ACTION_ANSWER_PREFIX}{check}:{consent}"


def parse_answer_action_id(action_id: str) -> tuple[str, str] | None:
    if not action_id.startswith(ACTION_ANSWER_PREFIX):
        return None
    check, sep, consent = action_id[len(ACTION_ANSWER_PREFIX) :].partition(":")
    return (check, consent) if sep and check and consent else None


_BUTTON_LABELS = {
    ConsentCheck.ACCEPT_CUSTOM_GROUP.value: "Accept custom groups",
    ConsentCheck.DENY_CUSTOM_GROUP.value: "Deny custom groups",
}


def _button(
    text: str,
    action_id: str,
    session_id: str,
    style: str | None = None,
    confirm: Block | None = None,
) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75], "emoji": True},
        "action_id": action_id,
        "value": session_id,
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _confirm(title: str, text: str, ok: str) -> Block:
    return {
        "title": {"type": "plain_text", "text": title[:100]},
        "text": {"type": "mrkdwn", "text": text[:300]},
        "confirm": {"type": "plain_text", "text": ok[:30]},
        "deny": {"type": "plain_text", "text": labels.NOT_NOW},
        "style": "danger",
    }


def headline(session: RestoreSession) -> str:
    """The line that says where the restore stands, by how it ended once it has."""
    ended = session.state in (SessionState.DONE, SessionState.FAILED)
    if ended and session.final_status in ENDING_LINES:
        return ENDING_LINES[session.final_status]
    return STATE_LINES[session.state]


def restore_card(
    session: RestoreSession,
    facts: BackupFacts,
    *,
    source: str,
    now: datetime,
    restore_status: str | None = None,
    cancelled_by: str | None = None,
) -> Message:
    """The restore card in the channel, for the session as it stands."""
    dest = esc(session.dest_label)
    product = product_label(session.product)
    age = rules.describe_age(facts.created_at, now) if facts.created_at else "unknown"
    title = labels.restore_card_header(product, session.dest_label)
    blocks: list[Block] = [
        header(title),
        fields(
            [
                (labels.BACKUP, f"{code(session.backup_id)} {status_label(facts.status)}"),
                (labels.PRODUCT, product),
                (labels.AGE, labels.age_and_expiry(age, when(facts.expiry))),
                (labels.FROM_TO, f"{esc(source)} → *{dest}*"),
                (
                    labels.OPTIONS,
                    labels.restore_options(
                        yes_no(session.include_attachments),
                        yes_no(session.include_users_and_groups),
                    ),
                ),
                (labels.REQUESTED_BY, mention(session.requester)),
            ]
        ),
    ]
    if facts.warning:
        blocks.append(context(f":warning: {esc(facts.warning)}"))
    blocks.append(divider())
    state_line = headline(session)
    cancelled_by = cancelled_by or session.cancelled_by
    if session.state is SessionState.CANCELLED and cancelled_by:
        state_line = cancelled_by_line(cancelled_by)
    blocks.append(section(state_line))
    left = pending_of(session) if session.state is SessionState.CANCELLED else None
    if left is not None:
        blocks.append(section(words.nothing_restored_yet_held(left, dest)))
    if session.started_by:
        detail = started_line(
            session.started_by,
            session.restore_id,
            state=session.state,
            since=session.restore_created_at or session.intent_at,
            ended_at=session.updated_at,
            now=now,
        )
        if restore_status:
            detail += labels.atlassian_status(status_label(restore_status))
        blocks.append(context(detail))
    # Once answered, the checks stay on the card for good: who consented to what is part of
    # the record everyone in the channel must be able to see, also after the restore ran.
    if session.failed_checks and (
        session.answers
        or session.state in (SessionState.AWAITING_CONSENT, SessionState.REVALIDATING)
    ):
        blocks.extend(_consent_blocks(session, dest, product))
    if session.outcome and session.state in (SessionState.FAILED, SessionState.DONE):
        blocks.append(section(esc(session.outcome)))
    if session.report_url:
        blocks.append(section(labels.report_link(esc(session.report_url))))
    actions: list[Block] = []
    if session.state is SessionState.AWAITING_START:
        actions.append(
            _button(
                words.START_LABEL,
                ACTION_START,
                session.session_id,
                style="danger",
                confirm=_confirm(
                    words.START_TITLE,
                    words.start_confirmation(session.backup_id, dest),
                    words.START_LABEL,
                ),
            )
        )
    if session.state in (SessionState.AWAITING_START, SessionState.AWAITING_CONSENT):
        actions.append(_cancel_button(session, dest))
        blocks.append({"type": "actions", "block_id": "restore_controls", "elements": actions})
        blocks.append(context(words.decide_before(session.decision_deadline)))
    stands = ENDING_WORDS.get(session.final_status or "") if session.is_final else None
    text = esc(f"{title}: {stands or words.STATE_WORDS[session.state]}")
    return Message(text=text, blocks=blocks[:50])


def _cancel_button(session: RestoreSession, dest: str) -> Block:
    """Cancel; after validation it first says what Atlassian keeps, and asks to confirm."""
    left = pending_of(session)
    if left is None:
        return _button(labels.CANCEL, ACTION_CANCEL, session.session_id)
    return _button(
        labels.CANCEL,
        ACTION_CANCEL,
        session.session_id,
        confirm=_confirm(
            words.CANCEL_TITLE,
            words.cancel_confirmation(left.restore_id, dest, left.until),
            words.CANCEL_LABEL,
        ),
    )


def _consent_blocks(session: RestoreSession, dest: str, product: str) -> list[Block]:
    blocks: list[Block] = [section(labels.VALIDATION_CHECKS)]
    for index, failed in enumerate(session.failed_checks):
        check = str(failed.get("check") or "")
        meaning = check_text(check, failed.get("message"), dest, session.product)
        answer = session.answers.get(check)
        if answer is not None:
            line = check_answer_line(answer.get("consent", ""), answer.get("by"))
            blocks.append(section(f"{meaning}\n{line}"))
            continue
        blocks.append(section(meaning))
        if session.state is SessionState.AWAITING_CONSENT:
            buttons = [
                _button(
                    _BUTTON_LABELS.get(consent, labels.CONSENT),
                    answer_action_id(check, consent),
                    session.session_id,
                    style="primary" if consent != ConsentCheck.DENY_CUSTOM_GROUP.value else None,
                )
                for consent in valid_consents(check)
            ]
            blocks.append({"type": "actions", "block_id": f"check_{index}", "elements": buttons})
    return blocks


# -- the modal ---------------------------------------------------------------------------


def _option(text: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": text[:75], "emoji": True}, "value": value[:150]}


def notice_modal(text: str) -> Block:
    """A form replaced by one sentence: the form is gone, expired or not this person's."""
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": {"type": "plain_text", "text": labels.RESTORE_FORM_TITLE},
        "close": {"type": "plain_text", "text": labels.CLOSE},
        "blocks": [section(esc(text))],
    }


def loading_modal() -> Block:
    # The form's channel, opener and offer are kept by the bot under the view id; the view
    # carries nothing the bot would have to trust.
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": {"type": "plain_text", "text": labels.RESTORE_FORM_TITLE},
        "close": {"type": "plain_text", "text": labels.CLOSE},
        "blocks": [section(labels.LOOKING_UP_BACKUPS)],
    }


@dataclass(frozen=True, slots=True)
class RestorableBackup:
    backup: Backup
    site: str
    age: str
    expiry: datetime | None


def options_block_id(picked: int | None) -> str:
    """The options' block id, new for each backup picked: Slack then shows that backup's
    defaults instead of keeping the ticks given for another."""
    return BLOCK_OPTIONS if picked is None else f"{BLOCK_OPTIONS}-{picked}"


def restore_modal(
    *,
    product: Product | None,
    backups: Sequence[RestorableBackup],
    destinations: Sequence[tuple[str, str]],
    note: str | None = None,
    picked: int | None = None,
    attachments: bool = True,
) -> Block:
    """Product first (changing it refreshes the backup list), then backup, destination, options.

    ``picked`` is the position of the backup chosen so far: ``destinations`` then leave out
    its own site, and attachments start ticked when ``attachments`` (the backup has them).
    Every input dispatches its changes, so the bot redraws the form and a field's error
    clears as soon as the field changes.
    """
    product_select: Block = {
        "type": "static_select",
        "action_id": MODAL_PRODUCT_ACTION,
        "placeholder": {"type": "plain_text", "text": labels.JIRA_OR_CONFLUENCE},
        "options": [
            _option(labels.JIRA, Product.JIRA.value),
            _option(labels.CONFLUENCE, Product.CONFLUENCE.value),
        ],
    }
    if product is not None:
        product_select["initial_option"] = _option(product.label, product.value)
    blocks: list[Block] = [
        {
            "type": "section",
            "block_id": BLOCK_PRODUCT,
            "text": {"type": "mrkdwn", "text": labels.PRODUCT_HEADING},
            "accessory": product_select,
        }
    ]
    if note:
        blocks.append(context(esc(note)))
    if product is not None and backups:
        blocks.append(
            {
                "type": "input",
                "block_id": BLOCK_BACKUP,
                "dispatch_action": True,
                "label": {"type": "plain_text", "text": labels.BACKUP},
                "element": {
                    "type": "static_select",
                    "action_id": ACTION_BACKUP,
                    "placeholder": {"type": "plain_text", "text": labels.A_RESTORABLE_BACKUP},
                    "options": [_backup_option(item) for item in backups[:100]],
                },
            }
        )
    elif product is not None:
        blocks.append(section(words.none_restorable(product.label)))
    if product is not None and backups:
        attachments_option = _option(labels.INCLUDE_ATTACHMENTS, "attachments")
        users_option = _option(labels.INCLUDE_USERS_AND_GROUPS, "users")
        blocks.append(
            {
                "type": "input",
                "block_id": BLOCK_DEST,
                "dispatch_action": True,
                "label": {"type": "plain_text", "text": labels.DESTINATION_SITE},
                "element": {
                    "type": "static_select",
                    "action_id": ACTION_DEST,
                    "placeholder": {"type": "plain_text", "text": labels.WHERE_TO_RESTORE},
                    "options": [_option(alias, cloud_id) for alias, cloud_id in destinations[:100]],
                },
            }
        )
        blocks.append(
            {
                "type": "input",
                "block_id": options_block_id(picked),
                "optional": True,
                "dispatch_action": True,
                "label": {"type": "plain_text", "text": labels.OPTIONS},
                "element": {
                    "type": "checkboxes",
                    "action_id": ACTION_OPTIONS,
                    "options": [attachments_option, users_option],
                    "initial_options": (
                        [attachments_option, users_option] if attachments else [users_option]
                    ),
                },
            }
        )
    view: Block = {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": {"type": "plain_text", "text": labels.RESTORE_FORM_TITLE},
        "close": {"type": "plain_text", "text": labels.CLOSE},
        "blocks": blocks,
    }
    if product is not None and backups:
        view["submit"] = {"type": "plain_text", "text": labels.REQUEST_RESTORE}
    return view


def _backup_option(item: RestorableBackup) -> Block:
    label, description = backup_choice(
        item.backup.backup_id,
        str(item.backup.status),
        site=item.site,
        age=item.age,
        expiry=item.expiry,
    )
    option = _option(label, backup_option_value(item.backup.backup_id, item.backup.cloud_id))
    option["description"] = {"type": "plain_text", "text": description[:75], "emoji": True}
    return option


def restore_thread_line(session: RestoreSession, line: str) -> Message:
    """A line in the thread of ``session``'s card, with the same text for notifications."""
    return Message(text=line, blocks=[section(line)])


def notice_message(notice: notices.Notice, session: RestoreSession) -> Message:
    return restore_thread_line(session, notice_line(notice, session))
