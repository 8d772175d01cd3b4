"""The Bolt app: acknowledge every request at once, then do the work.

Everything before ``ack()`` is pure (parsing, access rules from settings), so Slack gets its
answer within milliseconds whatever Atlassian, Redis or Slack's own Web API are doing. The
work after the ack runs in the listener's own task; every failure there reaches the user as
one sentence and the log as a redacted stack trace.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger import messages as bolt_messages
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import UsageError
from bot.observability.context import Outcome, note_outcome
from bot.restore.workflow import RestoreWorkflow
from bot.runtime import Services
from bot.slack import blocks
from bot.slack import commands as cmd
from bot.slack.assurance import audit_detail
from bot.slack.gateway import SlackGateway, gateway_for
from bot.slack.handlers import (
    CommandHandlers,
    Invocation,
    make_reply,
    run_reporting_failures,
    user_error_message,
)
from bot.slack.home import register_home
from bot.slack.instrumentation import InstrumentedApp, name_command
from bot.slack.redelivery import once_per_event
from bot.slack.restore_handlers import RestoreHandlers
from bot.slack.restore_modal import RestoreModal
from bot.slack.restore_surface import RestoreCards, SlackRestoreSurface
from bot.slack.unhandled import AnswerUnhandled, MalformedActions
from bot.slack.usergroups import SlackGroupMembers, register_group_events

log = logging.getLogger(__name__)

#: Commands whose post-ack work may run at once; the rest wait their turn, already acked.
MAX_CONCURRENT_COMMANDS = 32


@functools.lru_cache(maxsize=64)
def help_message(topic: str | None) -> blocks.Message:
    """The help for a topic; built once, since building it walks every command's usage."""
    return blocks.help_message(cmd.help_text(topic))


@functools.lru_cache(maxsize=64)
def help_acknowledgement(topic: str | None) -> str:
    """The help for a topic as the acknowledgement's JSON body, encoded once.

    Given one string and nothing else, ``ack`` sends it as the whole body, marked as JSON
    when it opens with "{" (over HTTP and Socket Mode alike). This is the body Bolt would
    build from ``response_type``, ``text`` and ``blocks``, encoded by the same
    ``json.dumps``, so Slack gets the same bytes without the help being encoded again for
    every request.
    """
    message = help_message(topic)
    return json.dumps(
        {"text": message.text, "response_type": "ephemeral", "blocks": message.blocks}
    )


@dataclass(frozen=True)
class SlackBot:
    """The Bolt app and what stands behind it, for the tracker and housekeeping to share.

    ``restore_workflow`` is the core restore workflow (housekeeping calls its expiry and
    recovery; the tracker calls it as ``RestoreOutcomes``); ``restore_cards`` draws restore
    cards for the tracker's edits.
    """

    app: AsyncApp
    commands: CommandHandlers
    restore: RestoreHandlers
    gateway: SlackGateway
    restore_workflow: RestoreWorkflow
    restore_cards: RestoreCards


def make_restore_workflow(
    services: Services, gateway: SlackGateway
) -> tuple[RestoreWorkflow, SlackRestoreSurface]:
    """The restore workflow, reaching Slack through ``gateway``."""
    surface = SlackRestoreSurface(gateway, sites=services.sites, clock=services.clock)
    workflow = RestoreWorkflow(
        atlassian=services.atlassian,
        sessions=services.sessions,
        operations=services.operations,
        clock=services.clock,
        sites=services.sites,
        deciders=services.access,
        surface=surface,
    )
    return workflow, surface


