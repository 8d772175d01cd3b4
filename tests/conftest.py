"""Shared fixtures: each module under tests/fixtures is a pytest plugin for one real part."""

from pathlib import Path

from hypothesis import settings

# The property tests assert what the code answers, not how fast: on a loaded two-core CI
# machine one example can take far longer than Hypothesis's default 200 ms deadline.
settings.register_profile("project", deadline=None)
settings.load_profile("project")

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)
