"""``backup-bot``: serve the bot, run the simulator, or open the local console."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bot.errors import ConfigError
from bot.messages.settings import BACKUP_BOT_DESCRIPTION, BACKUP_BOT_EPILOG
from bot.observability.logs import report_fatal

# Each subcommand lives beside the part it starts; the module exposes
# ``add_arguments(parser)`` and ``run(args) -> int``.
SUBCOMMANDS = {
    "serve": ("bot.slack.serve", "run the Slack bot (Socket Mode, or HTTP with --http)"),
    "simulator": ("bot.simulator.cli", "serve a simulated Atlassian backup and restore API"),
    "console": ("bot.console", "try the bot locally: simulator, stand-in Slack and a prompt"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backup-bot", description=BACKUP_BOT_DESCRIPTION, epilog=BACKUP_BOT_EPILOG
    )
    commands = parser.add_subparsers(dest="command")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            # With no Slack credentials there is nothing to serve: show the console instead.
            from bot.config import load_settings

            wanted = "serve" if load_settings().has_slack_credentials else "console"
            args = parser.parse_args([wanted])
        return int(args.module.run(args))
    except ConfigError as exc:
        report_fatal(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
