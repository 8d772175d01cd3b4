"""The restore form's listeners: open, fill, redraw on every change, submit.

Every step looks the form up by its view id (bot/slack/restore_form.py) and checks that the
person acting opened it and may still request restores in its channel: a refusal is said
to them alone (in the form's channel, or inside the form) and audited, never an error. A
submission is checked against what the form offered before it is acknowledged, so a
refusal is shown beside its field (``response_action: errors``) and the person can change
that field and submit again; any change redraws the form, which clears the field's error.
What the bot learns only after the ack (the request's own, fresh checks) is said privately
in the form's channel.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian import rules
from bot.atlassian.models import Product
from bot.errors import BotError
from bot.messages import restore as said
from bot.restore.workflow import RestoreOffer, RestoreRequest, RestoreWorkflow
from bot.runtime import Services
from bot.slack import blocks
from bot.slack import restore_blocks as rb
from bot.slack.handlers import Invocation, Reply, run_reporting_failures
from bot.slack.restore_form import (
    Accepted,
    RestoreForm,
    RestoreForms,
    attachments_default,
    check_submission,
    destinations,
    submitted,
)

log = logging.getLogger(__name__)

#: Every input of the form whose change redraws it.
_FORM_ACTIONS = re.compile(
    "^("
    + "|".join(
        re.escape(a)
        for a in (rb.MODAL_PRODUCT_ACTION, rb.ACTION_BACKUP, rb.ACTION_DEST, rb.ACTION_OPTIONS)
    )
    + ")$"
)
_AUDITED_AS = "restore_form"


class RestoreModal:
    """Bolt listeners for the restore form."""

    def __init__(
        self, services: Services, workflow: RestoreWorkflow, slack: AsyncWebClient
    ) -> None:
        self._services = services
        self._workflow = workflow
        self._slack = slack
        self._forms = RestoreForms(services.redis, services.operations.key_prefix, services.clock)

    def register(self, app: AsyncApp) -> None:
        app.action(_FORM_ACTIONS)(self._on_change)
        app.view(rb.MODAL_CALLBACK)(self._on_submit)

    async def open(self, trigger_id: str, who: Invocation) -> None:
        """Open at once with the product picker, then record whose form it is and where."""
        view = rb.restore_modal(product=None, backups=[], destinations=[])
        opened = await self._slack.views_open(trigger_id=trigger_id, view=view)
        view_id = str((opened.get("view") or {}).get("id", ""))
        await self._forms.save(
            RestoreForm(
                view_id=view_id,
                team_id=who.team_id,
                channel=who.channel_id,
                opener=who.user_id,
                opened_at=self._services.clock.now(),
            )
        )

    # -- checks every step makes --------------------------------------------------------

    async def _form_of(self, body: dict[str, Any]) -> tuple[RestoreForm | None, str | None]:
        """The form the request acts on, and why its sender may not act on it (or None)."""
        view = body.get("view") or {}
        team = body.get("team") or {}
        user = str((body.get("user") or {}).get("id", ""))
        form = await self._forms.get(str(view.get("id", "")), str(team.get("id", "")))
        if form is None:
            return None, said.form_gone()
        if user != form.opener:
            return form, said.form_not_yours()
        refusal = self._services.access.command_refusal(user, form.channel, changes_things=True)
        return form, refusal

    async def _audit_refusal(self, body: dict[str, Any], why: str) -> None:
        user = str((body.get("user") or {}).get("id", ""))
        await self._services.sessions.record_refusal(
            "-", actor=user or "-", action=_AUDITED_AS, reason=why
        )

    async def _tell(self, form: RestoreForm | None, user: str, why: str) -> None:
        """Say ``why`` to ``user`` alone in the form's channel (unknown form: nowhere to say)."""
        if form is not None:
            who = Invocation(user_id=user, channel_id=form.channel, team_id=form.team_id)
            await self._ephemeral(who)(blocks.error_message(why, trusted=True))

    # -- changes ----------------------------------------------------------------------------

    async def _on_change(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        async with self._services.pending.track():
            await ack()
            user = str((body.get("user") or {}).get("id", ""))
            form, refusal = await self._form_of(body)
            if form is None or refusal is not None:
                why = refusal or said.form_gone()
                await self._audit_refusal(body, why)
                await self._tell(form, user, why)
                return
            who = Invocation(user_id=user, channel_id=form.channel, team_id=form.team_id)
            await run_reporting_failures(
                "the restore form", self._ephemeral(who), self._changed(form, action)
            )

    async def _changed(self, form: RestoreForm, action: dict[str, Any]) -> None:
        action_id = str(action.get("action_id", ""))
        selected = str((action.get("selected_option") or {}).get("value", ""))
        note = None
        if action_id == rb.MODAL_PRODUCT_ACTION:
            try:
                product = Product(selected)
            except ValueError:
                return
            await self._slack.views_update(view_id=form.view_id, view=rb.loading_modal())
            try:
                form.offer(product, await self._workflow.offer(product))
            except BotError as exc:
                form.offer(product, RestoreOffer(backups=[], restores=[], busy_destinations=[]))
                note = exc.user_message
        elif action_id == rb.ACTION_BACKUP:
            form.picked = form.find(rb.parse_backup_option_value(selected)[0])
        await self._forms.save(form)
        await self._slack.views_update(view_id=form.view_id, view=self._drawn(form, note))

    def _drawn(self, form: RestoreForm, note: str | None = None) -> dict[str, Any]:
        now = self._services.clock.now()
        sites = self._services.sites
        return rb.restore_modal(
            product=form.product,
            backups=[
                rb.RestorableBackup(
                    backup=backup,
                    site=sites.name(backup.cloud_id),
                    age=rules.describe_age(backup.created_at, now) if backup.created_at else "?",
                    expiry=rules.backup_expiry(backup),
                )
                for backup in form.offered()
            ],
            destinations=destinations(form, sites),
            note=note,
            picked=form.picked,
            attachments=attachments_default(form),
        )

    # -- submission ------------------------------------------------------------------------

    async def _on_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async with self._services.pending.track():
            form, refusal = await self._form_of(body)
            if form is None or refusal is not None:
                why = refusal or said.form_gone()
                await ack(response_action="update", view=rb.notice_modal(why))
                await self._audit_refusal(body, why)
                return
            checked = check_submission(
                form,
                submitted((view.get("state") or {}).get("values") or {}),
                sites=self._services.sites,
                known_cloud_ids=set(self._services.sites.aliases.values()),
                now=self._services.clock.now(),
            )
            if not isinstance(checked, Accepted):
                await ack(response_action="errors", errors=checked)
                await self._audit_refusal(body, " ".join(checked.values()))
                return
            await ack()
            await self._forms.forget(form.view_id)
            await self._request(form, checked)

    async def _request(self, form: RestoreForm, accepted: Accepted) -> None:
        who = Invocation(user_id=form.opener, channel_id=form.channel, team_id=form.team_id)
        request = RestoreRequest(
            backup_id=accepted.backup.backup_id,
            dest_cloud_id=accepted.dest_cloud_id,
            dest_label=accepted.dest_label,
            include_attachments=accepted.include_attachments,
            include_users_and_groups=accepted.include_users_and_groups,
            requester=form.opener,
            channel=form.channel,
            team_id=form.team_id or None,
        )

        async def requested() -> None:
            await self._workflow.request(request)

        await run_reporting_failures("the restore form", self._ephemeral(who), requested())

    def _ephemeral(self, who: Invocation) -> Reply:
        """A form has no response_url: what is said after its ack goes privately to its channel."""

        async def reply(message: blocks.Message) -> None:
            try:
                await self._slack.chat_postEphemeral(
                    channel=who.channel_id, user=who.user_id, **message.as_kwargs()
                )
            except SlackApiError:
                log.warning("could not answer %s privately in %s", who.user_id, who.channel_id)

        return reply


__all__ = ["RestoreModal"]
