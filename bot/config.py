"""Settings from the environment or a ``.env`` file, validated once at start-up."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import time
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.atlassian.versions import ApiProfile, ApiVersion, profile_of, resolve_version
from bot.errors import ConfigError
from bot.messages import settings as settings_words
from bot.observability.logs import LogFormat, parse_level
from bot.redaction import redact

DEFAULT_ATLASSIAN_API_URL = profile_of(ApiVersion.V1).default_url
DEFAULT_SLACK_API_URL = "https://slack.com/api/"

CLOUD_ID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_ALIAS_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


_REDIS_SCHEMES = ("redis", "rediss", "unix")
_REDIS_URL_SHAPE = "redis://[user:password@]host:port/db, rediss://… for TLS, or unix:///path"


def redis_url_problem(url: str) -> str | None:
    """What is wrong with a REDIS_URL, in words that never repeat the URL (it may hold a
    password); None when redis-py can use it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return f"its port is not a number; it must look like {_REDIS_URL_SHAPE}"
    if parts.scheme not in _REDIS_SCHEMES:
        return f"it must start with redis://, rediss:// or unix:// (like {_REDIS_URL_SHAPE})"
    if parts.scheme != "unix" and not parts.hostname:
        return f"it names no host; it must look like {_REDIS_URL_SHAPE}"
    if parts.scheme == "unix" and not parts.path:
        return "a unix:// URL must name the socket's path, like unix:///run/redis.sock"
    if port is not None and not 0 < port < 65536:
        return "its port must be between 1 and 65535"
    database = parts.path.strip("/")
    if parts.scheme != "unix" and database and not database.isdigit():
        return "its path must be a database number, like /0"
    return None


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in re.split(r"[,\s]+", value) if item.strip()]
    return value


def _parse_sites(value: object) -> object:
    if not isinstance(value, str):
        return value
    sites: dict[str, str] = {}
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        alias, sep, cloud_id = entry.partition("=")
        if not sep or not alias.strip() or not cloud_id.strip():
            raise ValueError(f"entry {entry!r} is not alias=cloudId")
        # Cloud ids are UUIDs; one spelling lets every comparison be exact.
        sites[alias.strip().lower()] = cloud_id.strip().lower()
    return sites


class SiteDirectory:
    """Site aliases from ATLASSIAN_SITES, resolved both ways."""

    def __init__(self, aliases: Mapping[str, str]) -> None:
        self._by_alias = {alias.lower(): cloud_id for alias, cloud_id in aliases.items()}
        self._by_cloud_id = {cloud_id.lower(): alias for alias, cloud_id in aliases.items()}

    @property
    def aliases(self) -> dict[str, str]:
        return dict(self._by_alias)

    def resolve(self, text: str) -> str | None:
        """An alias or a raw cloudId to a cloudId; None when it is neither."""
        key = text.strip().lower()
        if key in self._by_alias:
            return self._by_alias[key]
        if CLOUD_ID_PATTERN.match(key):
            return key
        return None

    def name(self, cloud_id: str | None) -> str:
        """The alias of a cloudId when one is configured, else the cloudId itself."""
        if not cloud_id:
            return "unknown site"
        return self._by_cloud_id.get(cloud_id.lower(), cloud_id)


_SETTINGS_SOURCE = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)


