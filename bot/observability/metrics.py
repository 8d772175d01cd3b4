"""Every Prometheus metric the bot exports, defined once, in one registry.

Names start with ``backup_bot_``; the process's own (``process_*``, ``python_*``) come from
prometheus-client's collectors. No label carries a user, a channel, an id or text somebody
typed: label values come from fixed sets (request kinds, outcomes, restore states, Slack
methods, the Atlassian client's operation names, HTTP status codes) or pass through
``BoundedNames``, which lets a fixed number of distinct values through and reports any
further one as ``other``, so a label can never grow without bound.

The bot's parts record through the functions below rather than touching the metric objects,
so a name or label changes in one place. Recording costs a lock and a dictionary lookup:
nothing that shows next to a Slack acknowledgement.

Replicas share one Redis, so each exports the same sampled gauges (tracked operations,
outbox, restore sessions; see ``bot.observability.sampler``): dashboards take ``max`` of
those across replicas and ``sum`` of the counters.
"""

from __future__ import annotations

import platform
import time
import weakref
from importlib import metadata
from typing import Final, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from bot.observability.context import Outcome, RequestKind

# ``*_created`` series double every counter and histogram for a timestamp nobody graphs.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY: Final = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

OTHER: Final = "other"


class BoundedNames:
    """Lets at most ``limit`` distinct names through; any further one becomes ``other``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, name: str) -> str:
        if name in self._seen:
            return name
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(name)
        return name


# -- Slack requests -----------------------------------------------------------------------

# Slack waits 3 s; the interesting range is a few milliseconds to that deadline.
ACK_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)

SLACK_REQUESTS: Final = Counter(
    "backup_bot_slack_requests",
    "Slack requests (slash commands, button clicks, modal submissions, events) handled, "
    "by kind, name and outcome (ok, refused, error), counted when their work finished.",
    ["kind", "name", "outcome"],
    registry=REGISTRY,
)
ACK_SECONDS: Final = Histogram(
    "backup_bot_slack_ack_seconds",
    "Time from a Slack request's arrival to its acknowledgement, by kind.",
    ["kind"],
    buckets=ACK_BUCKETS,
    registry=REGISTRY,
)
_REQUEST_NAMES: Final = {kind: BoundedNames(64) for kind in RequestKind}
# Every request records into one of these: the labelled children are looked up once, not
# per request (``labels`` takes a lock and builds a key each time). Both sets are bounded:
# five kinds, and at most 64 names per kind and outcome.
_ACKS: Final = {kind: ACK_SECONDS.labels(kind.value) for kind in RequestKind}
_COUNTED: Final[dict[tuple[RequestKind, str, Outcome], Counter]] = {}


CLICKS_TURNED_AWAY: Final = Counter(
    "backup_bot_card_clicks_turned_away",
    "Restore card clicks not taken because too many were waiting for the bot's workers "
    "(answered 503 over HTTP, told to press again over Socket Mode); nothing was decided.",
    registry=REGISTRY,
)


def count_turned_away() -> None:
    CLICKS_TURNED_AWAY.inc()


def observe_ack(kind: RequestKind, seconds: float) -> None:
    _ACKS[kind].observe(seconds)


def count_request(kind: RequestKind, name: str, outcome: Outcome) -> None:
    key = (kind, name, outcome)
    counter = _COUNTED.get(key)
    if counter is None:
        label = _REQUEST_NAMES[kind](name)
        counter = SLACK_REQUESTS.labels(kind.value, label, outcome.value)
        if label == name:
            _COUNTED[key] = counter  # names beyond the bound stay uncached: "other" is shared
    counter.inc()


# -- Atlassian ----------------------------------------------------------------------------

ATLASSIAN_REQUESTS: Final = Counter(
    "backup_bot_atlassian_requests",
    "HTTP requests to the Atlassian backup API, each attempt counted, by operation and "
    "status (the HTTP status code, or timeout / connection_error).",
    ["operation", "status"],
    registry=REGISTRY,
)
ATLASSIAN_SECONDS: Final = Histogram(
    "backup_bot_atlassian_request_seconds",
    "Duration of one HTTP request to the Atlassian backup API, by operation.",
    ["operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
ATLASSIAN_RETRIES: Final = Counter(
    "backup_bot_atlassian_retries",
    "Atlassian requests repeated after a 429, a 5xx or a failed connection, by operation.",
    ["operation"],
    registry=REGISTRY,
)
_OPERATIONS: Final = BoundedNames(64)
_STATUSES: Final = BoundedNames(64)


def observe_atlassian(operation: str, status: str, seconds: float) -> None:
    operation = _OPERATIONS(operation)
    ATLASSIAN_REQUESTS.labels(operation, _STATUSES(status)).inc()
    ATLASSIAN_SECONDS.labels(operation).observe(seconds)


def count_atlassian_retry(operation: str) -> None:
    ATLASSIAN_RETRIES.labels(_OPERATIONS(operation)).inc()


# -- Slack Web API ------------------------------------------------------------------------

SLACK_API_CALLS: Final = Counter(
    "backup_bot_slack_api_calls",
    "Slack Web API calls made through the gateway, by method and outcome (ok, "
    "rate_limited for a 429, refused, unavailable).",
    ["method", "outcome"],
    registry=REGISTRY,
)
SLACK_SENDS_DEFERRED: Final = Counter(
    "backup_bot_slack_sends_deferred",
    "Sends the gateway held back without calling Slack, because the method's budget was "
    "spent or a 429 was still in force, by method.",
    ["method"],
    registry=REGISTRY,
)
_SLACK_METHODS: Final = BoundedNames(32)


def count_slack_call(method: str, outcome: str) -> None:
    SLACK_API_CALLS.labels(_SLACK_METHODS(method), outcome).inc()


def count_slack_deferred(method: str) -> None:
    SLACK_SENDS_DEFERRED.labels(_SLACK_METHODS(method)).inc()


# -- the tracker and the state in Redis ---------------------------------------------------

TRACKER_CYCLE_SECONDS: Final = Histogram(
    "backup_bot_tracker_cycle_seconds",
    "Duration of one tracker cycle (polling the tracked operations, sending their news).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=REGISTRY,
)
TRACKER_LAST_CYCLE: Final = Gauge(
    "backup_bot_tracker_last_cycle_timestamp_seconds",
    "Unix time at which this process last finished a tracker cycle.",
    registry=REGISTRY,
)
OPERATIONS_TRACKED: Final = Gauge(
    "backup_bot_operations_tracked",
    "Operations the tracker is following, by kind and last seen status (sampled from Redis).",
    ["kind", "status"],
    registry=REGISTRY,
)
OUTBOX_DEPTH: Final = Gauge(
    "backup_bot_outbox_depth",
    "Notifications (card edits and thread posts) still owed to Slack (sampled from Redis).",
    registry=REGISTRY,
)
OUTBOX_OLDEST_AGE: Final = Gauge(
    "backup_bot_outbox_oldest_age_seconds",
    "How long the longest-waiting outbox has held notifications, as seen by this "
    "process's sampler; 0 when every outbox is empty.",
    registry=REGISTRY,
)
RESTORE_SESSIONS: Final = Gauge(
    "backup_bot_restore_sessions",
    "Restore sessions not in a final state, by state (sampled from Redis).",
    ["state"],
    registry=REGISTRY,
)
RESTORE_OLDEST_WAITING: Final = Gauge(
    "backup_bot_restore_oldest_waiting_seconds",
    "Time since the longest-waiting restore session in a state waiting for a person "
    "(AWAITING_START, AWAITING_CONSENT) last changed; 0 when none waits.",
    ["state"],
    registry=REGISTRY,
)
STATE_SAMPLES: Final = Counter(
    "backup_bot_state_samples",
    "Reads of the bot's state in Redis into the gauges above, by outcome (ok, failed).",
    ["outcome"],
    registry=REGISTRY,
)
LEASES_HELD: Final = Gauge(
    "backup_bot_leases_held",
    "Leases this process holds now (tracker shards, restore calls, start-up adoption).",
    registry=REGISTRY,
)


def observe_cycle(seconds: float) -> None:
    """Record one finished tracker cycle and how long it took."""
    TRACKER_CYCLE_SECONDS.observe(seconds)
    TRACKER_LAST_CYCLE.set(time.time())


class HeldLeases(Protocol):
    def held_count(self) -> int: ...


_LEASE_HOLDERS: Final[weakref.WeakSet[HeldLeases]] = weakref.WeakSet()
LEASES_HELD.set_function(lambda: float(sum(s.held_count() for s in list(_LEASE_HOLDERS))))


def track_leases(holder: HeldLeases) -> None:
    """Count ``holder``'s leases in ``backup_bot_leases_held`` for as long as it exists."""
    _LEASE_HOLDERS.add(holder)


