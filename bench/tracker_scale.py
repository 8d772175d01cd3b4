"""How the tracker scales: 1,000 and 10,000 tracked operations, one poll every 30 s.

Run from the repository root: ``.venv/bin/python bench/tracker_scale.py [--sizes 1000 10000]``.

Everything is real except time: the simulated Atlassian API and the fake Slack Web API are
served over loopback HTTP from a second thread (their own event loop), Redis is a private
``redis-server`` on a free port, and the tracker runs in the main thread exactly as in
production. The clock is real time plus an offset: between cycles it jumps to the next poll
(as the tracker's loop would sleep), but everything the tracker does takes real time, so the
delay from a status change to its Slack message includes the tracker's own work.

The organisation: 50 sites with a Jira and a Confluence policy each (100 policies). Of the
tracked operations 60% are backups spread over the policies, 30% exports and 10% restores;
each finishes at a random moment within the first 10 poll intervals, 20 cards per channel.
No notify channel is set: Slack allows about one message per second in a channel, so one
channel cannot take thousands of endings per cycle (the mirror is a convenience for small
teams, not for this scale).

Printed per size: Atlassian HTTP requests per cycle (as the simulator counted them), CPU
seconds per cycle in the tracker's thread (polling and sending separately) and in the whole
process, wall time per cycle, peak memory, and two delays from each change (simulated clock).
The tracker runs in a process of its own (spawned after the set-up, sharing the clock's offset
with the simulator), so its peak memory is the tracker's alone; the set-up process's peak is
printed beside it. ``--one-process`` runs the tracker beside the set-up as before, where the
one peak counts the simulator's records and the set-up too. The two delays:

- to the first Slack message that shows it: the card edit or the final-state post in the
  card's thread, whichever came first. A change is seen at the first poll after it (up to
  one interval later); thread posts draw on a per-channel budget, so the tail beyond that
  is the time to send a cycle's messages.
- to the chat.update that showed it on the card. Slack counts chat.update for the whole
  workspace (about 50 a minute; the tracker keeps to about 40, leaving room for the edits
  people cause on restore cards), so at most about 20 cards are edited per 30 s cycle
  however many changed: when more change, cards wait their turn (ended operations first,
  then the longest stale), and the cards still waiting when the run ends are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import random
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import redis
import redis.asyncio as aioredis

from bot.access import AccessPolicy
from bot.atlassian import AtlassianClient, RetryPolicy
from bot.atlassian.models import BackupStatus, OperationStatus, Product, RestoreStatus
from bot.clock import SystemClock
from bot.config import Settings
from bot.localslack import SlackWebApi
from bot.restore.store import RestoreSessionStore
from bot.runtime import Services
from bot.simulator.seed import DEMO_ORG_ID, DEMO_TOKEN
from bot.simulator.server import SimulatorServer
from bot.simulator.world import (
    BackupRecord,
    RestoreRecord,
    ShiftableClock,
    TransferRecord,
    World,
)
from bot.slack.gateway import gateway_for
from bot.slack.serve import make_web_client
from bot.slack.tracker_slack import TrackerSlack
from bot.store.operations import OperationKind, OperationStore
from bot.tracking import Tracker

POLL_SECONDS = 30.0
SITES = 50
CARDS_PER_CHANNEL = 20
QUIET_CYCLES = 3
FINISH_WITHIN_CYCLES = 20
EXTRA_CYCLES = 1

T = TypeVar("T")
COUNT = "count"


class BenchWorld(World):
    """The simulated org, minus the demo's site bookkeeping that no benchmark operation needs.

    ``World.settle`` walks every restore on every read to apply finished restores to their
    destination site; with thousands of restores that would make the simulator, not the
    tracker, the thing being measured.
    """

    def settle(self) -> None:
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A private redis-server that keeps nothing on disk."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=5)


class ServerThread:
    """The simulator and the fake Slack on their own event loop, like services elsewhere."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


@dataclass
class Tracked:
    kind: OperationKind
    operation_id: str
    channel: str
    finishes_at: datetime
    cloud_id: str
    policy_id: str | None = None
    card_ts: str = ""