class LogSettings(BaseSettings):
    """The settings logging needs, read first so even a bad setting is reported in them."""

    model_config = _SETTINGS_SOURCE

    bot_log_level: str = "INFO"
    bot_log_format: LogFormat = LogFormat.TEXT

    @field_validator("bot_log_level")
    @classmethod
    def _check_level(cls, level: str) -> str:
        parse_level(level)
        return level.strip().upper()

    @field_validator("bot_log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def log_level(self) -> int:
        return parse_level(self.bot_log_level)


class Settings(LogSettings):
    model_config = _SETTINGS_SOURCE

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL

    atlassian_api_url: str = DEFAULT_ATLASSIAN_API_URL
    # Unset: the URL's last segment (…/v1, …/v2) decides, else v1.
    atlassian_api_version: ApiVersion | None = None
    # The admin's Atlassian account id, sent as X-Atl-Account-Id where the version needs it.
    atlassian_account_id: str | None = None
    # How long Atlassian keeps backups; unset: the version's rule (v1 14 days, v2 30).
    atlassian_backup_retention_days: int | None = Field(default=None, ge=1, le=365)
    atlassian_org_id: str = ""
    atlassian_email: str = ""
    atlassian_api_token: SecretStr = SecretStr("")
    atlassian_sites: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    redis_url: str = "redis://127.0.0.1:6379/0"

    bot_admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    bot_approvers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    bot_four_eyes: bool = False
    bot_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    bot_notify_channel: str | None = None
    bot_poll_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Finished operations, restore sessions and their audit trails are kept this long.
    bot_retention_days: int = Field(default=30, ge=2, le=3650)
    # Socket Mode only (HTTP mode serves /metrics on its own port): off unless set.
    bot_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Assurance: a policy whose newest COMPLETE backup is this old is alerted on.
    bot_max_backup_age_days: int = Field(default=8, ge=1, le=365)
    # A COMPLETE backup this much smaller than the median of the earlier ones is alerted on.
    bot_size_drop_percent: float = Field(default=30.0, gt=0, lt=100)
    # HH:MM (UTC): the daily digest in BOT_NOTIFY_CHANNEL; unset: no digest.
    bot_digest_at: time | None = None
    # Tries of one schedule slot's backup while it ends FAILED or INCOMPLETE.
    bot_schedule_tries: int = Field(default=3, ge=1, le=10)

    @field_validator(
        "bot_metrics_port",
        "atlassian_api_version",
        "atlassian_account_id",
        "atlassian_backup_retention_days",
        "bot_digest_at",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("atlassian_api_version", mode="before")
    @classmethod
    def _lower_version(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    _split_admins = field_validator("bot_admins", "bot_approvers", "bot_channels", mode="before")(
        _split_list
    )
    _sites = field_validator("atlassian_sites", mode="before")(_parse_sites)

    @field_validator("atlassian_sites")
    @classmethod
    def _check_sites(cls, sites: dict[str, str]) -> dict[str, str]:
        for alias, cloud_id in sites.items():
            if not _ALIAS_PATTERN.match(alias):
                raise ValueError(f"alias {alias!r} must be lower-case letters, digits, . _ -")
            if not CLOUD_ID_PATTERN.match(cloud_id):
                raise ValueError(f"{alias}={cloud_id!r}: the cloudId is not a UUID")
        return sites

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, url: str) -> str:
        problem = redis_url_problem(url)
        if problem:
            raise ValueError(problem)
        return url

    @field_validator("atlassian_api_url", "slack_api_url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^\s/]+", url):
            raise ValueError("must be an http(s) URL")
        return url.rstrip("/") + "/"

    @model_validator(mode="after")
    def _approvers_default_to_admins(self) -> Settings:
        if not self.bot_approvers:
            self.bot_approvers = list(self.bot_admins)
        return self

    @model_validator(mode="after")
    def _url_follows_version(self) -> Settings:
        # ATLASSIAN_API_VERSION=v2 alone points at Atlassian's v2 base, not the v1 default.
        if "atlassian_api_url" not in self.model_fields_set:
            self.atlassian_api_url = self.api_profile.default_url.rstrip("/") + "/"
        return self

    @property
    def api_version(self) -> ApiVersion:
        """ATLASSIAN_API_VERSION when set, else the last segment of ATLASSIAN_API_URL, else v1."""
        return resolve_version(self.atlassian_api_version, self.atlassian_api_url)

    @property
    def api_profile(self) -> ApiProfile:
        return profile_of(self.api_version).with_retention_days(
            self.atlassian_backup_retention_days
        )

    def require_account_id(self) -> None:
        """Stop with one line when the API version needs ATLASSIAN_ACCOUNT_ID and it is unset."""
        profile = self.api_profile
        if profile.needs_account_id and not self.atlassian_account_id:
            raise ConfigError(
                f"ATLASSIAN_ACCOUNT_ID is not set; {profile.name} needs the org admin's "
                "Atlassian account id (sent as X-Atl-Account-Id) to activate policies: set it, "
                "or set ATLASSIAN_API_VERSION=v1 for an org in the EAP."
            )

    @property
    def sites(self) -> SiteDirectory:
        return SiteDirectory(self.atlassian_sites)

    @property
    def has_slack_credentials(self) -> bool:
        return bool(self.slack_bot_token and (self.slack_app_token or self.slack_signing_secret))

    def require_for_serving(self, *, http: bool) -> None:
        """Stop with one line saying everything ``serve`` lacks: every missing setting, the
        Slack mode when none is configured, and tokens that cannot be Slack's (checked by
        their prefix before any call to Slack)."""
        missing = [
            name.upper()
            for name in ("slack_bot_token", "atlassian_org_id", "atlassian_email")
            if not self._value(name)
        ]
        if not self._value("atlassian_api_token"):
            missing.append("ATLASSIAN_API_TOKEN")
        problems = []
        socket_mode = bool(self._value("slack_app_token")) and not http
        if http and not self._value("slack_signing_secret"):
            missing.append("SLACK_SIGNING_SECRET")
        elif not http and not socket_mode and not self._value("slack_signing_secret"):
            problems.append(settings_words.NO_SLACK_MODE)
        if missing:
            problems.insert(0, settings_words.missing_settings(missing))
        token = self._value("slack_bot_token")
        if token and not token.startswith("xoxb-"):
            problems.append(
                settings_words.wrong_token_prefix("SLACK_BOT_TOKEN", "xoxb-", "bot token")
            )
        app_token = self._value("slack_app_token")
        if app_token and not app_token.startswith("xapp-"):
            problems.append(
                settings_words.wrong_token_prefix("SLACK_APP_TOKEN", "xapp-", "app-level token")
            )
        if problems:
            raise ConfigError(" ".join(problems))

    def _value(self, name: str) -> str:
        value = getattr(self, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return str(value or "")

    def register_secrets(self) -> None:
        for secret in (
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.atlassian_api_token,
        ):
            if secret is not None:
                redact.add(secret.get_secret_value())
        # REDIS_URL is shown when Redis cannot be reached; its password must not be.
        with contextlib.suppress(ValueError):
            redact.add(urlsplit(self.redis_url).password)


def _config_error(exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "settings"
    message = str(first["msg"]).removeprefix("Value error, ")
    return ConfigError(f"{name} is invalid: {message}.")


def load_log_settings(**overrides: Any) -> LogSettings:
    """Read only the logging settings; a bad one becomes a ConfigError naming it."""
    try:
        return LogSettings(**overrides)
    except ValidationError as exc:
        raise _config_error(exc) from None


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings; a bad one becomes a ConfigError naming the variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise _config_error(exc) from None
    settings.register_secrets()
    return settings
