"""What each slash command does once it has been acknowledged.

The Bolt listener (bot/slack/app.py) parses and authorises with no I/O, acknowledges, and
then hands the parsed command to ``CommandHandlers.execute``. Read-only commands answer
through ``reply`` (ephemeral, only the caller sees it); anything that starts work posts a
status card in the channel, whose channel and ts are kept in Redis for the tracker.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.atlassian import rules
from bot.atlassian.models import (
    Product,
    Restore,
)
from bot.errors import (
    BotError,
    ConflictError,
    NotFoundError,
    Refused,
    RestoreRefused,
    RuleViolation,
    SlackError,
    SlackNotAuthorized,
    SlackRateLimited,
    SlackRefused,
    SlackUnavailable,
    UsageError,
)
from bot.messages import atlassian as atlassian_words
from bot.messages import commands as commands_words
from bot.messages import labels
from bot.messages import restore as restore_words
from bot.messages.suggest import closest
from bot.observability.context import Outcome, failure_reference, note_outcome
from bot.runtime import Services
from bot.slack import blocks, operation_cards, policy_blocks
from bot.slack import commands as cmd
from bot.slack.assurance import AssuranceCommands
from bot.slack.blocks import Message, OperationCard
from bot.slack.commands import escape_mrkdwn
from bot.slack.gateway import SlackGateway, gateway_for
from bot.slack.invocation import (
    Invocation,
    NotTracked,
    PostedCard,
    SlackPostFailed,
    product_name,
)
from bot.slack.policy_handlers import PolicyCommands, Reply
from bot.slack.transfers import Transfers
from bot.store.operations import OperationKind

log = logging.getLogger(__name__)

T = TypeVar("T")


class CommandHandlers(AssuranceCommands, PolicyCommands):
    def __init__(
        self, services: Services, slack: AsyncWebClient, *, gateway: SlackGateway | None = None
    ) -> None:
        self._services = services
        self._slack = slack
        self._gateway = gateway or gateway_for(services, slack)
        self._transfers = Transfers(services, self)
        self._atlassian = services.atlassian
        self._sites = services.sites

    def handles(self, command: cmd.SlashCommand) -> bool:
        return command.spec.handler is not None

    async def execute(self, command: cmd.SlashCommand, who: Invocation, reply: Reply) -> None:
        """Run the handler the registry names for this command."""
        name = command.spec.handler
        if name is None:
            raise TypeError(f"{type(command).__name__} is answered by the Slack app itself")
        handler: Callable[[Any, Invocation, Reply], Awaitable[None]] = getattr(self, name)
        try:
            await handler(command, who, reply)
        except NotFoundError as exc:
            sentence = await self._not_found_sentence(command)
            if sentence is None:
                raise
            raise Refused(sentence) from exc
        except ConflictError as exc:
            said = atlassian_words.atlassian_busy(exc.message, self._alias, exc.default_hint)
            raise Refused(said) from exc
        except RuleViolation as exc:
            said = atlassian_words.atlassian_refused(exc.message, self._alias, command.spec.usage)
            raise Refused(said) from exc

    def _alias(self, cloud_id: str) -> str:
        named = self._sites.name(cloud_id)
        return atlassian_words.SITE_WITHOUT_ALIAS if named == cloud_id else named

    async def _not_found_sentence(self, command: cmd.SlashCommand) -> str | None:
        """For commands that name one id, a 404 can only mean that id: say which it was,
        and which known id it is closest to when it looks like a typo of one."""
        known = command.spec.not_found
        if known is None:
            return None
        cloud_id = getattr(command, "cloud_id", None)
        typed = str(getattr(command, known.field))
        # An id with no letter or digit (`.`, `..`) is no typo of a real one: nothing to list.
        meant = (
            closest(typed, await self._known_ids(known.noun))
            if any(c.isalnum() for c in typed)
            else None
        )
        return commands_words.no_such_id(
            known.noun,
            typed,
            site=self._site(cloud_id) if cloud_id else None,
            hint=known.hint,
            meant=meant,
        )

    async def _known_ids(self, noun: str) -> list[str]:
        """The ids of this kind the bot can see now; none when Atlassian cannot list them."""
        api = self._atlassian
        try:
            if noun == "backup policy":
                return [policy.policy_id for policy in await api.list_policies()]
            if noun == "storage":
                return [storage.storage_id for storage in await api.list_storages()]
            if noun == "restore":
                return [restore.restore_id for restore in await api.list_restores()]
            if noun == "export":
                return [export.export_id for export in await api.list_exports()]
            if noun == "backup":
                return [
                    backup.backup_id
                    for policy in await api.list_policies()
                    for backup in await api.list_backups(policy.policy_id)
                ]
        except BotError:
            log.info("could not list %s ids for a suggestion", noun, exc_info=True)
        return []

    @property
    def _now(self) -> Any:
        return self._services.clock.now()

    # -- cards -------------------------------------------------------------------------

    async def post_card(self, channel: str, message: Message) -> PostedCard:
        """Post a status card; any failure means the card is not there and nothing started."""
        try:
            posted = await self._gateway.post(channel, message)
        except (SlackRefused, SlackNotAuthorized) as exc:
            if exc.error in ("not_in_channel", "channel_not_found", "is_archived"):
                raise SlackPostFailed(
                    commands_words.CANNOT_POST_HERE,
                    error=exc.error,
                ) from None
            raise SlackPostFailed(
                commands_words.card_refused(exc.error),
                error=exc.error,
            ) from None
        except SlackRateLimited as exc:
            raise SlackPostFailed(
                commands_words.posting_too_fast(exc.retry_after),
                error="ratelimited",
            ) from None
        except SlackUnavailable:
            # Slack did not answer: the card may or may not exist, and nothing was started.
            log.warning("posting a card in %s failed", channel, exc_info=True)
            raise SlackPostFailed(
                commands_words.SLACK_DID_NOT_ANSWER,
                error="no_answer",
            ) from None
        return PostedCard(channel=posted.channel, ts=posted.ts)

    async def announce_change(
        self, who: Invocation, reply: Reply, message: Message, line: str
    ) -> None:
        """Show the channel a change that has already been made.

        The change cannot be undone, so when Slack refuses the card the caller is told
        privately that it happened: a suggestion to run the command again would make it twice.
        """
        announced = operation_cards.announced(message, line)
        try:
            await self.post_card(who.channel_id, announced)
        except SlackPostFailed as exc:
            log.warning("could not announce a change in %s: %s", who.channel_id, exc.error)
            note = commands_words.done_but_only_you_see_it(exc.error)
            await reply(
                Message(
                    text=labels.done(announced.text),
                    blocks=[*announced.blocks[: blocks.MAX_BLOCKS - 1], blocks.context(note)],
                )
            )

    async def update_card(self, card: PostedCard, message: Message) -> None:
        try:
            await self._gateway.update(card.channel, card.ts, message)
        except SlackError:
            # The operation itself went ahead; the tracker redraws the card on its next pass.
            log.warning("could not update card %s/%s", card.channel, card.ts, exc_info=True)

    def _site(self, cloud_id: str | None) -> str:
        return self._sites.name(cloud_id)

    def _filters(self, cloud_id: str | None, product: Product | None) -> list[str]:
        """The filter options as the user typed them, for an answer that found nothing."""
        typed = [f"site={self._site(cloud_id)}"] if cloud_id else []
        return typed + ([f"product={product.value.lower()}"] if product else [])

    # -- read-only ---------------------------------------------------------------------

    async def whoami(self, command: cmd.WhoAmI, who: Invocation, reply: Reply) -> None:
        access = self._services.access
        roles = [role.value for role in access.roles(who.user_id)]
        sources = [(grant.role.value, grant.via_group) for grant in access.grants(who.user_id)]
        await reply(blocks.whoami_message(who.user_id, roles, sources))

    async def sites(self, command: cmd.Sites, who: Invocation, reply: Reply) -> None:
        await reply(blocks.sites_message(self._sites))

    async def regions(self, command: cmd.Regions, who: Invocation, reply: Reply) -> None:
        await reply(blocks.regions_message(await self._atlassian.list_regions()))

    async def storage_list(self, command: cmd.StorageList, who: Invocation, reply: Reply) -> None:
        storages = await self._atlassian.list_storages(
            cloud_id=command.cloud_id, product=command.product
        )
        filters = self._filters(command.cloud_id, command.product)
        await reply(blocks.storages_message(storages, self._sites, filters))

    async def storage_show(self, command: cmd.StorageShow, who: Invocation, reply: Reply) -> None:
        storage = await self._atlassian.get_storage(command.storage_id)
        await reply(blocks.storage_message(storage, self._sites))

    async def backup_list(self, command: cmd.BackupList, who: Invocation, reply: Reply) -> None:
        backups = await self._atlassian.list_backups(command.policy_id)
        await reply(blocks.backups_message(command.policy_id, backups, self._now))

    async def backup_show(self, command: cmd.BackupShow, who: Invocation, reply: Reply) -> None:
        backup = await self._atlassian.get_backup(command.backup_id)
        await reply(blocks.backup_message(backup, self._sites, self._now))

    async def exports(self, command: cmd.Exports, who: Invocation, reply: Reply) -> None:
        exports = await self._atlassian.list_exports(product=command.product)
        filters = self._filters(None, command.product)
        await reply(blocks.exports_message(exports, self._sites, filters))

    async def export_status(self, command: cmd.ExportStatus, who: Invocation, reply: Reply) -> None:
        cloud_id = command.cloud_id or await self._services.operations.site_of(
            OperationKind.EXPORT, command.export_id
        )
        if cloud_id is None:
            listed = [
                e for e in await self._atlassian.list_exports() if e.export_id == command.export_id
            ]
            cloud_id = listed[0].cloud_id if listed else None
        if cloud_id is None:
            raise UsageError(
                commands_words.export_site_unknown(command.export_id),
                cmd.ExportStatus.usage,
            )
        export = await self._atlassian.get_export(cloud_id=cloud_id, export_id=command.export_id)
        await reply(blocks.transfer_message("export", export, self._sites))

    async def import_status(self, command: cmd.ImportStatus, who: Invocation, reply: Reply) -> None:
        cloud_id = command.cloud_id or await self._services.operations.site_of(
            OperationKind.IMPORT, command.import_id
        )
        if cloud_id is None:
            raise UsageError(
                commands_words.import_site_unknown(command.import_id),
                cmd.ImportStatus.usage,
            )
        item = await self._atlassian.get_import(cloud_id=cloud_id, import_id=command.import_id)
        await reply(blocks.transfer_message("import", item, self._sites))

    async def restore_list(self, command: cmd.RestoreList, who: Invocation, reply: Reply) -> None:
        restores = await self._atlassian.list_restores(
            cloud_id=command.cloud_id, product=command.product
        )
        filters = self._filters(command.cloud_id, command.product)
        await reply(blocks.restores_message(restores, self._sites, filters))

    async def restore_show(self, command: cmd.RestoreShow, who: Invocation, reply: Reply) -> None:
        restore = await self._atlassian.get_restore(command.restore_id)
        decisions: list[str] = []
        session = await self._services.sessions.find_by_restore_id(restore.restore_id)
        if session is not None:
            decisions = [
                restore_words.decision_line(
                    at=entry.at,
                    actor=entry.actor,
                    action=entry.action,
                    outcome=entry.outcome,
                    to=entry.to_state,
                    detail=entry.detail,
                    session=session,
                )
                for entry in await self._services.sessions.audit_trail(session.session_id)
            ]
        await reply(blocks.restore_message(restore, self._sites, decisions))

    async def restore_report(
        self, command: cmd.RestoreReport, who: Invocation, reply: Reply
    ) -> None:
        restore = await self._find_restore_for_report(command)
        if restore.migration_id is None or restore.cloud_id is None:
            raise Refused(commands_words.report_not_yet(restore.restore_id, restore.status))
        try:
            url = await self._atlassian.get_post_op_report(
                cloud_id=command.cloud_id or restore.cloud_id, migration_id=restore.migration_id
            )
        except NotFoundError:
            site = escape_mrkdwn(self._site(command.cloud_id or restore.cloud_id))
            raise Refused(commands_words.no_report_yet(restore.restore_id, site)) from None
        await reply(blocks.report_message(command.ref, url))

    async def _find_restore_for_report(self, command: cmd.RestoreReport) -> Restore:
        try:
            return await self._atlassian.get_restore(command.ref)
        except NotFoundError:
            pass
        # Not a restore id: look for a restore with that migration id.
        for restore in await self._atlassian.list_restores(cloud_id=command.cloud_id):
            if restore.migration_id == command.ref:
                return restore
        site = self._site(command.cloud_id) if command.cloud_id else None
        raise Refused(commands_words.no_such_restore(command.ref, site))

    # -- changing things ---------------------------------------------------------------

    async def backup_run(self, command: cmd.BackupRun, who: Invocation, reply: Reply) -> None:
        policy = await self._atlassian.get_policy(command.policy_id)
        verdict = rules.may_run_backup(
            await self._atlassian.list_backups(policy.policy_id),
            self._now,
            rules=self._atlassian.profile.rules,
        )
        if not verdict.allowed:
            raise Refused(verdict.reason, verdict.possible_from)
        card_view = OperationCard(
            kind="backup",
            operation_id="(starting)",
            product=policy.product,
            site=self._site(policy.cloud_id),
            started_by=who.user_id,
            status="STARTING",
            started_at=self._now,
        )
        card = await self.post_card(who.channel_id, blocks.operation_card(card_view))
        try:
            backup = await self._atlassian.run_backup(
                policy_id=policy.policy_id, cloud_id=policy.cloud_id
            )
        except BotError as exc:
            await self.update_card(card, operation_cards.failed_to_start(card_view, exc))
            raise
        started = operation_cards.started(
            card_view, backup.backup_id, backup.status, backup.created_at
        )
        await self.update_card(card, blocks.operation_card(started))
        note = policy_blocks.schedule_note(policy, self._now)
        if note is not None:
            await reply(note)
        try:
            await self._services.operations.register(
                OperationKind.BACKUP,
                backup.backup_id,
                cloud_id=policy.cloud_id,
                product=product_name(policy.product),
                channel=card.channel,
                card_ts=card.ts,
                started_by=who.user_id,
                status=str(backup.status),
                policy_id=policy.policy_id,
            )
        except Exception as exc:
            raise NotTracked(
                "backup", backup.backup_id, f"/backup show {backup.backup_id}"
            ) from exc

    async def export(self, command: cmd.Export, who: Invocation, reply: Reply) -> None:
        await self._transfers.start(OperationKind.EXPORT, command.backup_ids, who)

    async def import_(self, command: cmd.Import, who: Invocation, reply: Reply) -> None:
        await self._transfers.start(OperationKind.IMPORT, command.backup_ids, who)


def user_error_message(exc: BotError) -> Message:
    # Usage errors and access refusals are the bot's own mrkdwn (code spans, mentions);
    # everything else may carry text from the API and is escaped.
    trusted = isinstance(exc, UsageError) or (isinstance(exc, RestoreRefused) and exc.mrkdwn)
    return blocks.error_message(exc.user_message, trusted=trusted)


async def run_reporting_failures(what: str, reply: Reply, work: Awaitable[T]) -> T | None:
    """Await post-ack work, and its result; any failure becomes one sentence for the user
    and a log entry (and None)."""
    try:
        return await work
    except BotError as exc:
        note_outcome(Outcome.REFUSED)
        log.info("%s refused: %s", what, exc)
        await reply(user_error_message(exc))
    except Exception:
        # The same id the request's log lines carry, so the operator finds them at once.
        reference = failure_reference()
        log.exception("%s failed (ref %s)", what, reference)
        await reply(blocks.error_message(commands_words.something_went_wrong(what, reference)))
    return None


def pooled_respond(respond: Any, session: aiohttp.ClientSession | None) -> Any:
    """Bolt's ``respond``, posting over ``session``'s pooled connections.

    Bolt's own opens a new HTTP session, and so a new connection, for every post; in a click
    storm that connection set-up was a third of the bot's time. Anything that is not Bolt's
    ``respond`` (no ``response_url``), or no shared session, is returned as it is.
    """
    url = getattr(respond, "response_url", None)
    if session is None or session.closed or not isinstance(url, str) or not url:
        return respond
    return _post_to(url, session)


def _post_to(url: str, session: aiohttp.ClientSession | None) -> Any:
    async def post(**message: Any) -> WebhookResponse:
        body = {key: value for key, value in message.items() if value is not None}
        pooled = session if session is not None and not session.closed else None
        return await AsyncWebhookClient(url=url, session=pooled).send_dict(body)

    return post


def make_reply(respond: Any, client: AsyncWebClient, who: Invocation) -> Reply:
    """Answer privately: through response_url, falling back to chat.postEphemeral."""
    return _reply(pooled_respond(respond, client.session), client, who)


def reply_at(response_url: str, client: AsyncWebClient, who: Invocation) -> Reply:
    """Answer privately through ``response_url`` (pooled), else by chat.postEphemeral."""
    return _reply(_post_to(response_url, client.session) if response_url else None, client, who)


def _reply(respond: Any, client: AsyncWebClient, who: Invocation) -> Reply:
    async def reply(message: Message) -> None:
        if respond is not None:
            try:
                await respond(
                    response_type="ephemeral", replace_original=False, **message.as_kwargs()
                )
                return
            except Exception:
                log.warning(
                    "response_url failed; falling back to chat.postEphemeral", exc_info=True
                )
        try:
            await client.chat_postEphemeral(
                channel=who.channel_id, user=who.user_id, **message.as_kwargs()
            )
        except Exception:  # an error from Slack or no connection to it: the answer is lost
            log.exception("could not answer %s privately in %s", who.user_id, who.channel_id)

    return reply


__all__ = [
    "CommandHandlers",
    "Invocation",
    "NotTracked",
    "PostedCard",
    "Reply",
    "SlackPostFailed",
    "make_reply",
    "pooled_respond",
    "reply_at",
    "run_reporting_failures",
    "user_error_message",
]
