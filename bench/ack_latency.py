"""Acknowledgement latency of the bot's slash commands, beside a bare Bolt app.

Slack gives a slash command 3 s to be acknowledged; the bot promises far less. This bench
drives `/backup help` (answered in the ack) and `/backup policy list` (acked empty, answered
later through response_url) at the bot's `/slack/events` over loopback HTTP with `wrk`, a
load generator that is not itself the bottleneck, and does the same to a bare Bolt AsyncApp
whose only listener acks, served by the same aiohttp setup. It prints p50, p99, requests
per second and the ratios to bare Bolt, and checks the targets:

* help at 10 connections: p99 under 50 ms and at most 1.1x bare Bolt's p99;
* help at 50 connections: at least 0.9x bare Bolt's requests per second.

`policy list` is measured beside them without a target: its ack is as cheap, but every
request also leaves post-ack work (an Atlassian call and a response_url post) that shares
the bot's event loop and the machine's CPUs, so its figures show the whole pipeline.

Everything runs on this machine: a private redis-server, the simulator (`backup-bot
simulator`), a minimal fake Slack that accepts every Web API call and response_url post,
the bot (`backup-bot serve --http`) and the bare Bolt app, each in its own process.

    .venv/bin/python bench/ack_latency.py [--duration 10] [--threads 2]

wrk sends one pre-signed body over and over; the signature's timestamp is taken when each
run starts, well inside Slack's 5-minute window for a run of seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
USER = "UBENCH"
CHANNEL = "CBENCH"
DEMO_TOKEN = "demo-token"
DEMO_ORG = "demo-org"
DEMO_SITES = (
    "acme=11111111-1111-4111-8111-111111111111,"
    "acme-sandbox=22222222-2222-4222-8222-222222222222,"
    "acme-staging=33333333-3333-4333-8333-333333333333"
)
ROOT = Path(__file__).resolve().parent.parent
BACKUP_BOT = str(Path(sys.executable).with_name("backup-bot"))
START_TIMEOUT = 30.0
WARM_UP_SECONDS = 2

HELP_P99_LIMIT_MS = 50.0
HELP_P99_RATIO_LIMIT = 1.1
THROUGHPUT_RATIO_FLOOR = 0.9


# -- processes the bench starts -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_bare_bolt(port: int) -> None:
    """A Bolt AsyncApp whose only listener acks, served exactly as the bot serves its app."""
    from aiohttp import web
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.authorization import AuthorizeResult

    from bot.slack.serve import http_application

    identity = AuthorizeResult(
        enterprise_id=None, team_id="TBENCH", bot_user_id="UBOT", bot_id="BBOT", bot_token=BOT_TOKEN
    )

    async def authorize(**_: Any) -> AuthorizeResult:
        return identity

    async def main() -> None:
        app = AsyncApp(
            signing_secret=SIGNING_SECRET, authorize=authorize, process_before_response=False
        )

        async def acknowledge(ack: Any) -> None:
            await ack()

        app.command("/backup")(acknowledge)
        # The restore card's Start button, for the click storm (bench/click_storm.py).
        app.action("restore_start")(acknowledge)
        runner = web.AppRunner(http_application(app, SIGNING_SECRET), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await _until_terminated()
        await runner.cleanup()

    asyncio.run(main())


def serve_fake_slack(port: int) -> None:
    """A Slack stand-in that accepts every Web API call and response_url post at once.

    It keeps no state (thousands of posts reuse one response_url, which real Slack and the
    test fake would refuse after five) and only counts what it got, printed on SIGTERM,
    except the messages the bot posts (``GET /messages``), from which the click storm takes
    a real card.
    """
    from aiohttp import web

    received = {"api": 0, "response_url": 0}
    posted: list[dict[str, Any]] = []

    async def web_api(request: web.Request) -> web.Response:
        received["api"] += 1
        raw = await request.read()
        method = request.match_info["method"]
        if method == "auth.test":
            body = {"ok": True, "user_id": "UBOT", "team_id": "TBENCH", "bot_id": "BBOT"}
        else:
            body = {"ok": True, "channel": CHANNEL, "ts": f"{time.time():.6f}"}
        if method == "chat.postMessage" and request.content_type == "application/json":
            posted.append({**json.loads(raw), "ts": body["ts"]})
        return web.json_response(body)

    async def messages(_: web.Request) -> web.Response:
        return web.json_response(posted)

    async def response_url(request: web.Request) -> web.Response:
        received["response_url"] += 1
        await request.read()
        return web.Response(text="ok")

    async def count(_: web.Request) -> web.Response:
        return web.json_response(received)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", web_api)
        app.router.add_post("/response/{hook}", response_url)
        app.router.add_get("/count", count)
        app.router.add_get("/messages", messages)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await _until_terminated()
        print(json.dumps(received), flush=True)
        await runner.cleanup()

    asyncio.run(main())


async def _until_terminated() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def cpu_seconds(self) -> float:
        """User and system CPU time the process has used so far (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_until_idle(self, quiet: float = 0.05, within: float = 120.0) -> None:
        """Until the process uses (almost) no CPU for half a second: its work is done."""
        deadline = time.monotonic() + within
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.cpu_seconds()
            if now - last < quiet:
                return
            last = now

    def wait_for_line(self, marker: str) -> str:
        """Block until the child's output has a line containing ``marker``."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in self.output().splitlines():
                if marker in line:
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start; its output:\n{self.output()}")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.output()


@contextlib.contextmanager
def children(directory: Path) -> Iterator[list[Child]]:
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.stop()


def start(
    started: list[Child],
    directory: Path,
    name: str,
    args: list[str],
    env: dict[str, str] | None = None,
) -> Child:
    # Output goes to a file: a pipe nobody reads would stall a busy child once it fills.
    log = directory / f"{name}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            args,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=directory,
            text=True,
        )
    child = Child(name, process, log)
    started.append(child)
    return child


# -- signed requests and wrk --------------------------------------------------------------


def signed_slash_command(
    text: str, response_url: str, command: str = "/backup"
) -> tuple[str, dict[str, str]]:
    form = urlencode(
        {
            "token": "bench",
            "team_id": "TBENCH",
            "team_domain": "bench",
            "channel_id": CHANNEL,
            "channel_name": "bench",
            "user_id": USER,
            "user_name": "bench",
            "command": command,
            "text": text,
            "api_app_id": "ABENCH",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": "1.2.bench",
        }
    )
    return form, signature_headers(form)


def signature_headers(body: str) -> dict[str, str]:
    """Slack's headers for ``body``, signed now with the bench's signing secret."""
    timestamp = str(int(time.time()))
    digest = hmac.new(
        SIGNING_SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256
    ).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {{\\"p50_us\\": %d, \\"p99_us\\": %d, \\"requests\\": %d, \\"duration_us\\": %d, "
    .. "\\"non_2xx\\": %d, \\"socket_errors\\": %d}}\\n",
    latency:percentile(50), latency:percentile(99), summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def wrk_script(directory: Path, name: str, text: str, response_url: str) -> Path:
    return write_wrk_script(directory, name, *signed_slash_command(text, response_url))


def write_wrk_script(directory: Path, name: str, body: str, headers: dict[str, str]) -> Path:
    """A wrk script that posts ``body`` with ``headers`` over and over."""
    header_lines = "\n".join(
        f"wrk.headers[{_lua_string(key)}] = {_lua_string(value)}" for key, value in headers.items()
    )
    path = directory / f"{name}.lua"
    path.write_text(WRK_SCRIPT.format(body=_lua_string(body), headers=header_lines))
    return path


@dataclass(frozen=True)
class Figures:
    p50_ms: float
    p99_ms: float
    rps: float
    requests: int
    failures: int
    # CPU the serving process spent per request, its post-ack work included: less moved
    # by other load on the machine than the rates and latencies are.
    cpu_ms: float = 0.0


def measured(
    child: Child, run: Callable[[], Figures], settle: Callable[[], None] | None = None
) -> Figures:
    """``run``'s figures with ``child``'s CPU per request, counted until it is idle again."""
    before = child.cpu_seconds()
    figures = run()
    if settle is not None:
        settle()
    child.wait_until_idle()
    spent = child.cpu_seconds() - before
    return replace(figures, cpu_ms=1000 * spent / max(figures.requests, 1))


def run_wrk(url: str, script: Path, *, connections: int, threads: int, seconds: int) -> Figures:
    command = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(ln for ln in finished.stdout.splitlines() if ln.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return Figures(
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        rps=data["requests"] / (data["duration_us"] / 1_000_000),
        requests=data["requests"],
        failures=data["non_2xx"] + data["socket_errors"],
    )


def answers_received(slack_url: str) -> int:
    with urllib.request.urlopen(f"{slack_url}/count", timeout=5) as response:
        return int(json.load(response)["response_url"])


def wait_until_answered(slack_url: str) -> None:
    """Let the bot finish the post-ack work of the last run, so it does not slow the next."""
    deadline = time.monotonic() + 120
    last = answers_received(slack_url)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = answers_received(slack_url)
        if now == last:
            return
        last = now


# -- the run ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--connections", type=int, nargs="+", default=[10, 50], help="wrk connection counts"
    )
    parser.add_argument("--keep-logs", type=Path, help="copy every process's log here")
    parser.add_argument("--profile", type=Path, help="py-spy the bot's runs into this directory")
    parser.add_argument("--serve-bare-bolt", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-fake-slack", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare_bolt:
        serve_bare_bolt(args.serve_bare_bolt)
        return 0
    if args.serve_fake_slack:
        serve_fake_slack(args.serve_fake_slack)
        return 0

    if shutil.which("wrk") is None:
        print(
            "ack_latency: wrk is not installed; install it (e.g. `apt-get install -y wrk`) "
            "and run the bench again.",
            file=sys.stderr,
        )
        return 2
    if shutil.which("redis-server") is None:
        print("ack_latency: redis-server is not installed; the bot needs a Redis.", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="ack-latency-") as tmp, children(Path(tmp)) as started:
        return _bench(Path(tmp), started, args)


@dataclass(frozen=True)
class Stack:
    """Where the processes of one run listen, and the children to stop."""

    simulator_url: str
    slack_url: str
    bare_url: str
    bot_url: str
    redis_port: int
    slack: Child
    bot: Child
    bare: Child


def start_stack(
    directory: Path, started: list[Child], extra_env: dict[str, str] | None = None
) -> Stack:
    """Redis, the simulator, the fake Slack, bare Bolt and the bot, each its own process."""
    python = sys.executable
    here = str(Path(__file__).resolve())
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}

    redis_port = free_port()
    redis = start(
        started,
        directory,
        "redis",
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
    )
    redis.wait_for_line("Ready to accept connections")

    simulator = start(
        started, directory, "simulator", [BACKUP_BOT, "simulator", "--port", "0"], base_env
    )
    simulator_url = simulator.wait_for_line("Simulated Atlassian").split(" at ", 1)[1].split()[0]

    slack_port = free_port()
    slack = start(
        started,
        directory,
        "fake-slack",
        [python, here, "--serve-fake-slack", str(slack_port)],
        base_env,
    )
    slack.wait_for_line("ready")
    slack_url = f"http://127.0.0.1:{slack_port}"

    bare_port = free_port()
    bare = start(
        started,
        directory,
        "bare-bolt",
        [python, here, "--serve-bare-bolt", str(bare_port)],
        base_env,
    )
    bare.wait_for_line("ready")

    bot_env = {
        **base_env,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": f"{slack_url}/api/",
        "ATLASSIAN_API_URL": simulator_url,
        "ATLASSIAN_ORG_ID": DEMO_ORG,
        "ATLASSIAN_EMAIL": "bench@acme.example",
        "ATLASSIAN_API_TOKEN": DEMO_TOKEN,
        "ATLASSIAN_SITES": DEMO_SITES,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "BOT_ADMINS": USER,
        **(extra_env or {}),
    }
    bot_port = free_port()
    bot = start(
        started,
        directory,
        "bot",
        [BACKUP_BOT, "serve", "--http", "--host", "127.0.0.1", "--port", str(bot_port)],
        bot_env,
    )
    bot.wait_for_line("serving Slack requests at")
    return Stack(
        simulator_url=simulator_url,
        slack_url=slack_url,
        bare_url=f"http://127.0.0.1:{bare_port}/slack/events",
        bot_url=f"http://127.0.0.1:{bot_port}/slack/events",
        redis_port=redis_port,
        slack=slack,
        bot=bot,
        bare=bare,
    )


def bot_log_summary(output: str) -> None:
    """Errors in the bot's log and its most frequent kinds of line (per-request costs)."""
    lines = output.splitlines()
    problems = [line for line in lines if " ERROR " in line]
    print(f"bot log: {len(lines)} lines, {len(problems)} errors")
    kinds = Counter(line.split(" ", 2)[-1][:120] for line in lines)
    for kind, count in kinds.most_common(3):
        print(f"  {count:>6} x {kind}")


@contextlib.contextmanager
def profiled(child: Child, into: Path | None, name: str) -> Iterator[None]:
    """Sample ``child`` with py-spy while inside, into ``into/name.txt`` (collapsed stacks).

    Off unless ``into`` is given; py-spy (``pip install py-spy``) samples from outside, so
    the measured process runs unchanged. Summarise the file with ``bench/profile_top.py``.
    """
    if into is None:
        yield
        return
    into.mkdir(parents=True, exist_ok=True)
    beside = Path(sys.executable).with_name("py-spy")
    spy_tool = str(beside) if beside.exists() else "py-spy"
    command = [spy_tool, "record", "--pid", str(child.process.pid), "--rate", "200"]
    command += ["--format", "raw", "--output", str(into / f"{name}.txt")]
    with (into / f"{name}.log").open("w") as sink:
        spy = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)  # py-spy attaches before the run starts
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)


