"""The `/backup` and `/restore` slash commands: one registry, and what follows from it.

Each command is declared once (``backup.py``, ``restore.py``) with its words, arguments,
role, answer, handler, help line and not-found meaning (``spec.py``), built from the pure
argument pieces of ``grammar.py`` and ``values.py``. ``registry.py`` lists them;
``parser.py`` turns text into a command; ``help.py`` writes the help, usage lines,
suggestions, the manifest's usage hints and the README's table. Nothing here does I/O.
"""

from __future__ import annotations

from typing import Final

from bot.slack.commands.backup import (
    BACKUP,
    BackupList,
    BackupRun,
    BackupShow,
    Export,
    Exports,
    ExportStatus,
    Help,
    Import,
    ImportStatus,
    PolicyActivate,
    PolicyCreate,
    PolicyList,
    PolicyShow,
    PolicyUpdate,
    Regions,
    Schedules,
    ScheduleSet,
    Sites,
    Status,
    StorageCreate,
    StorageList,
    StorageShow,
    WhoAmI,
)
from bot.slack.commands.help import help_text, overview
from bot.slack.commands.parser import parse_command
from bot.slack.commands.registry import ALL_COMMANDS, REGISTRY, ParsedCommand
from bot.slack.commands.restore import (
    RESTORE,
    RestoreList,
    RestoreModal,
    RestoreReport,
    RestoreShow,
    RestoreStart,
)
from bot.slack.commands.spec import Answer, CommandSpec, NotFound, SlashCommand
from bot.slack.commands.values import (
    ATLASSIAN_STORAGE,
    AtlassianStorage,
    ScheduleChoice,
    escape_mrkdwn,
)

BACKUP_OVERVIEW: Final = overview(BACKUP)
RESTORE_OVERVIEW: Final = overview(RESTORE)

__all__ = [
    "ALL_COMMANDS",
    "ATLASSIAN_STORAGE",
    "BACKUP_OVERVIEW",
    "REGISTRY",
    "RESTORE_OVERVIEW",
    "Answer",
    "AtlassianStorage",
    "BackupList",
    "BackupRun",
    "BackupShow",
    "CommandSpec",
    "Export",
    "ExportStatus",
    "Exports",
    "Help",
    "Import",
    "ImportStatus",
    "NotFound",
    "ParsedCommand",
    "PolicyActivate",
    "PolicyCreate",
    "PolicyList",
    "PolicyShow",
    "PolicyUpdate",
    "Regions",
    "RestoreList",
    "RestoreModal",
    "RestoreReport",
    "RestoreShow",
    "RestoreStart",
    "ScheduleChoice",
    "ScheduleSet",
    "Schedules",
    "Sites",
    "SlashCommand",
    "Status",
    "StorageCreate",
    "StorageList",
    "StorageShow",
    "WhoAmI",
    "escape_mrkdwn",
    "help_text",
    "parse_command",
]
