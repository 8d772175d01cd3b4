"""Tracking: every backup, export, import and restore followed to its end and reported.

Admins must learn how each operation ended without asking, exactly once, even when the bot
restarts or runs as several replicas. The tracker keeps no state of its own that matters:
everything is in Redis (``bot.store.operations`` and its outboxes), and any number of
tracker processes may run. It is core: it decides what must be said where and when, and
hands the saying to a ``SlackPort`` (implemented on the Slack side by
``bot.slack.tracker_slack.TrackerSlack``); it never imports the Slack package.

The parts, each readable alone:

- ``loop``: ``Tracker``, the poll cycle and the loop around it;
- ``shards``: this process's fair share of the operations, on leases;
- ``poller``: what Atlassian says of them, in few calls;
- ``status``: pure rules, what a status means and when an operation ended;
- ``changes``: a change recorded once, with the notifications it causes;
- ``reminders``: expiry reminders and idle-policy nudges;
- ``adoption``: operations found running at start-up;
- ``sender`` and ``delivery``: the outboxes sent in order, within Slack's budgets;
- ``ports``: what the tracker needs from the Slack side and the restore workflow.

What is guaranteed, and the remaining window
--------------------------------------------
Each transition is recorded once and its notifications are queued with it, so nothing is
lost to a crash, a restart, a Slack outage or a 429. Slack's chat.postMessage has no
idempotency key, so delivery is exactly once except in one window: a process that dies (or
stalls longer than its lease) after Slack accepted a message and before the
acknowledgement reached Redis leaves the entry in the outbox, and the next holder of the
shard posts it again. The window is one Slack round trip plus one Redis round trip wide.
The same holds for the card posted for an operation adopted at start-up. (Nothing retries a
send blindly inside that window: the Web API client carries no retry handler, see
``bot.slack.serve.make_web_client``.)

Finished operations stay readable (``export-status`` remembers their site) for
``BOT_RETENTION_DAYS`` after they ended, then leave Redis with their outboxes.
"""

from bot.tracking.cycle import CycleStats
from bot.tracking.loop import DEFAULT_SHARDS, Tracker
from bot.tracking.ports import RestoreOutcomes, SlackPort
from bot.tracking.status import FINAL_STATUSES, UNDOCUMENTED_END_STATUSES, ends_operation

__all__ = [
    "DEFAULT_SHARDS",
    "FINAL_STATUSES",
    "UNDOCUMENTED_END_STATUSES",
    "CycleStats",
    "RestoreOutcomes",
    "SlackPort",
    "Tracker",
    "ends_operation",
]