def populate(world: World, size: int, rng: random.Random, start: datetime) -> list[Tracked]:
    """Sites, policies and ``size`` running operations, added directly (no per-call checks)."""
    policies = []
    for site_number in range(SITES):
        cloud_id = f"{site_number:08x}-0000-4000-8000-000000000000"
        world.add_site(f"site-{site_number}", cloud_id)
        for product in (Product.JIRA, Product.CONFLUENCE):
            policy_id = f"pol-{site_number}-{product.value.lower()}"
            policies.append(world.add_policy(cloud_id, product, policy_id=policy_id))
    tracked: list[Tracked] = []
    first = POLL_SECONDS * QUIET_CYCLES
    horizon = first + POLL_SECONDS * FINISH_WITHIN_CYCLES
    for index in range(size):
        finishes = start + timedelta(seconds=rng.uniform(first + 1, horizon))
        channel = f"CBENCH{index // CARDS_PER_CHANNEL:04d}"
        choice = index % 10
        policy = policies[index % len(policies)]
        if choice < 6:
            backup_id = f"bkp-bench-{index:06d}"
            world.backups[backup_id] = BackupRecord(
                backup_id=backup_id,
                policy_id=policy.policy_id,
                cloud_id=policy.cloud_id,
                product=policy.product,
                created_at=start,
                finishes_at=finishes,
                outcome=BackupStatus.COMPLETE,
            )
            tracked.append(
                Tracked(
                    OperationKind.BACKUP,
                    backup_id,
                    channel,
                    finishes,
                    policy.cloud_id,
                    policy.policy_id,
                )
            )
        elif choice < 9:
            export_id = f"exp-bench-{index:06d}"
            world.exports[export_id] = TransferRecord(
                kind="export",
                transfer_id=export_id,
                backup_id="bkp-any",
                cloud_id=policy.cloud_id,
                product=policy.product,
                created_at=start,
                finishes_at=finishes,
                outcome=OperationStatus.COMPLETE,
            )
            tracked.append(
                Tracked(OperationKind.EXPORT, export_id, channel, finishes, policy.cloud_id)
            )
        else:
            restore_id = f"rst-bench-{index:06d}"
            world.restores[restore_id] = RestoreRecord(
                restore_id=restore_id,
                backup_id="bkp-any",
                cloud_id=policy.cloud_id,
                source_cloud_id=policies[0].cloud_id,
                product=policy.product,
                include_attachments=False,
                include_users_and_groups=False,
                created_at=start,
                outcome=RestoreStatus.COMPLETE,
                migration_id=f"mig-bench-{index:06d}",
                started_at=start,
                finishes_at=finishes,
            )
            tracked.append(
                Tracked(OperationKind.RESTORE, restore_id, channel, finishes, policy.cloud_id)
            )
    return tracked


async def bounded(jobs: list[Callable[[], Awaitable[None]]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(run(job) for job in jobs))


@dataclass
class Cycle:
    http_requests: int
    logical_calls: int
    poll_cpu: float
    send_cpu: float
    process_cpu: float
    wall: float
    transitions: int
    sent: int


class SharedClock(ShiftableClock):
    """Real time plus an offset kept in shared memory, so two processes agree on the time."""

    def __init__(self, offset: Any) -> None:
        super().__init__(SystemClock())
        self._shared = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._shared.value)

    def advance(self, seconds: float = 0) -> datetime:
        self._shared.value += seconds
        return self.now()


@dataclass(frozen=True)
class Endpoints:
    redis_url: str
    sim_url: str
    slack_url: str


def bench_settings(endpoints: Endpoints) -> Settings:
    return Settings(
        atlassian_api_url=endpoints.sim_url,
        atlassian_org_id=DEMO_ORG_ID,
        atlassian_email="bench@example.com",
        atlassian_api_token=DEMO_TOKEN,
        bot_admins=["UADMIN"],
        bot_notify_channel=None,
        bot_poll_seconds=POLL_SECONDS,
        slack_bot_token="xoxb-test",
        slack_api_url=endpoints.slack_url,
    )


