"""Settings: aliases, lists and the one-line refusal of a malformed variable."""

from __future__ import annotations

import pytest

from bot.config import load_settings
from bot.errors import ConfigError


def test_site_cloud_ids_are_kept_in_one_case() -> None:
    """An upper-case cloud id in ATLASSIAN_SITES resolves to the same id the API reports."""
    settings = load_settings(
        _env_file=None, atlassian_sites="acme=11111111-1111-4111-8111-1111111111AB"
    )
    assert settings.sites.resolve("acme") == "11111111-1111-4111-8111-1111111111ab"
    assert settings.sites.name("11111111-1111-4111-8111-1111111111AB") == "acme"


def test_a_malformed_site_list_names_the_variable() -> None:
    """A site entry without a cloud id stops with a sentence naming ATLASSIAN_SITES."""
    with pytest.raises(ConfigError, match=r"^ATLASSIAN_SITES is invalid"):
        load_settings(_env_file=None, atlassian_sites="acme")
