"""A simulator of Atlassian's Cloud backup and restore API, for tests, the console and demos.

``World`` holds the simulated organisation and its rules (no I/O, time from an injected
clock); ``SimulatorServer`` serves it over HTTP; ``seed`` plants the ``demo`` organisation.
"""

from bot.simulator.seed import DEMO_ORG_ID, DEMO_SITES, DEMO_TOKEN
from bot.simulator.server import SimulatorServer
from bot.simulator.world import Faults, Plan, RecordedCall, ShiftableClock, SimulatedApiError, World

__all__ = [
    "DEMO_ORG_ID",
    "DEMO_SITES",
    "DEMO_TOKEN",
    "Faults",
    "Plan",
    "RecordedCall",
    "ShiftableClock",
    "SimulatedApiError",
    "SimulatorServer",
    "World",
]