async def run_tracker(
    endpoints: Endpoints, clock: ShiftableClock, count_requests: Callable[[], int]
) -> list[Cycle]:
    """The tracker's cycles, as production runs them, against services already populated."""
    settings = bench_settings(endpoints)
    redis_client = aioredis.Redis.from_url(endpoints.redis_url, decode_responses=True)
    atlassian = AtlassianClient(
        base_url=endpoints.sim_url,
        org_id=DEMO_ORG_ID,
        email="bench@example.com",
        api_token=DEMO_TOKEN,
        clock=clock,
        retry=RetryPolicy(),
    )
    services = Services(
        settings=settings,
        atlassian=atlassian,
        redis=redis_client,
        clock=clock,
        operations=OperationStore(redis_client, clock),
        sessions=RestoreSessionStore(redis_client, clock),
        access=AccessPolicy.build(admins=["UADMIN"]),
        sites=settings.sites,
    )
    slack_session = aiohttp.ClientSession()
    slack = make_web_client(settings, slack_session)
    tracker = Tracker(
        services, TrackerSlack(gateway_for(services, slack), services), process_id="bench"
    )
    cycles: list[Cycle] = []
    for number in range(QUIET_CYCLES + FINISH_WITHIN_CYCLES + EXTRA_CYCLES):
        cycle_start = clock.now()
        requests_before = count_requests()
        wall_before = time.perf_counter()
        process_before = time.process_time()
        thread_before = time.thread_time()
        stats = await tracker.poll_once(send=False)
        polled = time.thread_time()
        sent_stats = await tracker.flush()
        # Between polls the loop wakes whenever a throttled channel frees up.
        deadline = cycle_start + timedelta(seconds=POLL_SECONDS)
        while tracker.next_send_at is not None and tracker.next_send_at < deadline:
            ahead = (tracker.next_send_at - clock.now()).total_seconds()
            if ahead > 0:
                clock.advance(ahead)
            more = await tracker.flush()
            sent_stats.messages_sent += more.messages_sent
        sent = time.thread_time()
        cycles.append(
            Cycle(
                http_requests=count_requests() - requests_before,
                logical_calls=stats.atlassian_calls,
                poll_cpu=polled - thread_before,
                send_cpu=sent - polled,
                process_cpu=time.process_time() - process_before,
                wall=time.perf_counter() - wall_before,
                transitions=stats.transitions,
                sent=sent_stats.messages_sent,
            )
        )
        remaining = (deadline - clock.now()).total_seconds()
        if remaining > 0:
            clock.advance(remaining)
        print(
            f"cycle {number:2d}: {cycles[-1].http_requests:4d} Atlassian requests "
            f"({stats.atlassian_calls} calls), {stats.transitions:5d} changes, "
            f"{sent_stats.messages_sent:5d} Slack messages, CPU poll {cycles[-1].poll_cpu:.3f} s "
            f"+ send {cycles[-1].send_cpu:.3f} s (process {cycles[-1].process_cpu:.3f} s), "
            f"wall {cycles[-1].wall:.2f} s",
            flush=True,
        )
    await atlassian.aclose()
    await slack_session.close()
    await redis_client.aclose()
    return cycles


