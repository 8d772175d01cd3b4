"""Backup assurance in Slack: the schedule commands, `/backup status`, and scheduled cards.

``AssuranceCommands`` holds the handlers of `/backup schedule`, `/backup schedules` and
`/backup status` (``CommandHandlers`` routes to them by their declared names);
``SlackBackupCards`` draws the usual backup card for a backup a schedule started (the port
``bot.assurance.ports.BackupCards``). The words are ``bot.messages.assurance``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.assurance.scheduler import Scheduler, policy_name
from bot.assurance.schedules import DEFAULT_AT, DEFAULT_DAY, UTC_NAME, BackupSchedule, Cadence
from bot.assurance.store import valid_policy_id
from bot.atlassian.models import Backup, Policy
from bot.atlassian.schedules import describe_schedule, has_schedule, next_run
from bot.errors import Refused, SlackError
from bot.messages import assurance as words
from bot.runtime import Services
from bot.slack import blocks, operation_cards
from bot.slack import commands as cmd
from bot.slack.blocks import Message, OperationCard
from bot.slack.gateway import SlackGateway
from bot.slack.invocation import Invocation

log = logging.getLogger(__name__)

Reply = Callable[[Message], Awaitable[None]]


def audit_detail(command: cmd.ScheduleSet) -> str:
    """The change as the user asked for it, for the schedule's audit trail."""
    parts = [command.choice.value]
    if command.day is not None:
        parts.append(f"day={command.day.word}")
    if command.at is not None:
        parts.append(f"at={command.at:%H:%M}")
    if command.tz is not None:
        parts.append(f"tz={command.tz}")
    return " ".join(parts)


class AssuranceCommands:
    """The assurance commands; mixed into ``CommandHandlers``."""

    _services: Services

    if TYPE_CHECKING:
        # CommandHandlers' own: a change posted in the channel, or told privately if not.
        async def announce_change(
            self, who: Invocation, reply: Reply, message: Message, line: str
        ) -> None: ...

    async def schedule(self, command: cmd.ScheduleSet, who: Invocation, reply: Reply) -> None:
        atlassian = self._services.atlassian
        profile = atlassian.profile
        if profile.has_activation:
            raise Refused(words.schedules_refused_on_v2(profile.name, command.policy_id))
        if not valid_policy_id(command.policy_id):
            raise Refused(words.not_a_schedulable_policy(command.policy_id))
        store = self._services.schedules
        now = self._services.clock.now()
        if command.choice is cmd.ScheduleChoice.OFF:
            # Not asked of Atlassian: a schedule whose policy was deleted must still go off.
            had = await store.remove(command.policy_id, who.user_id)
            text = words.schedule_off(command.policy_id, who.user_id, had)
            if not had:
                await reply(blocks.info_message(text))
                return
            off = words.schedule_off_line()
            await self.announce_change(who, reply, blocks.info_message(text), off)
            return
        policy = await atlassian.get_policy(command.policy_id)
        schedule = BackupSchedule(
            policy_id=policy.policy_id,
            cadence=Cadence(command.choice.value),
            at=command.at or DEFAULT_AT,
            tz=command.tz or UTC_NAME,
            channel=who.channel_id,
            set_by=who.user_id,
            set_at=now,
            day=command.day or DEFAULT_DAY,
        )
        await store.put(schedule, audit_detail(command))
        name = policy_name(policy, self._services.sites)
        text = words.schedule_set(name, schedule, schedule.next_slot(now))
        set_line = words.schedule_set_line()
        await self.announce_change(who, reply, blocks.info_message(text), set_line)

    async def schedules(self, command: cmd.Schedules, who: Invocation, reply: Reply) -> None:
        atlassian = self._services.atlassian
        now = self._services.clock.now()
        if atlassian.profile.has_activation:
            lines = [words.atlassian_schedules_heading(atlassian.profile.name)]
            for policy in await atlassian.list_policies():
                upcoming = next_run(policy.schedule, now) if policy.is_active else None
                name = policy_name(policy, self._services.sites)
                described = (
                    describe_schedule(policy.schedule) if has_schedule(policy.schedule) else None
                )
                lines.append(
                    words.atlassian_schedule_line(
                        name, described, upcoming, active=policy.is_active
                    )
                )
            await reply(Message(text=lines[0], blocks=blocks.list_sections(lines)))
            return
        store = self._services.schedules
        found = await store.all()
        if not found:
            await reply(blocks.info_message(words.no_schedules()))
            return
        gone = await store.gone([s.policy_id for s in found])
        lines = [
            words.schedule_line_policy_gone(s, gone[s.policy_id])
            if s.policy_id in gone
            else words.schedule_line(s, s.next_slot(now))
            for s in found
        ]
        heading = words.schedules_heading(len(found))
        await reply(
            Message(text=heading, blocks=[blocks.header(heading), *blocks.list_sections(lines)])
        )

    async def status(self, command: cmd.Status, who: Invocation, reply: Reply) -> None:
        lines = await self._services.status_report.lines()
        text = words.status_text(lines, self._services.clock.now())
        await reply(Message(text=text.split("\n", 1)[0], blocks=blocks.list_sections([text])))


class SlackBackupCards:
    """Posts the usual backup card for a backup a schedule started."""

    def __init__(self, gateway: SlackGateway, services: Services) -> None:
        self._gateway = gateway
        self._sites = services.sites

    async def post_started(
        self, policy: Policy, backup: Backup, channel: str, started_by: str
    ) -> str | None:
        view = OperationCard(
            kind="backup",
            operation_id=backup.backup_id,
            product=policy.product,
            site=self._sites.name(policy.cloud_id),
            started_by=started_by,
            status=backup.status,
            started_at=backup.created_at,
        )
        card = operation_cards.started(view, backup.backup_id, backup.status, backup.created_at)
        try:
            posted = await self._gateway.post(channel, blocks.operation_card(card))
        except SlackError as exc:
            log.warning("scheduled backup %s: no card in %s (%s)", backup.backup_id, channel, exc)
            return None
        return posted.ts


def scheduler_for(services: Services, gateway: SlackGateway, *, process_id: str) -> Scheduler:
    """The scheduler of one process, its cards posted through ``gateway``."""
    return Scheduler(
        services.schedules,
        services.operations,
        services.atlassian,
        SlackBackupCards(gateway, services),
        services.clock,
        services.sites,
        process_id=process_id,
        tries=services.settings.bot_schedule_tries,
    )


__all__ = ["AssuranceCommands", "SlackBackupCards", "audit_detail", "scheduler_for"]
