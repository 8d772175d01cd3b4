"""The restore flow: request, Start, consent, revalidate, run — each decision exactly once.

Every decision goes through ``RestoreSessionStore`` (bot/sessions.py), whose atomic
transitions decide which single click, among any number of clicks and bot processes, makes
the API call. Only that winner calls Atlassian. The intent (state VALIDATING/REVALIDATING
with ``intent_at``) is written before the call, so a bot that dies mid-call finds it again:
``recover_in_flight`` looks the restore up in Atlassian's list instead of repeating it.

Handlers acknowledge first (bot/slack/app.py) and do everything here afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.atlassian import rules
from bot.atlassian.models import (
    FINAL_RESTORE_STATUSES,
    Backup,
    Product,
    Restore,
    RestoreStatus,
)
from bot.errors import (
    AtlassianError,
    BotError,
    NotFoundError,
    OutcomeUnknown,
    RateLimited,
    RestoreRefused,
    Unavailable,
)
from bot.runtime import Services
from bot.sessions import (
    IN_FLIGHT_STATES,
    SYSTEM_ACTOR,
    Answer,
    RestoreSession,
    SessionState,
    Transition,
    refusal_message,
)
from bot.slack import blocks
from bot.slack import commands as cmd
from bot.slack import restore_blocks as rb
from bot.slack.blocks import Message
from bot.slack.handlers import (
    CommandHandlers,
    Invocation,
    Reply,
    make_reply,
    run_reporting_failures,
)
from bot.store.operations import OperationKind, TrackedOperation

log = logging.getLogger(__name__)

# How long an in-flight call may stay unconfirmed before recovery looks it up; longer
# than a create's own timeout and retries, so recovery never races a live call.
IN_FLIGHT_GRACE = timedelta(minutes=5)
# A restore reported as VALIDATING is polled this many times, doubling the wait each time.
VALIDATION_POLLS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
RECONCILE_SKEW = timedelta(minutes=2)
# Longer than one recovery's API calls take, so a lease never lapses while it is used.
RECOVERY_LEASE_MS = 120_000
# A live Start or final consent holds the same lease while its call and retries run; a
# process that dies holding it lets recovery in once it lapses.
LIVE_CALL_LEASE_MS = 600_000
# Redraws of one card until it shows the session's latest version (see refresh_card).
CARD_REDRAWS = 3
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
FACTS_TTL_SECONDS = 31 * 24 * 3600
# Requests for one destination are checked and created one at a time; the checks are a few
# Redis reads, so a lease this long only matters if a process dies holding it.
DESTINATION_LEASE_MS = 10_000


@contextlib.asynccontextmanager
async def redis_lease(redis: Any, key: str, lease_ms: int) -> AsyncIterator[bool]:
    """Hold ``key`` while inside; yields False (and holds nothing) if another holder has it."""
    holder = secrets.token_hex(8)
    acquired = bool(await redis.set(key, holder, nx=True, px=lease_ms))
    try:
        yield acquired
    finally:
        if acquired:
            await redis.eval(_RELEASE_LEASE, 1, key, holder)


class RestoreHandlers:
    def __init__(
        self,
        services: Services,
        slack: AsyncWebClient,
        commands: CommandHandlers,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._services = services
        self._slack = slack
        self._commands = commands
        self._sessions = services.sessions
        self._atlassian = services.atlassian
        self._sleep = sleep

    # -- wiring ------------------------------------------------------------------------

    def register(self, app: AsyncApp) -> None:
        app.action(rb.ACTION_START)(self._on_start_click)
        app.action(rb.ACTION_CANCEL)(self._on_cancel_click)
        app.action(re.compile("^" + re.escape(rb.ACTION_ANSWER_PREFIX)))(self._on_answer_click)
        app.action(rb.MODAL_PRODUCT_ACTION)(self._on_modal_product)
        app.view(rb.MODAL_CALLBACK)(self._on_modal_submit)

    def _click_reply(self, respond: Any, user: str, channel: str) -> Reply:
        return make_reply(respond, self._slack, Invocation(user_id=user, channel_id=channel))

    async def _clicked(
        self,
        ack: Any,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Any,
        what: str,
        work: Callable[[str, str, str, Reply], Awaitable[None]],
    ) -> None:
        async with self._services.pending.track():
            await ack()
            await self._clicked_after_ack(body, action, respond, what, work)

    async def _clicked_after_ack(
        self,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Any,
        what: str,
        work: Callable[[str, str, str, Reply], Awaitable[None]],
    ) -> None:
        user = str(body.get("user", {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        reply = self._click_reply(respond, user, channel)
        session_id = str(action.get("value", ""))
        await run_reporting_failures(
            what, reply, work(session_id, user, str(action.get("action_id", "")), reply)
        )

    async def _on_start_click(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await self._clicked(ack, body, action, respond, "the Start button", self.start_clicked)

    async def _on_cancel_click(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await self._clicked(ack, body, action, respond, "the Cancel button", self.cancel_clicked)

    async def _on_answer_click(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await self._clicked(ack, body, action, respond, "a consent button", self.answer_clicked)

    # -- requesting --------------------------------------------------------------------

    async def start(self, command: cmd.RestoreStart, who: Invocation, reply: Reply) -> None:
        """``/restore start``: check everything the rules can, then post the restore card."""
        now = self._services.clock.now()
        try:
            backup = await self._atlassian.get_backup(command.backup_id)
        except NotFoundError:
            raise RestoreRefused(
                f"Backup {command.backup_id} does not exist; `/backup list POLICY_ID` shows "
                "the backups of a policy."
            ) from None
        restores = await self._atlassian.list_restores()
        known = set(self._services.sites.aliases.values())
        verdict = rules.preflight_restore(
            backup=backup,
            restores=restores,
            dest_cloud_id=command.dest_cloud_id,
            dest_label=command.dest_label,
            known_cloud_ids=known,
            include_attachments=command.include_attachments,
            now=now,
        )
        if not verdict.allowed:
            raise RestoreRefused(verdict.reason, verdict.possible_from)
        product = backup.product if isinstance(backup.product, Product) else None
        if product is None or backup.cloud_id is None:
            raise RestoreRefused(
                f"Atlassian did not say which product and site backup {backup.backup_id} "
                "belongs to, so the bot will not restore it."
            )
        include_attachments = (
            command.include_attachments
            if command.include_attachments is not None
            else _has_attachments(backup)
        )
        async with redis_lease(
            self._services.redis,
            f"{self._sessions.key_prefix}restore:requesting:{command.dest_cloud_id}",
            DESTINATION_LEASE_MS,
        ) as acquired:
            if not acquired:
                raise RestoreRefused(
                    f"Another restore onto {command.dest_label} is being requested right now; "
                    "look at its card before requesting another."
                )
            # Checked and created under the lease, so two requests cannot both pass.
            for other in await self._sessions.unfinished():
                if other.dest_cloud_id == command.dest_cloud_id:
                    raise RestoreRefused(
                        f"Another restore onto {command.dest_label} is already under way; "
                        "finish or cancel it on its card first."
                    )
            session = await self._sessions.create(
                backup_id=backup.backup_id,
                product=product,
                source_cloud_id=backup.cloud_id,
                dest_cloud_id=command.dest_cloud_id,
                dest_label=command.dest_label,
                include_attachments=include_attachments,
                include_users_and_groups=command.include_users_and_groups,
                requester=who.user_id,
                channel=who.channel_id,
            )
        facts = rb.BackupFacts.of(backup, now)
        await self._services.redis.set(
            self._facts_key(session.session_id), json.dumps(facts.to_dict()), ex=FACTS_TTL_SECONDS
        )
        try:
            posted = await self._commands.post_card(who.channel_id, self._render(session, facts))
        except Exception:
            # Without a card nobody can approve it: close the session rather than leave it dangling.
            await self._sessions.transition(
                session.session_id,
                to=SessionState.CANCELLED,
                actor=SYSTEM_ACTOR,
                action="cancel",
                updates={"outcome": "The restore card could not be posted."},
            )
            raise
        await self._sessions.attach_card(session.session_id, posted.channel, posted.ts)

    # -- the card ----------------------------------------------------------------------

    def _recovery_key(self, session_id: str) -> str:
        """Held by whoever is talking to Atlassian about this session: a live click or recovery."""
        return f"{self._sessions.key_prefix}restore:recovering:{session_id}"

    def _facts_key(self, session_id: str) -> str:
        return f"{self._sessions.key_prefix}restore:facts:{session_id}"

    async def _facts(self, session_id: str) -> rb.BackupFacts:
        raw = await self._services.redis.get(self._facts_key(session_id))
        if raw is None:
            return rb.BackupFacts(created_at=None, expiry=None, status="unknown", warning=None)
        return rb.BackupFacts.from_dict(json.loads(raw))

    def _render(
        self, session: RestoreSession, facts: rb.BackupFacts, restore_status: str | None = None
    ) -> Message:
        return rb.restore_card(
            session,
            facts,
            source=self._services.sites.name(session.source_cloud_id),
            now=self._services.clock.now(),
            restore_status=restore_status,
        )

    async def refresh_card(self, session_id: str, restore_status: str | None = None) -> None:
        """Redraw the card from the session as Redis has it now (never from a stale copy).

        Two redraws racing (two clicks, two replicas) may reach Slack out of order, so after
        each edit the session is read again and, if it moved on meanwhile, drawn again: the
        last redraw to finish always shows the latest version.
        """
        drawn_version = None
        for _ in range(CARD_REDRAWS):
            session = await self._sessions.get(session_id)
            if session is None or session.card_ts is None or session.version == drawn_version:
                return
            message = self._render(session, await self._facts(session_id), restore_status)
            try:
                await self._slack.chat_update(
                    channel=session.channel, ts=session.card_ts, **message.as_kwargs()
                )
            except (SlackApiError, aiohttp.ClientError, TimeoutError):
                log.warning("could not redraw restore card %s", session_id, exc_info=True)
                return
            drawn_version = session.version

    async def _thread(self, session: RestoreSession, line: str) -> None:
        if session.card_ts is None:
            return
        try:
            await self._slack.chat_postMessage(
                channel=session.channel,
                thread_ts=session.card_ts,
                **rb.restore_thread_line(session, line).as_kwargs(),
            )
        except SlackApiError:
            log.warning(
                "could not post in the thread of restore %s", session.session_id, exc_info=True
            )

    # -- Start ---------------------------------------------------------------------------

    async def _decider(
        self,
        session_id: str,
        user: str,
        action: str,
        reply: Reply,
        refusal_for: Callable[[str, str], str | None],
    ) -> RestoreSession | None:
        """The session, if it exists and ``user`` may take ``action`` on it; else say why."""
        session = await self._sessions.get(session_id) if session_id else None
        if session is None:
            await self._sessions.record_refusal(
                session_id or "-", actor=user, action=action, reason="unknown"
            )
            await reply(blocks.error_message(refusal_message("unknown"), trusted=True))
            return None
        refusal = refusal_for(user, session.requester)
        if refusal:
            await self._sessions.record_refusal(
                session.session_id, actor=user, action=action, reason=refusal
            )
            await reply(blocks.error_message(refusal, trusted=True))
            return None
        return session

    async def _refused(self, result: Transition | Answer, session_id: str, reply: Reply) -> bool:
        """Tell the clicker why their click changed nothing; True if it did change nothing."""
        if result.ok and result.session is not None:
            return False
        await reply(blocks.error_message(result.user_message or "", trusted=True))
        if result.expired_now:
            await self.refresh_card(session_id)
        return True

    async def start_clicked(self, session_id: str, user: str, action_id: str, reply: Reply) -> None:
        session = await self._decider(
            session_id, user, "start", reply, self._services.access.start_refusal
        )
        if session is None:
            return
        moved = await self._sessions.transition(
            session_id,
            to=SessionState.VALIDATING,
            actor=user,
            action="start",
            expected={SessionState.AWAITING_START},
            updates={"started_by": user},
        )
        if await self._refused(moved, session_id, reply) or moved.session is None:
            return
        # Atlassian first, the card after: a slow or rate-limited card edit must not delay the
        # call, and the lease keeps recovery on other replicas away while the call is live.
        async with redis_lease(
            self._services.redis, self._recovery_key(session_id), LIVE_CALL_LEASE_MS
        ):
            await self._create_restore(moved.session)

    async def _create_restore(self, session: RestoreSession) -> None:
        try:
            restore = await self._atlassian.create_restore(
                dest_cloud_id=session.dest_cloud_id,
                backup_id=session.backup_id,
                product=Product(str(session.product)),
                include_attachments=session.include_attachments,
                include_users_and_groups=session.include_users_and_groups,
            )
        except OutcomeUnknown:
            log.warning(
                "create-restore for session %s is unconfirmed", session.session_id, exc_info=True
            )
            await self._thread(
                session,
                ":grey_question: Atlassian did not confirm the restore request. The bot will look "
                "it up and update this card; do not start another restore meanwhile.",
            )
            return
        except (RateLimited, Unavailable) as exc:
            # The client only gives up this way when the request provably did not take effect.
            await self._sessions.transition(
                session.session_id,
                to=SessionState.AWAITING_START,
                actor=SYSTEM_ACTOR,
                action="start_not_sent",
                expected={SessionState.VALIDATING},
                detail=exc.user_message,
            )
            await self.refresh_card(session.session_id)
            await self._thread(
                session,
                f":warning: {cmd.escape_mrkdwn(exc.user_message)} Nothing was started; "
                "press Start again.",
            )
            return
        except AtlassianError as exc:
            await self._fail(
                session,
                SessionState.VALIDATING,
                f"Atlassian refused the restore: {exc.user_message}",
            )
            return
        await self._apply_result(session.session_id, restore, SessionState.VALIDATING)

    async def _fail(self, session: RestoreSession, expected: SessionState, outcome: str) -> None:
        await self._sessions.transition(
            session.session_id,
            to=SessionState.FAILED,
            actor=SYSTEM_ACTOR,
            action="api_refused",
            expected={expected},
            updates={"outcome": outcome},
        )
        await self.refresh_card(session.session_id)
        await self._thread(session, f":x: {cmd.escape_mrkdwn(outcome)}")

    async def _settled(self, restore: Restore) -> Restore:
        """Atlassian may validate asynchronously: wait (bounded) until it leaves VALIDATING."""
        for delay in VALIDATION_POLLS:
            if restore.status != RestoreStatus.VALIDATING:
                break
            await self._sleep(delay)
            restore = await self._atlassian.get_restore(restore.restore_id)
        return restore

    async def _apply_result(
        self, session_id: str, restore: Restore, expected: SessionState
    ) -> None:
        """Move the session on according to what create or revalidate returned."""
        restore = await self._settled(restore)
        session = await self._sessions.get(session_id)
        if session is None:
            return
        if restore.status == RestoreStatus.VALIDATING:
            # Still validating after the polls: the session stays in flight and
            # recover_in_flight finds the restore in Atlassian's list later.
            return
        if restore.status == RestoreStatus.VALIDATION_FAILED and not restore.failed_checks:
            # Consent is needed, but for what the bot cannot read: never run without it.
            log.warning("validation failed with no readable checks: %s", restore.model_dump())
            await self._fail(
                session,
                expected,
                f"Atlassian says restore {restore.restore_id} needs consent but named no check "
                "the bot can read, so nothing was consented; look at the restore in "
                "admin.atlassian.com.",
            )
            return
        if restore.status == RestoreStatus.VALIDATION_FAILED:
            checks = [
                {"check": str(c.check), "code": c.code, "message": c.message}
                for c in restore.failed_checks
            ]
            moved = await self._sessions.transition(
                session_id,
                to=SessionState.AWAITING_CONSENT,
                actor=SYSTEM_ACTOR,
                action="validation_failed",
                expected={expected},
                updates={"restore_id": restore.restore_id, "failed_checks": checks},
                detail=", ".join(c["check"] or "" for c in checks),
            )
            if moved.ok:
                await self.refresh_card(session_id)
                await self._thread(
                    session,
                    f":raised_hand: Validation found {len(checks)} check(s) that need an "
                    "approver's answer on the card.",
                )
            return
        if restore.status == RestoreStatus.FAILED:
            await self._fail(
                session,
                expected,
                "Atlassian reports the restore failed: "
                f"{restore.status_message or 'no reason given'}.",
            )
            return
        moved = await self._sessions.transition(
            session_id,
            to=SessionState.RUNNING,
            actor=SYSTEM_ACTOR,
            action="running",
            expected={expected},
            updates={"restore_id": restore.restore_id, "migration_id": restore.migration_id},
        )
        if not moved.ok or moved.session is None:
            return
        running = moved.session
        in_progress = restore.status == RestoreStatus.IN_PROGRESS
        await self._services.operations.register(
            OperationKind.RESTORE,
            restore.restore_id,
            cloud_id=running.dest_cloud_id,
            product=str(running.product),
            channel=running.channel,
            card_ts=running.card_ts,
            started_by=running.started_by,
            # A restore that already ended (found late, by recovery) or reports a status the
            # bot does not know is registered with no status, so the tracker's first poll
            # records what it is and announces it: the one path that announces final states.
            status=str(restore.status) if in_progress else None,
            session_id=running.session_id,
            backup_id=running.backup_id,
        )
        await self.refresh_card(session_id, str(restore.status))
        if in_progress:
            await self._thread(
                running,
                f":rocket: Restore {blocks.code(restore.restore_id)} is running on "
                f"{cmd.escape_mrkdwn(running.dest_label)}; this card follows it to the end.",
            )

    # -- consent -------------------------------------------------------------------------

    async def answer_clicked(
        self, session_id: str, user: str, action_id: str, reply: Reply
    ) -> None:
        session = await self._decider(
            session_id, user, "consent", reply, self._services.access.consent_refusal
        )
        if session is None:
            return
        parsed = rb.parse_answer_action_id(action_id)
        if parsed is None:
            await reply(blocks.error_message(refusal_message("unknown_check"), trusted=True))
            return
        check, consent = parsed
        answer = await self._sessions.answer_check(
            session_id, check=check, consent=consent, actor=user
        )
        if await self._refused(answer, session_id, reply) or answer.session is None:
            return
        await self.refresh_card(session_id)
        if answer.complete:
            async with redis_lease(
                self._services.redis, self._recovery_key(session_id), LIVE_CALL_LEASE_MS
            ):
                await self._revalidate(answer.session, answer.consents)

    async def _revalidate(self, session: RestoreSession, consents: list[str]) -> None:
        if session.restore_id is None:
            await self._fail(session, SessionState.REVALIDATING, "The bot lost the restore's id.")
            return
        try:
            restore = await self._atlassian.revalidate_restore(
                dest_cloud_id=session.dest_cloud_id,
                restore_id=session.restore_id,
                consents=consents,
            )
        except (OutcomeUnknown, RateLimited, Unavailable):
            # Revalidating again with the same answers is harmless, so recovery simply retries.
            log.warning(
                "revalidate for session %s did not complete", session.session_id, exc_info=True
            )
            await self._thread(
                session,
                ":grey_question: Atlassian did not answer the revalidation; the bot will retry it.",
            )
            return
        except AtlassianError as exc:
            await self._fail(
                session,
                SessionState.REVALIDATING,
                f"Atlassian refused the consents: {exc.user_message}",
            )
            return
        await self._apply_result(session.session_id, restore, SessionState.REVALIDATING)

    # -- cancel --------------------------------------------------------------------------

    async def cancel_clicked(
        self, session_id: str, user: str, action_id: str, reply: Reply
    ) -> None:
        session = await self._decider(
            session_id, user, "cancel", reply, self._services.access.cancel_refusal
        )
        if session is None:
            return
        moved = await self._sessions.transition(
            session_id,
            to=SessionState.CANCELLED,
            actor=user,
            action="cancel",
            updates={"outcome": f"Cancelled by <@{user}>."},
        )
        if await self._refused(moved, session_id, reply) or moved.session is None:
            return
        await self.refresh_card(session_id)
        await self._thread(
            moved.session, f":no_entry_sign: Cancelled by <@{user}>; nothing was restored."
        )

    # -- housekeeping ----------------------------------------------------------------------

    async def expire_due(self) -> int:
        expired = await self._sessions.expire_due()
        for session in expired:
            await self.refresh_card(session.session_id)
            await self._thread(session, ":hourglass: Expired: nobody decided within 24 hours.")
        return len(expired)

    async def recover_in_flight(self, *, grace: timedelta = IN_FLIGHT_GRACE) -> int:
        """Settle sessions whose API call was decided but never confirmed (a crash, a timeout).

        Every replica runs this, so each session is recovered under a short Redis lease: two
        replicas recovering one REVALIDATING session would both send revalidate, and the
        later one's conflict would mark a restore that is running as failed.
        """
        now = self._services.clock.now()
        settled = 0
        for listed in await self._sessions.in_flight():
            if listed.intent_at is not None and now - listed.intent_at < grace:
                continue
            async with redis_lease(
                self._services.redis, self._recovery_key(listed.session_id), RECOVERY_LEASE_MS
            ) as acquired:
                if acquired:
                    settled += await self._recover_one(listed.session_id)
        return settled

    async def _recover_one(self, session_id: str) -> int:
        """Recover one in-flight session while holding its lease; 1 if it was settled."""
        try:
            # Re-read under the lease: another replica may have settled it meanwhile.
            session = await self._sessions.get(session_id)
            if session is None or session.state not in IN_FLIGHT_STATES:
                return 0
            if session.state is SessionState.VALIDATING:
                await self._recover_create(session)
            else:
                await self._recover_revalidate(session)
        except AtlassianError:
            log.warning("could not recover restore session %s yet", session_id, exc_info=True)
            return 0
        return 1

    async def _recover_create(self, session: RestoreSession) -> None:
        since = (session.intent_at or session.created_at) - RECONCILE_SKEW
        for restore in await self._atlassian.list_restores(cloud_id=session.dest_cloud_id):
            if restore.backup_id == session.backup_id and (
                restore.created_at is None or restore.created_at >= since
            ):
                await self._apply_result(session.session_id, restore, SessionState.VALIDATING)
                return
        # Atlassian has no such restore: the call never took effect, so Start may be pressed again.
        moved = await self._sessions.transition(
            session.session_id,
            to=SessionState.AWAITING_START,
            actor=SYSTEM_ACTOR,
            action="recovered_not_started",
            expected={SessionState.VALIDATING},
        )
        if moved.ok:
            await self.refresh_card(session.session_id)
            await self._thread(
                session,
                ":warning: Atlassian has no record of this restore, so nothing was started; "
                "an approver can press Start again.",
            )

    async def _recover_revalidate(self, session: RestoreSession) -> None:
        if session.restore_id is None:
            await self._fail(session, SessionState.REVALIDATING, "The bot lost the restore's id.")
            return
        restore = await self._atlassian.get_restore(session.restore_id)
        same_checks = {str(c.check) for c in restore.failed_checks} == {
            str(c.get("check")) for c in session.failed_checks
        }
        if restore.status == RestoreStatus.VALIDATION_FAILED and same_checks:
            consents = [answer["consent"] for answer in session.answers.values()]
            await self._revalidate(session, consents)
            return
        await self._apply_result(session.session_id, restore, SessionState.REVALIDATING)

    # -- tracker hooks -------------------------------------------------------------------

    async def claim(self, restore: Restore) -> bool:
        """A restore found running that a session asked for is tracked on that session's card."""
        session = await self._sessions.find_by_restore_id(restore.restore_id)
        if session is None:
            return False
        await self._services.operations.register(
            OperationKind.RESTORE,
            restore.restore_id,
            cloud_id=restore.cloud_id,
            product=str(restore.product) if restore.product else None,
            channel=session.channel,
            card_ts=session.card_ts,
            started_by=session.requester,
            status=str(restore.status),
            session_id=session.session_id,
            backup_id=restore.backup_id,
        )
        return True

    async def _session_for(
        self, operation: TrackedOperation, restore: Restore
    ) -> RestoreSession | None:
        if operation.session_id:
            found = await self._sessions.get(operation.session_id)
            if found is not None:
                return found
        return await self._sessions.find_by_restore_id(restore.restore_id)

    async def card_for(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> Message | None:
        session = await self._session_for(operation, restore)
        if session is None:
            return None
        shown: dict[str, Any] = {}
        if report_url and not session.report_url:
            shown["report_url"] = report_url
        if session.state is SessionState.RUNNING and restore.status in FINAL_RESTORE_STATUSES:
            # The tracker may redraw the card before it calls ``finished``: the card must
            # already say how the restore ended, not that it is still running.
            state, outcome = _final_state(restore)
            shown.update(state=state, outcome=outcome)
        if shown:
            session = session.model_copy(update=shown)
        return self._render(session, await self._facts(session.session_id), str(restore.status))

    async def finished(
        self, operation: TrackedOperation, restore: Restore, report_url: str | None
    ) -> None:
        session = await self._session_for(operation, restore)
        if session is None or restore.status not in FINAL_RESTORE_STATUSES:
            return
        target, outcome = _final_state(restore)
        await self._sessions.transition(
            session.session_id,
            to=target,
            actor=SYSTEM_ACTOR,
            action="finished",
            expected={SessionState.RUNNING},
            updates={"outcome": outcome, "report_url": report_url},
        )

    async def gone(self, operation: TrackedOperation) -> None:
        """Atlassian stopped reporting the restore: end its session as FAILED.

        Left RUNNING, the session would refuse every new restore onto its destination.
        """
        session = (
            await self._sessions.get(operation.session_id) if operation.session_id else None
        ) or await self._sessions.find_by_restore_id(operation.operation_id)
        if session is None:
            return
        outcome = (
            f"Atlassian no longer reports restore {operation.operation_id}; check "
            "admin.atlassian.com before restoring onto this site again."
        )
        moved = await self._sessions.transition(
            session.session_id,
            to=SessionState.FAILED,
            actor=SYSTEM_ACTOR,
            action="gone",
            expected={SessionState.RUNNING},
            updates={"outcome": outcome},
        )
        if moved.ok:
            await self.refresh_card(session.session_id)

    # -- the modal -----------------------------------------------------------------------

    async def open_modal(self, trigger_id: str, who: Invocation) -> None:
        """Open at once with the product picker: no I/O stands between the ack and views.open."""
        view = rb.restore_modal(
            channel_id=who.channel_id, product=None, backups=[], destinations=[]
        )
        await self._slack.views_open(trigger_id=trigger_id, view=view)

    async def _on_modal_product(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        async with self._services.pending.track():
            await ack()
            try:
                await self._fill_modal(body, action)
            except Exception:
                # A view action has no response_url: the log is the only place left to tell.
                log.exception("could not fill the restore form")

    async def _fill_modal(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        view = body.get("view") or {}
        view_id = str(view.get("id", ""))
        channel_id = str(view.get("private_metadata", ""))
        selected = (action.get("selected_option") or {}).get("value", "")
        try:
            product = Product(selected)
        except ValueError:
            return
        await self._slack.views_update(
            view_id=view_id, view=rb.loading_modal(channel_id=channel_id)
        )
        note = None
        try:
            backups = await self._restorable_backups(product)
        except BotError as exc:
            backups, note = [], exc.user_message
        destinations = sorted(self._services.sites.aliases.items())
        await self._slack.views_update(
            view_id=view_id,
            view=rb.restore_modal(
                channel_id=channel_id,
                product=product,
                backups=backups,
                destinations=destinations,
                note=note,
            ),
        )

    async def _restorable_backups(self, product: Product) -> list[rb.RestorableBackup]:
        now = self._services.clock.now()
        restores = await self._atlassian.list_restores()
        found: list[rb.RestorableBackup] = []
        for policy in await self._atlassian.list_policies():
            if policy.product != product:
                continue
            for backup in await self._atlassian.list_backups(policy.policy_id):
                if not rules.restorability(backup, restores, now).allowed:
                    continue
                found.append(
                    rb.RestorableBackup(
                        backup=backup,
                        site=self._services.sites.name(backup.cloud_id),
                        age=rules.describe_age(backup.created_at, now)
                        if backup.created_at
                        else "?",
                        expiry=rules.backup_expiry(backup),
                    )
                )
        found.sort(key=lambda item: item.backup.created_at or now, reverse=True)
        return found

    async def _on_modal_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async with self._services.pending.track():
            await self._submit_modal(ack, body, view)

    async def _submit_modal(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = (view.get("state") or {}).get("values") or {}

        def picked(block: str, action: str) -> str | None:
            option = (values.get(block, {}).get(action) or {}).get("selected_option") or {}
            value = option.get("value")
            return str(value) if value else None

        backup_choice = picked(rb.BLOCK_BACKUP, rb.ACTION_BACKUP)
        backup_id, source_cloud_id = (
            rb.parse_backup_option_value(backup_choice) if backup_choice else (None, None)
        )
        dest_cloud_id = picked(rb.BLOCK_DEST, rb.ACTION_DEST)
        errors = {}
        if not backup_id:
            errors[rb.BLOCK_BACKUP] = "Pick a backup to restore."
        if not dest_cloud_id:
            errors[rb.BLOCK_DEST] = "Pick the site to restore onto."
        elif source_cloud_id and dest_cloud_id.lower() == source_cloud_id.lower():
            errors[rb.BLOCK_DEST] = (
                "The backup was taken from this site; pick another site to restore onto."
            )
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        channel = str(view.get("private_metadata", ""))
        who = Invocation(user_id=user, channel_id=channel)
        reply = make_reply(_no_response_url, self._slack, who)
        refusal = self._services.access.command_refusal(user, channel, changes_things=True)
        if refusal:
            await reply(blocks.error_message(refusal, trusted=True))
            return
        chosen = (values.get(rb.BLOCK_OPTIONS, {}).get(rb.ACTION_OPTIONS) or {}).get(
            "selected_options"
        ) or []
        options = {str(o.get("value")) for o in chosen}
        command = cmd.RestoreStart(
            backup_id=backup_id or "",
            dest_cloud_id=dest_cloud_id or "",
            dest_label=self._services.sites.name(dest_cloud_id),
            include_attachments="attachments" in options,
            include_users_and_groups="users" in options,
        )
        await run_reporting_failures("the restore form", reply, self.start(command, who, reply))


async def _no_response_url(**_: Any) -> None:
    raise RuntimeError("view submissions carry no response_url")


def _final_state(restore: Restore) -> tuple[SessionState, str]:
    """The session state and outcome line for a restore Atlassian reports as ended."""
    target = SessionState.FAILED if restore.status == RestoreStatus.FAILED else SessionState.DONE
    message = restore.status_message or ""
    outcome = f"Atlassian reports {str(restore.status).lower()}" + (
        f": {message}" if message else "."
    )
    return target, outcome


def _has_attachments(backup: Backup) -> bool:
    if backup.include_attachments is not None:
        return backup.include_attachments
    size = backup.backup_size
    if size is not None and size.attachments_size is not None:
        return size.attachments_size > 0
    return True


__all__ = ["RestoreHandlers"]
