"""A click storm on one restore card: the bot beside a bare Bolt app, on the same signed body.

When a restore card lands in a busy channel, several approvers press Start at once, and
Slack delivers every press. Exactly one may start the restore; every other press must still
be acknowledged at once and cost the bot little. This bench builds that storm from a real
card: it asks the bot for a restore (`/restore start` signed as Slack signs it), takes the
card the bot posted (blocks included) from the fake Slack, and writes the `block_actions`
payload Slack would send when an approver presses its Start button. `wrk` then fires that
one pre-signed body over loopback HTTP at the bot and at a bare Bolt AsyncApp whose only
action listener acks, served the same way (bench/ack_latency.py starts both, with a private
redis-server, the simulator and the fake Slack, each in its own process).

It prints p50, p99, clicks per second, non-2xx answers, the ratios to bare Bolt, and how
many restores the simulator was asked to create (exactly one, whatever the storm), and
checks the targets:

* every click acknowledged with a 2xx;
* exactly one create-restore call at the simulator;
* p99 at most 1.2x bare Bolt's, clicks per second at least 0.6x.

    .venv/bin/python bench/click_storm.py [--duration 10] [--connections 50] [--threads 2]

It needs `wrk` (Debian: `apt-get install -y wrk`) and `redis-server`.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import redis
from ack_latency import (
    CHANNEL,
    WARM_UP_SECONDS,
    Child,
    Figures,
    Stack,
    bot_log_summary,
    children,
    keep_logs,
    measured,
    print_targets,
    profiled,
    run_wrk,
    signature_headers,
    signed_slash_command,
    start_stack,
    wait_until_answered,
    write_wrk_script,
)

APPROVER = "UAPPROVER"
BACKUP_ID = "bkp-acme-jira-complete"
DESTINATION = "acme-sandbox"
START_ACTION = "restore_start"

P99_RATIO_LIMIT = 1.2
THROUGHPUT_RATIO_FLOOR = 0.6


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _post(url: str, body: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def request_card(stack: Stack) -> dict[str, Any]:
    """Ask the bot for a restore and wait for the card it posts (the Start button's message)."""
    body, headers = signed_slash_command(
        f"start {BACKUP_ID} to={DESTINATION}", f"{stack.slack_url}/response/request", "/restore"
    )
    status = _post(stack.bot_url, body, headers)
    if status != 200:
        raise RuntimeError(f"/restore start was answered {status}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for message in _get_json(f"{stack.slack_url}/messages"):
            if _start_button(message.get("blocks") or []) is not None:
                return dict(message)
        time.sleep(0.1)
    raise RuntimeError("the bot posted no restore card with a Start button")


def _start_button(blocks: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    for block in blocks:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == START_ACTION:
                return str(block.get("block_id", "")), element
    return None


def start_click_body(card: dict[str, Any], response_url: str) -> str:
    """The form body Slack posts when ``APPROVER`` presses the card's Start button."""
    found = _start_button(card["blocks"])
    assert found is not None
    block_id, button = found
    action = {
        "type": "button",
        "action_id": button["action_id"],
        "block_id": block_id,
        "text": button["text"],
        "value": button["value"],
        "action_ts": f"{time.time():.6f}",
        **({"style": button["style"]} if "style" in button else {}),
    }
    team = {"id": "TBENCH", "domain": "bench"}
    payload = {
        "type": "block_actions",
        "user": {"id": APPROVER, "username": "approver", "name": "approver", "team_id": "TBENCH"},
        "api_app_id": "ABENCH",
        "token": "bench",
        "container": {
            "type": "message",
            "message_ts": card["ts"],
            "channel_id": CHANNEL,
            "is_ephemeral": False,
        },
        "trigger_id": "1.2.bench-click",
        "team": team,
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": CHANNEL, "name": "bench"},
        "message": {
            "type": "message",
            "subtype": "bot_message",
            "text": card.get("text", ""),
            "user": "UBOT",
            "bot_id": "BBOT",
            "app_id": "ABENCH",
            "team": "TBENCH",
            "ts": card["ts"],
            "blocks": card["blocks"],
        },
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload)})


def scripts_run(redis_port: int) -> int:
    """How many Lua scripts the bench's Redis has run (every restore decision is one)."""
    client = redis.Redis(port=redis_port)
    try:
        stats: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
    finally:
        client.close()
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )


