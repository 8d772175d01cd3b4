"""The bot's background loops: the tracker, the backup schedules, restore-session expiry and
crash recovery, and the refresh of the user groups that grant roles.

They run beside Slack handling in the same event loop and never block it: each loop awaits
only network I/O and catches its own failures, so one bad cycle is logged and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.assurance.scheduler import Scheduler
from bot.runtime import Services
from bot.slack.app import SlackBot
from bot.slack.assurance import scheduler_for
from bot.slack.tracker_slack import TrackerSlack
from bot.tracking import Tracker

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 60.0


@dataclass
class Background:
    tracker: Tracker
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def stop(self) -> None:
        self.stop_event.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def process_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def housekeeping_once(bot: SlackBot) -> None:
    """Expire undecided restore sessions, settle unconfirmed restore decisions and calls, and
    forget finished sessions past their retention."""
    await bot.restore_workflow.expire_due()
    await bot.restore_workflow.recover_in_flight()
    await bot.restore_workflow.forget_finished()


async def _housekeeping(bot: SlackBot, stop: asyncio.Event, interval: float) -> None:
    while not stop.is_set():
        try:
            await housekeeping_once(bot)
        except Exception:
            log.exception("restore housekeeping failed; retrying in %.0f s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def _schedules(scheduler: Scheduler, stop: asyncio.Event, interval: float) -> None:
    while not stop.is_set():
        try:
            await scheduler.step()
        except Exception:
            log.exception("the backup schedules failed a step; retrying in %.0f s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def start_background(
    bot: SlackBot,
    services: Services,
    slack: AsyncWebClient,
    *,
    housekeeping_seconds: float = HOUSEKEEPING_SECONDS,
) -> Background:
    tracker = Tracker(
        services,
        TrackerSlack(bot.gateway, services, restore_cards=bot.restore_cards),
        process_id=process_id(),
        restore_outcomes=bot.restore_workflow,
    )
    background = Background(tracker=tracker)
    try:
        await tracker.adopt_running()
    except Exception:
        log.exception("could not adopt running operations at start-up; the tracker will go on")
    loops = [
        tracker.run(background.stop_event),
        _housekeeping(bot, background.stop_event, housekeeping_seconds),
        _schedules(
            scheduler_for(services, bot.gateway, process_id=tracker.process_id),
            background.stop_event,
            float(services.settings.bot_poll_seconds),
        ),
    ]
    roster = services.access.groups
    if roster is not None:
        # Read once before serving, so a group's members are known from the first request.
        await roster.refresh()
        loops.append(roster.run(background.stop_event))
    for work in loops:
        task = asyncio.create_task(work)
        background.tasks.add(task)
    return background
