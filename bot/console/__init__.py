"""``backup-bot console``: try the bot here, with no Slack workspace and no Atlassian org.

One process and one event loop run the simulated Atlassian API (the demo organisation), a
stand-in for Slack, and the real bot wired to both over loopback exactly as in production.
A prompt takes slash commands and prints what the bot posts as readable panels; buttons are
clicked by number. ``--script FILE`` runs a file of the same lines without a prompt, with
``expect`` and ``wait`` checks, and exits non-zero naming the step that failed.

Modules: ``local`` starts the parts, ``render`` turns Block Kit into terminal text,
``screen`` prints what changed, ``terminal`` runs the console's commands.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.cli_numbers import non_negative, positive
from bot.console.local import ALICE, CHANNEL_NAME, LocalBot, LocalOptions, start_local_bot
from bot.console.screen import Screen
from bot.console.terminal import Ask, QuitRequested, StepFailed, Terminal, find_user
from bot.messages import console as console_words
from bot.observability.logs import configure_logging
from bot.redaction import redact
from bot.simulator import DEMO_SITES
from bot.simulator.cli import add_api_argument

__all__ = [
    "ScriptFailure",
    "add_arguments",
    "run",
    "run_console",
    "run_script",
]

log = logging.getLogger(__name__)

WATCH_SECONDS: Final = 0.25


def _quiet_bolt_notices(record: logging.LogRecord) -> bool:
    """Bolt warns at every start that the token is unused when ``authorize`` is given, as here.

    Its app logger sets its own level, so only a filter keeps that notice off the console.
    """
    return not (record.name.startswith("slack_bolt") and record.levelno < logging.ERROR)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--script",
        type=Path,
        metavar="FILE",
        help="run the lines of FILE instead of prompting; exit non-zero if a step fails",
    )
    parser.add_argument(
        "--op-seconds",
        type=non_negative,
        default=LocalOptions.op_seconds,
        help="how long each simulated backup, export, import and restore runs (default 3)",
    )
    parser.add_argument(
        "--poll-seconds",
        type=positive,
        default=LocalOptions.poll_seconds,
        help="how often the bot checks running operations (default 1)",
    )
    parser.add_argument(
        "--four-eyes",
        action="store_true",
        help="whoever requests a restore may not approve it (BOT_FOUR_EYES; default off)",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="keep state in an in-process store even when a Redis answers at REDIS_URL "
        "(default: use that Redis, under a key prefix of its own)",
    )
    add_api_argument(parser)
    parser.add_argument(
        "--as",
        dest="user",
        default=ALICE.name,
        help="who you are at the start: alice (admin, approver), bob (approver), carol "
        "(viewer); default alice",
    )


@dataclass(frozen=True)
class ScriptFailure:
    """The step of a script that failed: where it is, what it said, and why."""

    line_number: int
    line: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line_number} `{self.line}`: {self.reason}"


def banner(local: LocalBot, terminal: Terminal) -> Panel:
    options = local.options
    sites = ", ".join(DEMO_SITES)
    lines = [
        Text(console_words.BANNER_TITLE, style="bold"),
        Text(console_words.banner_atlassian(sites, local.simulator.url, options.op_seconds)),
        Text(console_words.banner_slack(CHANNEL_NAME, local.running.url, options.poll_seconds)),
        Text(console_words.banner_state(local.store.description)),
        Text(console_words.FOUR_EYES_ON if options.four_eyes else console_words.FOUR_EYES_OFF),
        Text(console_words.banner_you(terminal.user.name, terminal.roles(terminal.user))),
    ]
    return Panel(Text("\n").join(lines), border_style="cyan")


async def _watch(terminal: Terminal, stop: asyncio.Event) -> None:
    """Print the tracker's card edits and thread replies as they happen."""
    while not stop.is_set():
        terminal.screen.prompt_showing = terminal.awaiting_input
        if terminal.screen.refresh() and terminal.awaiting_input:
            # The panels were printed over the prompt; show it again below them.
            terminal.screen.out.print(terminal.prompt, end="", markup=False, highlight=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), WATCH_SECONDS)


