"""The key layout every store follows, so each Lua script touches keys of one hash slot.

Redis Cluster runs a script, a MULTI or a multi-key command (MGET, SUNION, RENAME, …) only
when all its keys hash to one slot; a key's slot is computed from the part between its
first ``{`` and the following ``}`` (its hash tag) when it has one. Every key of the bot is

    <prefix>{<family>}:<name>

where ``<prefix>`` is the configured one (``bbot:``; it may not contain braces) and
``<family>`` names the keys that scripts touch together:

- ``{restore}``: the restore sessions, their trails, facts, indexes, decision replies, call
  leases and the audit stream (``bot.restore.store``);
- ``{tracking}``: the tracked operations, their outboxes and indexes, the tracker's shard
  leases, heartbeat and fence, reminders, and the Slack send budgets and event marks that
  live under the operation store's prefix (``bot.store.operations`` and what takes its
  ``key_prefix``);
- ``{roles}``: the members of the Slack user groups the roles name (``bot.access``).

Because each family is one slot, every step that is atomic on one Redis server stays
atomic on a Cluster: one script still checks a session, moves it, updates the indexes and
appends the audit entry together, and nothing needs a follow-up to become consistent. The
price is that a family lives on one Cluster node: the bot's volume (sessions and clicks at
human pace, operations by the hundred) is far below what one node serves, and the
families are spread over the nodes. A new store picks a family of its own (a new
``{name}``) unless a script must touch its keys together with an existing family's, and
builds every key with ``family_prefix``; ``tests/test_key_layout.py`` fails on a key
outside the layout. A store whose keys are each touched alone (one key per command or
script) may take a family per entity, ``{<entity id>}``, to spread them.

Why not a slot per restore session or per operation: the indexes that find sessions and
operations (open sessions by deadline, sessions by state, operations still polled, owed
notifications) and the audit stream would then live in other slots than the entity, and
each decision would become a script plus idempotent follow-ups that readers must tolerate
half-done. At this bot's volume that buys nothing and costs the simplest guarantee.
"""

from __future__ import annotations

from typing import Final

RESTORE: Final = "restore"
TRACKING: Final = "tracking"
ROLES: Final = "roles"


def check_prefix(prefix: str) -> str:
    """The configured prefix as is; a brace in it would change every key's hash slot."""
    if "{" in prefix or "}" in prefix:
        raise ValueError("a key prefix may not contain { or }: the key layout puts the hash tag")
    return prefix


def family_prefix(prefix: str, family: str) -> str:
    """``<prefix>{<family>}:``: every key of one family starts with it and shares its slot.

    Idempotent, so a store may be handed a prefix that already carries its family.
    """
    tagged = f"{{{family}}}:"
    if prefix.endswith(tagged):
        return prefix
    return f"{check_prefix(prefix)}{tagged}"


__all__ = ["RESTORE", "ROLES", "TRACKING", "check_prefix", "family_prefix"]