def creates_seen(simulator_url: str) -> int:
    """How many create-restore calls the simulator answered (its recorded calls)."""
    parts = urlsplit(simulator_url)
    calls = _get_json(f"{parts.scheme}://{parts.netloc}/_sim/calls")["calls"]
    return sum(
        1 for call in calls if call["method"] == "POST" and call["path"].endswith("/restores")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument("--keep-logs", type=Path, help="copy every process's log here")
    parser.add_argument("--profile", type=Path, help="py-spy the bot's storm into this directory")
    args = parser.parse_args(argv)
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            print(
                f"click_storm: {tool} is not installed (e.g. `apt-get install -y {tool}`).",
                file=sys.stderr,
            )
            return 2
    with tempfile.TemporaryDirectory(prefix="click-storm-") as tmp, children(Path(tmp)) as started:
        return _bench(Path(tmp), started, args)


def _bench(directory: Path, started: list[Child], args: argparse.Namespace) -> int:
    stack = start_stack(directory, started, {"BOT_APPROVERS": APPROVER})
    card = request_card(stack)
    body = start_click_body(card, f"{stack.slack_url}/response/click")
    script = write_wrk_script(directory, "start-click", body, signature_headers(body))
    help_body, help_headers = signed_slash_command("help", f"{stack.slack_url}/response/help")
    warm = write_wrk_script(directory, "help", help_body, help_headers)
    # Warm both processes up unmeasured: bare Bolt on the click itself, the bot on help
    # (a click would spend the one Start the card has before the storm begins).
    run_wrk(stack.bare_url, script, connections=4, threads=1, seconds=WARM_UP_SECONDS)
    run_wrk(stack.bot_url, warm, connections=4, threads=1, seconds=WARM_UP_SECONDS)
    wait_until_answered(stack.slack_url)
    before = creates_seen(stack.simulator_url)

    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, one signed Start click "
        f"on a real restore card ({len(body)} bytes), loopback HTTP"
    )
    header = (
        f"{'target':<10} {'p50 ms':>8} {'p99 ms':>8} {'clicks/s':>9} {'clicks':>7} "
        f"{'non-2xx':>8} {'p99/bare':>9} {'rps/bare':>9} {'cpu ms':>7} {'cpu/bare':>8}"
    )
    print(header)
    print("-" * len(header))
    results: dict[str, Figures] = {}
    targets = (("bare Bolt", stack.bare_url, stack.bare), ("bot", stack.bot_url, stack.bot))
    for target, url, server in targets:
        scripts_before = scripts_run(stack.redis_port)
        name = "bot-click-storm" if target == "bot" else "bare-click-storm"
        with profiled(server, args.profile, name):
            # CPU per click counts every click's whole cost: until the server is idle again
            # after the storm, all refusals decided and answered.
            figures = measured(
                server,
                functools.partial(
                    run_wrk,
                    url,
                    script,
                    connections=args.connections,
                    threads=args.threads,
                    seconds=args.duration,
                ),
            )
        results[target] = figures
        if target == "bot":
            scripts = scripts_run(stack.redis_port) - scripts_before
        bare = results["bare Bolt"]
        print(
            f"{target:<10} {figures.p50_ms:>8.2f} {figures.p99_ms:>8.2f} {figures.rps:>9.0f} "
            f"{figures.requests:>7} {figures.failures:>8} {figures.p99_ms / bare.p99_ms:>8.2f}x "
            f"{figures.rps / bare.rps:>8.2f}x {figures.cpu_ms:>7.3f} "
            f"{figures.cpu_ms / bare.cpu_ms:>7.2f}x",
            flush=True,
        )
    creates = creates_seen(stack.simulator_url) - before
    slack_counts = stack.slack.stop().strip().splitlines()[-1]
    print(f"\ncreate-restore calls at the simulator: {creates}")
    bot_clicks = results["bot"].requests
    print(
        f"Redis scripts run for the bot's {bot_clicks} clicks: {scripts} "
        f"({scripts / max(bot_clicks, 1):.3f} per click; each click is one decision)"
    )
    print(f"fake Slack received (private answers): {slack_counts}")
    bot_log_summary(stack.bot.stop())
    keep_logs(started, args.keep_logs)
    return _verdict(results, creates)


def _verdict(results: dict[str, Figures], creates: int) -> int:
    bot, bare = results["bot"], results["bare Bolt"]
    checks = [
        (f"exactly one create-restore ({creates})", creates == 1),
        (f"every click answered 2xx ({bot.failures} not)", bot.failures == 0),
        (
            f"p99 {bot.p99_ms / bare.p99_ms:.2f}x bare Bolt <= {P99_RATIO_LIMIT}x",
            bot.p99_ms <= P99_RATIO_LIMIT * bare.p99_ms,
        ),
        (
            f"{bot.rps / bare.rps:.2f}x bare Bolt's clicks/s >= {THROUGHPUT_RATIO_FLOOR}x",
            bot.rps >= THROUGHPUT_RATIO_FLOOR * bare.rps,
        ),
    ]
    return print_targets(checks)


if __name__ == "__main__":
    sys.exit(main())
