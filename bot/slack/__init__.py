"""Everything that faces Slack: command parsing, Block Kit builders, handlers and app wiring."""