def keep_logs(started: list[Child], into: Path | None) -> None:
    if into is None:
        return
    into.mkdir(parents=True, exist_ok=True)
    for child in started:
        child.stop()
        shutil.copy(child.log, into / child.log.name)


def _bench(directory: Path, started: list[Child], args: argparse.Namespace) -> int:
    stack = start_stack(directory, started)
    slack_url, bare_url, bot_url = stack.slack_url, stack.bare_url, stack.bot_url
    slack = stack.slack

    response_url = f"{slack_url}/response/bench"
    scripts = {
        "help": wrk_script(directory, "help", "help", response_url),
        "policy list": wrk_script(directory, "policy-list", "policy list", response_url),
    }
    runs = [
        ("bare Bolt", bare_url, "help"),
        ("bot", bot_url, "help"),
        ("bot", bot_url, "policy list"),
    ]

    print(
        f"wrk -t{args.threads} -d{args.duration}s against loopback HTTP "
        f"({os.cpu_count()} CPUs shared by wrk, the bot, bare Bolt, the simulator, "
        "the fake Slack and Redis)"
    )
    for _target, url, command in runs:  # warm up every path once, unmeasured
        run_wrk(url, scripts[command], connections=4, threads=1, seconds=WARM_UP_SECONDS)
    wait_until_answered(slack_url)

    results: dict[tuple[str, str, int], Figures] = {}
    header = (
        f"{'target':<10} {'command':<12} {'conns':>5} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'req/s':>9} {'p99/bare':>9} {'rps/bare':>9} {'failed':>7} {'cpu ms':>7} "
        f"{'cpu/bare':>8}"
    )
    print(header)
    print("-" * len(header))
    for connections in args.connections:
        for target, url, command in runs:
            name = f"bot-{command.replace(' ', '-')}-{connections}"
            spied = args.profile if target == "bot" else None
            server = stack.bot if target == "bot" else stack.bare
            with profiled(stack.bot, spied, name):
                figures = measured(
                    server,
                    functools.partial(
                        run_wrk,
                        url,
                        scripts[command],
                        connections=connections,
                        threads=args.threads,
                        seconds=args.duration,
                    ),
                    functools.partial(wait_until_answered, slack_url),
                )
            results[(target, command, connections)] = figures
            bare_figures = results[("bare Bolt", "help", connections)]
            print(
                f"{target:<10} {command:<12} {connections:>5} {figures.p50_ms:>8.2f} "
                f"{figures.p99_ms:>8.2f} {figures.rps:>9.0f} "
                f"{figures.p99_ms / bare_figures.p99_ms:>8.2f}x "
                f"{figures.rps / bare_figures.rps:>8.2f}x {figures.failures:>7} "
                f"{figures.cpu_ms:>7.3f} {figures.cpu_ms / bare_figures.cpu_ms:>7.2f}x",
                flush=True,
            )

    slack_counts = slack.stop().strip().splitlines()[-1]
    print(f"\nfake Slack received (post-ack answers): {slack_counts}")
    bot_log_summary(stack.bot.stop())
    keep_logs(started, args.keep_logs)
    return _verdict(results, args.connections)