def tracker_process(endpoints: Endpoints, offset: Any, connection: Connection) -> None:
    """The tracker alone in a fresh interpreter: its peak memory is its own."""

    def count_requests() -> int:
        connection.send(COUNT)
        return int(connection.recv())

    cycles = asyncio.run(run_tracker(endpoints, SharedClock(offset), count_requests))
    connection.send((cycles, peak_rss_mb()))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_size(
    size: int, servers: ServerThread, redis_url: str, seed: int, one_process: bool
) -> None:
    offset = multiprocessing.get_context("spawn").Value("d", 0.0, lock=False)
    clock = SharedClock(offset)
    start = clock.now()
    world = BenchWorld(clock=clock, op_seconds=POLL_SECONDS)
    rng = random.Random(seed)
    tracked = populate(world, size, rng, start)
    simulator = SimulatorServer(world, org_id=DEMO_ORG_ID, token=DEMO_TOKEN)
    slack_api = SlackWebApi(clock=clock)
    sim_url = servers.call(simulator.start())
    servers.call(slack_api.start())
    endpoints = Endpoints(redis_url=redis_url, sim_url=sim_url, slack_url=slack_api.url)

    redis_client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await redis_client.flushdb()
    settings = bench_settings(endpoints)
    operations = OperationStore(redis_client, clock)
    # One HTTP session for every Slack call: without it slack_sdk opens a connection per call.
    slack_session = aiohttp.ClientSession()
    slack = make_web_client(settings, slack_session)

    setup_started = time.perf_counter()

    async def post_card(item: Tracked) -> None:
        text = f"{item.kind.value} {item.operation_id}"
        posted = await slack.chat_postMessage(channel=item.channel, text=text)
        item.card_ts = str(posted["ts"])
        await operations.register(
            item.kind,
            item.operation_id,
            cloud_id=item.cloud_id,
            product="JIRA",
            channel=item.channel,
            card_ts=item.card_ts,
            started_by="UADMIN",
            status="IN_PROGRESS",
            policy_id=item.policy_id,
        )

    await bounded([functools.partial(post_card, item) for item in tracked], 64)
    await slack_session.close()
    await redis_client.aclose()
    setup = time.perf_counter() - setup_started
    where = "in this process" if one_process else "in its own process"
    print(
        f"\n== {size:,} tracked operations ({setup:.1f} s to set up; the tracker runs {where}; "
        f"peak memory of the set-up process before the tracker {peak_rss_mb():.0f} MB)",
        flush=True,
    )
    if one_process:
        cycles = await run_tracker(endpoints, clock, lambda: len(world.calls))
        tracker_peak = None
    else:
        cycles, tracker_peak = serve_tracker_process(endpoints, offset, world)

    updates: dict[tuple[str, str], datetime] = {}
    edit_times: list[datetime] = []
    for call in slack_api.calls_to("chat.update"):
        key = (str(call.args.get("channel")), str(call.args.get("ts")))
        if call.ok:
            edit_times.append(call.time)
            updates.setdefault(key, call.time)
    thread_posts: dict[tuple[str, str], datetime] = {}
    for call in slack_api.calls_to("chat.postMessage"):
        thread_ts = call.args.get("thread_ts")
        if call.ok and thread_ts:
            thread_posts.setdefault((str(call.args.get("channel")), str(thread_ts)), call.time)
    delays = []
    first_seen = []
    missing = 0
    unseen = 0
    for item in tracked:
        key = (item.channel, item.card_ts)
        shown = updates.get(key)
        if shown is None:
            missing += 1
        else:
            delays.append((shown - item.finishes_at).total_seconds())
        seen = min((t for t in (shown, thread_posts.get(key)) if t is not None), default=None)
        if seen is None:
            unseen += 1
        else:
            first_seen.append((seen - item.finishes_at).total_seconds())
    delays.sort()
    first_seen.sort()
    edit_times.sort()
    busiest_minute = max(
        (
            sum(1 for t in edit_times[index:] if t - start_at < timedelta(minutes=1))
            for index, start_at in enumerate(edit_times)
        ),
        default=0,
    )
    quiet = cycles[1:QUIET_CYCLES]
    busy = cycles[QUIET_CYCLES + 1 : QUIET_CYCLES + FINISH_WITHIN_CYCLES]
    requests = [c.http_requests for c in cycles[:-1]]
    messages = sum(c.sent for c in cycles)
    print(
        f"summary {size:,}: Atlassian requests per cycle: quiet {quiet[-1].http_requests}, "
        f"median {statistics.median(requests):.0f}, max {max(requests)}"
    )
    print(
        f"  tracker CPU per cycle with nothing changing: {max(c.poll_cpu for c in quiet):.3f} s "
        f"(process {max(c.process_cpu for c in quiet):.3f} s, "
        f"wall {max(c.wall for c in quiet):.2f} s)"
    )
    print(
        f"  with ~{statistics.median(c.transitions for c in busy):.0f} changes per cycle: polling "
        f"median {statistics.median(c.poll_cpu for c in busy):.3f} s, sending median "
        f"{statistics.median(c.send_cpu for c in busy):.3f} s "
        f"({sum(c.send_cpu for c in cycles) / max(messages, 1) * 1000:.2f} ms per Slack message), "
        f"process median {statistics.median(c.process_cpu for c in busy):.3f} s, wall median "
        f"{statistics.median(c.wall for c in busy):.2f} s"
    )
    print(
        f"delay change -> first Slack message that shows it (card edit or thread post): "
        f"{_percentiles(first_seen)} (target < {POLL_SECONDS + 2:.0f} s); never shown: {unseen}"
    )
    print(
        f"delay change -> card edit: {_percentiles(delays)} "
        f"(target < {POLL_SECONDS + 2:.0f} s); cards not edited by the end of the run: "
        f"{missing} of {len(tracked):,}; chat.update calls: {len(edit_times)}, "
        f"at most {busiest_minute} in any minute"
    )
    if tracker_peak is None:
        print(
            f"peak memory (max RSS, one process: set-up, simulator and tracker): "
            f"{peak_rss_mb():.0f} MB"
        )
    else:
        print(
            f"peak memory (max RSS) of the tracker's own process: {tracker_peak:.0f} MB; "
            f"of the set-up process (simulator, fake Slack, {size:,} records): "
            f"{peak_rss_mb():.0f} MB"
        )
    servers.call(slack_api.stop())
    servers.call(simulator.stop())


def serve_tracker_process(
    endpoints: Endpoints, offset: Any, world: World
) -> tuple[list[Cycle], float]:
    """Start the tracker's process and answer its request counts until it reports."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=tracker_process, args=(endpoints, offset, theirs))
    process.start()
    try:
        while True:
            message = ours.recv()
            if message == COUNT:
                ours.send(len(world.calls))
                continue
            cycles, peak = message
            return cycles, float(peak)
    finally:
        process.join(timeout=30)


def _percentiles(delays: list[float]) -> str:
    """p50, p95 and max of sorted delays, or a note that there were none."""
    if not delays:
        return "none"
    return (
        f"p50 {delays[len(delays) // 2]:.1f} s, p95 {delays[int(len(delays) * 0.95)]:.1f} s, "
        f"max {delays[-1]:.1f} s"
    )


async def main(sizes: list[int], seed: int, one_process: bool) -> None:
    servers = ServerThread()
    with tempfile.TemporaryDirectory() as directory:
        redis_process = RedisProcess(Path(directory))
        try:
            for size in sizes:
                await run_size(size, servers, redis_process.url, seed, one_process)
        finally:
            redis_process.stop()
            servers.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="run the tracker beside the set-up, as earlier versions of this bench did",
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.sizes, arguments.seed, arguments.one_process))
