"""The Bolt app: acknowledge every request at once, then do the work.

Everything before ``ack()`` is pure (parsing, access rules from settings), so Slack gets its
answer within milliseconds whatever Atlassian, Redis or Slack's own Web API are doing. The
work after the ack runs in the listener's own task; every failure there reaches the user as
one sentence and the log as a redacted stack trace.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import BotError, UsageError
from bot.runtime import Services
from bot.slack import blocks
from bot.slack import commands as cmd
from bot.slack.blocks import Message
from bot.slack.handlers import CommandHandlers, Invocation, Reply

log = logging.getLogger(__name__)


def user_error_message(exc: BotError) -> Message:
    # Usage errors and access refusals are the bot's own mrkdwn (code spans, mentions);
    # everything else may carry text from the API and is escaped.
    trusted = isinstance(exc, UsageError)
    return blocks.error_message(exc.user_message, trusted=trusted)


async def run_reporting_failures(what: str, reply: Reply, work: Awaitable[None]) -> None:
    """Await post-ack work; any failure becomes one sentence for the user and a log entry."""
    try:
        await work
    except BotError as exc:
        log.info("%s refused: %s", what, exc)
        await reply(user_error_message(exc))
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("%s failed (ref %s)", what, reference)
        await reply(
            blocks.error_message(
                f"Something went wrong while handling {what}; nothing more was changed. "
                f"Try again, and give the bot's operator the reference {reference} if it fails "
                "again."
            )
        )


def make_reply(respond: Any, client: AsyncWebClient, who: Invocation) -> Reply:
    """Answer privately: through response_url, falling back to chat.postEphemeral."""

    async def reply(message: Message) -> None:
        try:
            await respond(response_type="ephemeral", replace_original=False, **message.as_kwargs())
            return
        except Exception:
            log.warning("response_url failed; falling back to chat.postEphemeral", exc_info=True)
        try:
            await client.chat_postEphemeral(
                channel=who.channel_id, user=who.user_id, **message.as_kwargs()
            )
        except SlackApiError:
            log.exception("could not answer %s privately in %s", who.user_id, who.channel_id)

    return reply


def build_app(
    services: Services,
    *,
    web_client: AsyncWebClient,
    signing_secret: str | None,
    bot_identity: AuthorizeResult,
    socket_mode: bool = False,
) -> AsyncApp:
    """The Bolt app with every listener; ``bot_identity`` comes from auth.test at start-up.

    Passing the identity instead of a token keeps Bolt from calling auth.test on the first
    request, which would put a Slack round trip in front of that request's ack.
    """

    async def authorize(**_: Any) -> AuthorizeResult:
        return bot_identity

    app = AsyncApp(
        client=web_client,
        signing_secret=signing_secret or "socket-mode-has-no-signature",
        authorize=authorize,
        request_verification_enabled=not socket_mode,
        # Ack first, work after: never process before responding.
        process_before_response=False,
    )
    handlers = CommandHandlers(services, web_client)
    from bot.slack.restore_handlers import RestoreHandlers

    restore = RestoreHandlers(services, web_client, handlers)

    async def on_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        who = Invocation(
            user_id=command.get("user_id", ""), channel_id=command.get("channel_id", "")
        )
        parsed = cmd.parse_command(
            command.get("command", ""), command.get("text", ""), services.sites
        )
        if isinstance(parsed, UsageError):
            await ack(response_type="ephemeral", **user_error_message(parsed).as_kwargs())
            return
        refusal = services.access.command_refusal(
            who.user_id, who.channel_id, changes_things=parsed.changes_things
        )
        if refusal:
            await ack(
                response_type="ephemeral", **blocks.error_message(refusal, trusted=True).as_kwargs()
            )
            return
        if isinstance(parsed, cmd.Help):
            await ack(
                response_type="ephemeral",
                **blocks.help_message(cmd.help_text(parsed.topic)).as_kwargs(),
            )
            return
        reply = make_reply(respond, web_client, who)
        if isinstance(parsed, cmd.RestoreModal):
            # trigger_id lives 3 s: open a loading modal in the ack window, fill it after.
            await ack()
            await run_reporting_failures(
                "/restore", reply, restore.open_modal(command.get("trigger_id", ""), who)
            )
            return
        await ack()
        what = f"`{command.get('command', '')} {command.get('text', '')}`".strip()
        if isinstance(parsed, cmd.RestoreStart):
            await run_reporting_failures(what, reply, restore.start(parsed, who, reply))
        else:
            await run_reporting_failures(what, reply, handlers.execute(parsed, who, reply))

    app.command("/backup")(on_command)
    app.command("/restore")(on_command)
    restore.register(app)

    from bot.slack.home import register_home

    register_home(app, services)
    return app


Listener = Callable[..., Awaitable[None]]
