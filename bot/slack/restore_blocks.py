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
from bot.restore.blocking import pending_of
from bot.restore.facts import BackupFacts
from bot.restore.session import (
    RestoreSession,
    SessionState,
    is_custom_group_check,
    valid_consents,
)
from bot.slack.blocks import (
    Block,
    Message,
    code,
    context,
    divider,
    fields,
    header,
    product_label,
    section,
    status_label,
    when,
)
from bot.slack.commands import escape_mrkdwn as esc
from bot.slack.restore_texts import mention, still_pending

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


def check_meaning(check: str, dest: str, product: str) -> str:
    """What a failed validation check means for the destination, in plain words."""
    meanings = {
        ConsentCheck.CONFLICTING_SPACE.value: (
            f"{product} spaces or projects with the same keys already exist on *{dest}*. "
            f"If you consent, those are skipped and *{dest}* keeps its own version of them."
        ),
        ConsentCheck.CONFLICTING_GROUP.value: (
            f"Groups with the same names already exist on *{dest}*. If you consent, the groups "
            "are merged, and their members may gain permissions they should not have."
        ),
        ConsentCheck.PRODUCT_LICENSE.value: (
            f"*{dest}* has a free or lower {product} plan than the backed-up site. If you "
            "consent, the restore goes ahead anyway; upgrading the plan first is advised."
        ),
        ConsentCheck.SITE_LICENSE.value: (
            f"*{dest}* is on a free trial. If you consent, the restore goes ahead anyway; a "
            "standard, premium or enterprise licence is advised."
        ),
        ConsentCheck.TDP_SHARD.value: (
            f"*{dest}* is on a different data shard than the backup. If you consent, the "
            "restore goes ahead anyway; the same shard is advised."
        ),
    }
    if is_custom_group_check(check):
        return (
            "The backup contains custom groups. *Accept* restores them onto "
            f"*{dest}*; *Deny* leaves them out of the restore."
        )
    return meanings.get(check, f"Atlassian reported the check `{esc(check)}` on *{dest}*.")


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
        "deny": {"type": "plain_text", "text": "Not now"},
        "style": "danger",
    }


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


