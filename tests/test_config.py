"""Settings: aliases, lists and the one-line refusal of a malformed variable."""

from __future__ import annotations

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.redaction import redact


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


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            {"redis_sentinels": "10.0.0.1:26379"},
            "REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER is not: name the primary.",
        ),
        (
            {"redis_sentinel_master": "mymaster"},
            "REDIS_SENTINEL_MASTER is set but REDIS_SENTINELS is not: list host:port,….",
        ),
        (
            {
                "redis_sentinels": "10.0.0.1:26379",
                "redis_sentinel_master": "mymaster",
                "redis_cluster": "true",
            },
            "REDIS_SENTINELS and REDIS_CLUSTER=true exclude each other: choose one mode.",
        ),
        (
            {"redis_cluster": "true", "redis_url": "redis://node-1:6379/2"},
            "REDIS_CLUSTER=true: a Cluster has only database 0, so REDIS_URL must end /0.",
        ),
        (
            {"redis_cluster": "true", "redis_url": "unix:///run/redis.sock"},
            "REDIS_CLUSTER=true needs a redis:// or rediss:// REDIS_URL naming one node.",
        ),
        (
            {"redis_cluster": "true", "redis_replica_ack_ms": "100"},
            "REDIS_REPLICA_ACK_MS needs a standalone or Sentinel Redis, not REDIS_CLUSTER.",
        ),
        (
            {"redis_sentinels": "10.0.0.1", "redis_sentinel_master": "mymaster"},
            "REDIS_SENTINELS is invalid: entry '10.0.0.1' is not host:port.",
        ),
    ],
)
def test_a_malformed_redis_mode_is_one_line_naming_the_settings(
    settings: dict[str, str], line: str
) -> None:
    """Each wrong combination of Redis settings is refused in one sentence naming them."""
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, **settings)
    assert str(refused.value) == line


def test_sentinel_settings_are_read_and_their_password_is_never_logged() -> None:
    """Sentinels parse to addresses; the sentinel password joins the secrets kept out of logs."""
    settings = load_settings(
        _env_file=None,
        redis_sentinels="10.0.0.1:26379, [::1]:26380",
        redis_sentinel_master="mymaster",
        redis_sentinel_password="s3ntinel-pass",
    )
    assert settings.redis_sentinels == [("10.0.0.1", 26379), ("::1", 26380)]
    assert redact("sentinel auth s3ntinel-pass failed") == "sentinel auth [redacted] failed"
