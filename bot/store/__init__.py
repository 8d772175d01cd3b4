"""Redis-backed state the bot must not lose."""