STATE_LINES = {
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
ENDING_LINES = {
    "COMPLETE": ":white_check_mark: The restore has finished.",
    "INCOMPLETE": ":warning: The restore finished incomplete: not everything in the backup "
    "was restored.",
    "FAILED": ":x: The restore failed.",
}
_ENDING_WORDS = {"COMPLETE": "finished", "INCOMPLETE": "finished incomplete", "FAILED": "failed"}


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
    title = f"Restore of {product} backup onto {session.dest_label}"
    blocks: list[Block] = [
        header(title),
        fields(
            [
                ("Backup", f"{code(session.backup_id)} {status_label(facts.status)}"),
                ("Product", product),
                ("Age", f"{age} · expires {when(facts.expiry)}"),
                ("From → to", f"{esc(source)} → *{dest}*"),
                (
                    "Options",
                    f"attachments {_yes_no(session.include_attachments)} · users and groups "
                    f"{_yes_no(session.include_users_and_groups)}",
                ),
                ("Requested by", mention(session.requester)),
            ]
        ),
    ]
    if facts.warning:
        blocks.append(context(f":warning: {esc(facts.warning)}"))
    blocks.append(divider())
    state_line = headline(session)
    cancelled_by = cancelled_by or session.cancelled_by
    if session.state is SessionState.CANCELLED and cancelled_by:
        state_line = f":no_entry_sign: The restore was cancelled by {mention(cancelled_by)}."
    blocks.append(section(state_line))
    left = pending_of(session) if session.state is SessionState.CANCELLED else None
    if left is not None:
        blocks.append(section(f":warning: {still_pending(left, dest)} Nothing was restored."))
    if session.started_by:
        detail = f"Started by {mention(session.started_by)}"
        if session.restore_id:
            detail += f" · restore {code(session.restore_id)}"
        if session.migration_id:
            detail += f" · migration {code(session.migration_id)}"
        if restore_status:
            detail += f" · Atlassian status {status_label(restore_status)}"
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
        blocks.append(section(f":page_facing_up: <{esc(session.report_url)}|Post-restore report>"))
    actions: list[Block] = []
    if session.state is SessionState.AWAITING_START:
        actions.append(
            _button(
                "Start restore",
                ACTION_START,
                session.session_id,
                style="danger",
                confirm=_confirm(
                    "Start the restore?",
                    f"This restores backup {esc(session.backup_id)} onto {dest} and "
                    "changes its data.",
                    "Start restore",
                ),
            )
        )
    if session.state in (SessionState.AWAITING_START, SessionState.AWAITING_CONSENT):
        actions.append(_cancel_button(session, dest))
        blocks.append({"type": "actions", "block_id": "restore_controls", "elements": actions})
        blocks.append(
            context(f"Decide before {when(session.decision_deadline)}; after that it expires.")
        )
    stands = _ENDING_WORDS.get(session.final_status or "") if session.is_final else None
    text = esc(f"{title}: {stands or session.state.value.replace('_', ' ').lower()}")
    return Message(text=text, blocks=blocks[:50])


def _cancel_button(session: RestoreSession, dest: str) -> Block:
    """Cancel; after validation it first says what Atlassian keeps, and asks to confirm."""
    left = pending_of(session)
    if left is None:
        return _button("Cancel", ACTION_CANCEL, session.session_id)
    until = f"until {rules.format_time(left.until)}" if left.until else "for about 24 hours"
    return _button(
        "Cancel",
        ACTION_CANCEL,
        session.session_id,
        confirm=_confirm(
            "Cancel after validation?",
            f"Atlassian offers no way to cancel a validated restore: restore "
            f"{esc(left.restore_id)} stays waiting for consent there and blocks {dest} "
            f"{until}. Cancelling here only stops the bot from answering its checks.",
            "Cancel here",
        ),
    )


def _consent_blocks(session: RestoreSession, dest: str, product: str) -> list[Block]:
    blocks: list[Block] = [section("*Validation checks*")]
    for index, failed in enumerate(session.failed_checks):
        check = str(failed.get("check") or "")
        meaning = check_meaning(check, dest, product)
        service_says = failed.get("message")
        if service_says:
            meaning += f"\n_Atlassian: {esc(str(service_says))}_"
        answer = session.answers.get(check)
        if answer is not None:
            given = answer.get("consent", "")
            verb = (
                "Accepted custom groups"
                if given == ConsentCheck.ACCEPT_CUSTOM_GROUP.value
                else "Denied custom groups"
                if given == ConsentCheck.DENY_CUSTOM_GROUP.value
                else "Consent given"
            )
            blocks.append(
                section(f"{meaning}\n:white_check_mark: {verb} by {mention(answer.get('by'))}.")
            )
            continue
        blocks.append(section(meaning))
        if session.state is SessionState.AWAITING_CONSENT:
            buttons = [
                _button(
                    _BUTTON_LABELS.get(consent, "Consent"),
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
        "title": {"type": "plain_text", "text": "Restore a backup"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [section(esc(text))],
    }


def loading_modal() -> Block:
    # The form's channel, opener and offer are kept by the bot under the view id; the view
    # carries nothing the bot would have to trust.
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": {"type": "plain_text", "text": "Restore a backup"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [section(":hourglass_flowing_sand: Looking up restorable backups…")],
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
        "placeholder": {"type": "plain_text", "text": "Jira or Confluence"},
        "options": [
            _option("Jira", Product.JIRA.value),
            _option("Confluence", Product.CONFLUENCE.value),
        ],
    }
    if product is not None:
        product_select["initial_option"] = _option(product.label, product.value)
    blocks: list[Block] = [
        {
            "type": "section",
            "block_id": BLOCK_PRODUCT,
            "text": {"type": "mrkdwn", "text": "*Product*"},
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
                "label": {"type": "plain_text", "text": "Backup"},
                "element": {
                    "type": "static_select",
                    "action_id": ACTION_BACKUP,
                    "placeholder": {"type": "plain_text", "text": "A restorable backup"},
                    "options": [_backup_option(item) for item in backups[:100]],
                },
            }
        )
    elif product is not None:
        blocks.append(section(f"No {product.label} backup can be restored right now."))
    if product is not None and backups:
        attachments_option = _option("Include attachments", "attachments")
        users_option = _option("Include users and groups", "users")
        blocks.append(
            {
                "type": "input",
                "block_id": BLOCK_DEST,
                "dispatch_action": True,
                "label": {"type": "plain_text", "text": "Destination site"},
                "element": {
                    "type": "static_select",
                    "action_id": ACTION_DEST,
                    "placeholder": {"type": "plain_text", "text": "Where to restore"},
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
                "label": {"type": "plain_text", "text": "Options"},
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
        "title": {"type": "plain_text", "text": "Restore a backup"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks,
    }
    if product is not None and backups:
        view["submit"] = {"type": "plain_text", "text": "Request restore"}
    return view


def _backup_option(item: RestorableBackup) -> Block:
    label = (
        f"{item.site} · {item.age} old · expires {item.expiry:%b %d}"
        if item.expiry
        else f"{item.site} · {item.age} old"
    )
    return _option(label, backup_option_value(item.backup.backup_id, item.backup.cloud_id))
