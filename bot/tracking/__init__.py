"""Tracking: every backup, export, import and restore followed to its end and reported."""
