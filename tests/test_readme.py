"""The README's command table is written from the command registry, so the two cannot drift."""

from __future__ import annotations

from pathlib import Path

from bot.slack.commands.help import command_table

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_command_table() -> list[str]:
    """The lines of the README's command table, from its header row to the first other line."""
    lines = README.read_text().splitlines()
    header = command_table().splitlines()[0]
    start = lines.index(header)
    end = next(
        (index for index in range(start, len(lines)) if not lines[index].startswith("|")),
        len(lines),
    )
    return lines[start:end]


def test_the_readme_command_table_is_the_registrys() -> None:
    """One row per command in help order, with its usage, summary, role and answer."""
    assert readme_command_table() == command_table().splitlines()


def test_the_table_shows_pipes_inside_usage_lines_as_text() -> None:
    """`jira|confluence` is escaped so Markdown does not split the cell there."""
    row = next(line for line in command_table().splitlines() if "policy create" in line)
    assert "`/backup policy create jira\\|confluence site=SITE" in row
    assert row.count(" | ") == 3
