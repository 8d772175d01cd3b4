"""``backup-bot simulator``: serve the simulated backup and restore API in real time."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from bot.atlassian.versions import ApiVersion
from bot.cli_numbers import fraction, non_negative
from bot.messages.settings import simulator_settings
from bot.simulator.seed import DEMO_ADMIN_ACCOUNT_ID, DEMO_ORG_ID, DEMO_SITES, DEMO_TOKEN
from bot.simulator.server import SimulatorServer
from bot.simulator.world import ShiftableClock, World

SEEDS = ("demo",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8900, help="port to listen on, 0 for any (default 8900)"
    )
    parser.add_argument(
        "--seed", default="demo", help="organisation to start with (default demo, the only one)"
    )
    parser.add_argument(
        "--op-seconds",
        type=non_negative,
        default=5.0,
        help="how long each backup, export, import and restore runs (default 5)",
    )
    parser.add_argument(
        "--fail-rate",
        type=fraction,
        default=0.0,
        help="fraction of operations that fail (default 0)",
    )
    parser.add_argument(
        "--rate-limit-rate",
        type=fraction,
        default=0.0,
        help="fraction of requests answered 429 (default 0)",
    )
    parser.add_argument(
        "--latency-ms", type=non_negative, default=0.0, help="added latency per request (default 0)"
    )
    add_api_argument(parser)


def add_api_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        type=ApiVersion,
        choices=list(ApiVersion),
        default=ApiVersion.V1,
        help="API version: v1 (the EAP API) or v2 (the current one, under /v2); default v1",
    )


def build_world(args: argparse.Namespace) -> World:
    # Real time, but shiftable through POST /_sim/clock so a demo can skip ahead.
    world = World.demo(
        clock=ShiftableClock(), op_seconds=args.op_seconds, rng_seed=args.seed, api=args.api
    )
    world.faults.fail_rate = args.fail_rate
    world.faults.rate_limit_rate = args.rate_limit_rate
    world.faults.latency_ms = args.latency_ms
    return world


async def serve(args: argparse.Namespace) -> None:
    server = SimulatorServer(build_world(args), org_id=DEMO_ORG_ID, token=DEMO_TOKEN)
    url = await server.start(host=args.host, port=args.port)
    sites = ",".join(f"{alias}={cloud_id}" for alias, cloud_id in DEMO_SITES.items())
    settings = {
        "ATLASSIAN_API_URL": url,
        "ATLASSIAN_API_VERSION": args.api.value,
        "ATLASSIAN_ORG_ID": DEMO_ORG_ID,
        "ATLASSIAN_EMAIL": "admin@example.com",
        "ATLASSIAN_API_TOKEN": DEMO_TOKEN,
    }
    if server.world.profile.needs_account_id:
        settings["ATLASSIAN_ACCOUNT_ID"] = DEMO_ADMIN_ACCOUNT_ID
    settings["ATLASSIAN_SITES"] = sites
    print(simulator_settings(args.api.value, url, settings), flush=True)
    stop = asyncio.Event()
    # A service manager stops with SIGTERM; finish open responses as on Ctrl-C.
    with contextlib.suppress(NotImplementedError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def run(args: argparse.Namespace) -> int:
    if args.seed not in SEEDS:
        print(
            f"backup-bot simulator: unknown seed {args.seed!r}; the only seed is 'demo'.",
            file=sys.stderr,
        )
        return 2
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(
            f"backup-bot simulator: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0
