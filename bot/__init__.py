"""Slack chat-ops bot for Atlassian Cloud backup and restore."""

__version__ = "0.1.0"