def _verdict(results: dict[tuple[str, str, int], Figures], connections: list[int]) -> int:
    checks: list[tuple[str, bool]] = []
    if 10 in connections:
        bot, bare = results[("bot", "help", 10)], results[("bare Bolt", "help", 10)]
        checks.append(
            (
                f"help @10: p99 {bot.p99_ms:.2f} ms < {HELP_P99_LIMIT_MS:.0f} ms",
                bot.p99_ms < HELP_P99_LIMIT_MS,
            )
        )
        checks.append(
            (
                f"help @10: p99 {bot.p99_ms / bare.p99_ms:.2f}x bare Bolt <= "
                f"{HELP_P99_RATIO_LIMIT}x",
                bot.p99_ms <= HELP_P99_RATIO_LIMIT * bare.p99_ms,
            )
        )
    if 50 in connections:
        bot, bare = results[("bot", "help", 50)], results[("bare Bolt", "help", 50)]
        ratio = bot.rps / bare.rps
        checks.append(
            (
                f"help @50: {ratio:.2f}x bare Bolt's req/s >= {THROUGHPUT_RATIO_FLOOR}x",
                ratio >= THROUGHPUT_RATIO_FLOOR,
            )
        )
    failures = sum(figures.failures for figures in results.values())
    checks.append((f"no failed requests ({failures})", failures == 0))
    return print_targets(checks)


def print_targets(checks: list[tuple[str, bool]]) -> int:
    """Print each target as met or missed; the exit status: 0 when all were met."""
    print("\ntargets:")
    for description, met in checks:
        print(f"  {'met   ' if met else 'MISSED'} {description}")
    return 0 if all(met for _, met in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