# -- the build ----------------------------------------------------------------------------

BUILD_INFO: Final = Gauge(
    "backup_bot_build_info",
    "Always 1; the labels say which version of the bot runs on which Python.",
    ["version", "python"],
    registry=REGISTRY,
)


def _version() -> str:
    try:
        return metadata.version("atlassian-backup-bot")
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO.labels(_version(), platform.python_version()).set(1)


# -- exposition ---------------------------------------------------------------------------


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus text format, and its content type.

    Every name here is a classic one (letters, digits, underscores), so the text is the
    0.0.4 format every Prometheus version reads; it is announced as such.
    """
    return generate_latest(REGISTRY), CONTENT_TYPE_PLAIN_0_0_4


_SUFFIXES: Final = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
    "info": ("_info",),
}


def exported_names() -> frozenset[str]:
    """Every series name a scrape can show, whether or not it has samples yet."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        suffixes = _SUFFIXES.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
        names.update(sample.name for sample in family.samples)
    return frozenset(names)


__all__ = [
    "OTHER",
    "REGISTRY",
    "BoundedNames",
    "count_atlassian_retry",
    "count_request",
    "count_slack_call",
    "count_slack_deferred",
    "exported_names",
    "exposition",
    "observe_ack",
    "observe_atlassian",
    "observe_cycle",
    "track_leases",
]
