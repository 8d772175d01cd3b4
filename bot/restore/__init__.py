"""Restores: the state machine, its Redis store and the workflow; where a restore's truth lives."""

from bot.restore.session import (
    ALLOWED,
    FINAL_STATES,
    IN_FLIGHT_STATES,
    OPEN_STATES,
    SYSTEM_ACTOR,
    Answer,
    AuditEntry,
    RestoreSession,
    SessionState,
    Transition,
)
from bot.restore.store import RestoreSessionStore
from bot.restore.workflow import RestoreRequest, RestoreWorkflow

__all__ = [
    "ALLOWED",
    "FINAL_STATES",
    "IN_FLIGHT_STATES",
    "OPEN_STATES",
    "SYSTEM_ACTOR",
    "Answer",
    "AuditEntry",
    "RestoreRequest",
    "RestoreSession",
    "RestoreSessionStore",
    "RestoreWorkflow",
    "SessionState",
    "Transition",
]