class _TokenNotices(logging.Filter):
    """Drops Bolt's start-up notices that a token is ignored.

    AsyncApp warns at every start that its client's token, or ``SLACK_BOT_TOKEN`` (which it
    reads from the environment itself), "will be unused" beside ``authorize``: in this app
    the token is used, by the client the listeners call, so the notice only misleads.
    """

    _TEXTS = frozenset(
        {
            bolt_messages.warning_client_prioritized_and_token_skipped(),
            bolt_messages.warning_token_skipped(),
        }
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self._TEXTS


def _bolt_app(
    web_client: AsyncWebClient,
    signing_secret: str | None,
    authorize: Callable[..., Awaitable[AuthorizeResult]],
) -> InstrumentedApp:
    return InstrumentedApp(
        client=web_client,
        signing_secret=signing_secret or "socket-mode-has-no-signature",
        authorize=authorize,
        # Over HTTP, ``serve.http_application`` checks the signature on the raw bytes before
        # anything parses them, and it is the only way requests reach this app; Socket Mode
        # has no signature. A second check here would hash every request twice.
        request_verification_enabled=False,
        # Ack first, work after: never process before responding.
        process_before_response=False,
        # Requests no listener takes reach ``AnswerUnhandled`` instead of Bolt's 404.
        raise_error_for_unhandled_request=True,
    )


def build_app(
    services: Services,
    *,
    web_client: AsyncWebClient,
    signing_secret: str | None,
    bot_identity: AuthorizeResult,
    gateway: SlackGateway | None = None,
) -> SlackBot:
    """The Bolt app with every listener; ``bot_identity`` comes from auth.test at start-up.

    Passing the identity instead of a token keeps Bolt from calling auth.test on the first
    request, which would put a Slack round trip in front of that request's ack.
    """

    async def authorize(**_: Any) -> AuthorizeResult:
        return bot_identity

    bolt_log = logging.getLogger("slack_bolt.AsyncApp")
    notices = _TokenNotices()
    bolt_log.addFilter(notices)
    try:
        app = _bolt_app(web_client, signing_secret, authorize)
    finally:
        bolt_log.removeFilter(notices)
    runner = app.listener_runner
    unhandled = AnswerUnhandled(runner.listener_error_handler, services)
    runner.listener_error_handler = unhandled
    gateway = gateway or gateway_for(services, web_client)
    handlers = CommandHandlers(services, web_client, gateway=gateway)
    workflow, surface = make_restore_workflow(services, gateway)
    restore = RestoreHandlers(services, workflow, web_client)
    restore_form = RestoreModal(services, workflow, web_client)
    # A burst of commands is acknowledged at once but worked through a few at a time: every
    # unbounded request would wait in the HTTP clients' pools, whose bookkeeping grows with
    # the queue and would starve the acknowledgements that share this event loop.
    work_slots = asyncio.Semaphore(MAX_CONCURRENT_COMMANDS)

    async def on_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        async with services.pending.track():
            await handle_command(ack, command, respond)

    async def handle_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        who = Invocation(
            user_id=command.get("user_id", ""),
            channel_id=command.get("channel_id", ""),
            team_id=command.get("team_id", ""),
        )
        parsed = cmd.parse_command(
            command.get("command", ""), command.get("text", ""), services.sites
        )
        name_command(parsed)
        if isinstance(parsed, UsageError):
            await ack(response_type="ephemeral", **user_error_message(parsed).as_kwargs())
            return
        refusal = services.access.role_refusal(who.user_id, who.channel_id, parsed.spec.role)
        if refusal:
            note_outcome(Outcome.REFUSED)
            await ack(
                response_type="ephemeral", **blocks.error_message(refusal, trusted=True).as_kwargs()
            )
            if isinstance(parsed, cmd.ScheduleSet):
                # A schedule's trail shows who tried to change it too, after the ack.
                await services.schedules.audit_refused(
                    parsed.policy_id, who.user_id, audit_detail(parsed)
                )
            return
        if isinstance(parsed, cmd.Help):
            await ack(help_acknowledgement(parsed.topic))
            return
        reply = make_reply(respond, web_client, who)
        if isinstance(parsed, cmd.RestoreModal):
            # trigger_id lives 3 s: open a loading modal in the ack window, fill it after.
            await ack()
            await run_reporting_failures(
                "/restore", reply, restore_form.open(command.get("trigger_id", ""), who)
            )
            return
        await ack()
        what = f"`{command.get('command', '')} {command.get('text', '')}`".strip()
        async with work_slots:
            if isinstance(parsed, cmd.RestoreStart):
                await run_reporting_failures(what, reply, restore.start(parsed, who, reply))
            else:
                await run_reporting_failures(what, reply, handlers.execute(parsed, who, reply))

    app.middleware(once_per_event(services.redis, services.operations.key_prefix))
    app.middleware(MalformedActions(unhandled))
    app.command("/backup")(on_command)
    app.command("/restore")(on_command)
    restore.register(app)
    restore_form.register(app)

    register_home(app, services)
    roster = services.access.groups
    if roster is not None:
        roster.source = SlackGroupMembers(web_client)
    register_group_events(app, roster)
    return SlackBot(
        app=app,
        commands=handlers,
        restore=restore,
        gateway=gateway,
        restore_workflow=workflow,
        restore_cards=RestoreCards(workflow, surface),
    )