async def run_script(terminal: Terminal, lines: Sequence[str]) -> ScriptFailure | None:
    """Run lines in order, stopping at the first that fails; None when all passed."""
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        terminal.screen.note(f"» {line}", style="bold magenta", record=False)
        try:
            await terminal.execute(line)
        except QuitRequested:
            return None
        except StepFailed as exc:
            return ScriptFailure(number, line, str(exc))
        except Exception as exc:
            log.exception("console step %r failed", line)
            return ScriptFailure(number, line, redact(f"{type(exc).__name__}: {exc}"))
    return None


async def _prompt_loop(terminal: Terminal, ask: Ask) -> None:
    while True:
        terminal.awaiting_input = True
        try:
            line = await ask(terminal.prompt)
        except EOFError:
            return
        finally:
            terminal.awaiting_input = False
        try:
            await terminal.execute(line)
        except QuitRequested:
            return
        except StepFailed as exc:
            terminal.screen.note(str(exc)[:1].upper() + str(exc)[1:], style="bold red")
        except Exception as exc:
            # One failed line must not end the session; the log has the stack trace.
            log.exception("console line %r failed", line)
            terminal.screen.note(
                redact(f"That failed: {type(exc).__name__}: {exc}"), style="bold red"
            )


async def _read_line(prompt: str) -> str:
    """``input()`` in a daemon thread: Ctrl-C must not wait for a line nobody will type."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def settle(outcome: str | BaseException) -> None:
        if answer.done():
            return
        if isinstance(outcome, BaseException):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)

    def read() -> None:
        try:
            outcome: str | BaseException = input(prompt)
        except (EOFError, KeyboardInterrupt) as exc:
            outcome = exc if isinstance(exc, EOFError) else EOFError()
        loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return await answer


async def run_console(
    options: LocalOptions,
    *,
    out: Console,
    script: Sequence[str] | None = None,
    script_name: str = "script",
    interactive: bool = False,
    user: str = ALICE.name,
    errors: TextIO | None = None,
) -> int:
    """Start everything, run the script (or the prompt), stop everything; the exit code."""
    start_as = find_user(user)
    if start_as is None:
        print(f"backup-bot console: there is nobody called {user!r}.", file=errors or sys.stderr)
        return 2
    local = await start_local_bot(options)
    stop_watching = asyncio.Event()
    watcher: asyncio.Task[None] | None = None
    try:
        screen = Screen(local.slack, out, start_as.user_id)
        ask: Ask | None = _read_line if interactive else None
        terminal = Terminal(local, screen, user=start_as, ask=ask)
        out.print(banner(local, terminal))
        watcher = asyncio.create_task(_watch(terminal, stop_watching))
        if script is None:
            await _prompt_loop(terminal, _read_line)
            return 0
        failure = await run_script(terminal, script)
        if failure is not None:
            print(
                f"backup-bot console: {script_name} failed at {failure}",
                file=errors or sys.stderr,
            )
            return 1
        screen.note(f"{script_name}: every step passed.", style="bold green", record=False)
        return 0
    finally:
        stop_watching.set()
        if watcher is not None:
            await watcher
        await local.stop()


def run(args: argparse.Namespace) -> int:
    configure_logging(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_quiet_bolt_notices)
    options = LocalOptions(
        op_seconds=args.op_seconds,
        poll_seconds=args.poll_seconds,
        four_eyes=args.four_eyes,
        in_process_store=args.memory,
        api=args.api,
    )
    out = Console()
    script: list[str] | None = None
    name = "script"
    if args.script is not None:
        try:
            script = args.script.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            print(f"backup-bot console: cannot read {args.script}: {exc.strerror}", file=sys.stderr)
            return 2
        name = str(args.script)
    elif not sys.stdin.isatty():
        # Piped input is a script without a name: same lines, same checks, no prompt.
        script = sys.stdin.read().splitlines()
        name = "standard input"
    return asyncio.run(
        run_console(
            options,
            out=out,
            script=script,
            script_name=name,
            interactive=script is None,
            user=args.user,
        )
    )
