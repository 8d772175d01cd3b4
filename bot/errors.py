"""The project's one error tree.

    BotError                      every error the bot raises on purpose
    ├── ConfigError               a missing or malformed setting (stops start-up)
    ├── UsageError                a command typed wrongly: carries the correct usage
    ├── NotAllowed                the caller's role does not permit the action
    ├── Refused                   a preflight rule says this may not happen now (and from when)
    │   └── RestoreRefused        ... specifically a restore
    ├── SessionError              a button on a restore session that cannot act now
    ├── StoreUncertain            a Redis write timed out after it may have been applied
    ├── SlackError                a call to Slack's Web API did not go through
    │   ├── SlackRateLimited      429 or a send budget spent: carries retry_after seconds
    │   ├── SlackRefused          Slack refused for good (channel gone, message not editable)
    │   ├── SlackNotAuthorized    Slack refused the bot's token: nothing goes until it is fixed
    │   └── SlackUnavailable      a network failure or an error a retry may fix
    └── AtlassianError            a call to the backup and restore API failed
        ├── AuthError             401: bad e-mail or API token
        ├── ForbiddenError        403: not an org admin, or the org is not entitled
        ├── NotFoundError         404: unknown id
        ├── RuleViolation         400: a documented rule refused the request (code, message)
        ├── ConflictError         409: e.g. an operation is already running
        ├── RateLimited           429: carries retry_after seconds
        ├── Unavailable           5xx, timeout or connection failure
        │   └── OutcomeUnknown    a create may or may not have happened; it was not retried
        └── UnexpectedResponse    the service answered with something we cannot read

Every error has ``user_message``: one sentence for Slack that says what went wrong and what
to do next. Nothing in an error's text may contain a secret; AtlassianError redacts its body.
"""

from __future__ import annotations

from datetime import datetime

from bot.messages import errors as said
from bot.redaction import redact


class BotError(Exception):
    """Base of every error the bot raises on purpose."""

    @property
    def user_message(self) -> str:
        return str(self)


class ConfigError(BotError):
    """A setting is missing or malformed; the message names the variable."""


class UsageError(BotError):
    """A command was typed wrongly.

    ``problem`` is one sentence; ``suggestion`` the command probably meant, whose usage
    ``usage`` then is.
    """

    def __init__(self, problem: str, usage: str, *, suggestion: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage
        self.suggestion = suggestion

    @property
    def user_message(self) -> str:
        meant = said.did_you_mean(self.suggestion) if self.suggestion else ""
        return f"{self.problem}{meant}{said.usage(self.usage)}"


class NotAllowed(BotError):
    """The caller may not do this; the message says who can grant access."""


class Refused(BotError):
    """A preflight rule refuses the action; ``possible_from`` says when it would be allowed."""

    def __init__(self, reason: str, possible_from: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.possible_from = possible_from

    # The reason already names the date in words a user reads; possible_from is for code.


class RestoreRefused(Refused):
    """A preflight rule refuses a restore.

    ``mrkdwn`` reasons are the bot's own Slack markup (mentions, channel links), anything
    from a request or from Atlassian already escaped in them. ``card_channel`` and
    ``card_ts`` point at the card of the restore in the way, for a link to it.
    """

    def __init__(
        self,
        reason: str,
        possible_from: datetime | None = None,
        *,
        mrkdwn: bool = False,
        card_channel: str | None = None,
        card_ts: str | None = None,
    ) -> None:
        super().__init__(reason, possible_from)
        self.mrkdwn = mrkdwn
        self.card_channel = card_channel
        self.card_ts = card_ts


class SessionError(BotError):
    """A click on a restore session that is expired, finished, unknown or not the clicker's."""


class StoreUncertain(BotError):
    """A Redis call failed after it may have taken effect (a timeout, a dropped connection).

    Whoever catches it must not tell the user that nothing changed: the step may have run,
    and the bot reads the state back to find out.
    """


class SlackError(BotError):
    """A call to Slack's Web API did not go through; carries the method and Slack's error."""

    def __init__(self, method: str, error: str, *, channel: str | None = None) -> None:
        self.method = method
        self.error = error
        self.channel = channel
        where = f" in {channel}" if channel else ""
        super().__init__(f"Slack {method}{where}: {error}")


class SlackRateLimited(SlackError):
    """Slack answered 429, or the shared send budget is spent: try again after ``retry_after``.

    ``channel`` is None when the limit is the whole workspace's (``chat.update``).
    """

    def __init__(
        self, method: str, retry_after: float, *, channel: str | None = None, error: str = ""
    ) -> None:
        self.retry_after = retry_after
        super().__init__(method, error or "ratelimited", channel=channel)


class SlackRefused(SlackError):
    """Slack refused for good: no retry can fix it (the channel or message is gone...)."""


class SlackNotAuthorized(SlackError):
    """Slack refused the bot's token or its scopes: every send waits for the operator."""


class SlackUnavailable(SlackError):
    """A network failure or a Slack error that a later retry may fix."""


class AtlassianError(BotError):
    """A call to the Atlassian backup and restore API failed.

    Carries the request's method and path, the HTTP status (None when no response came)
    and the response body with secrets removed.
    """

    default_hint = said.ATLASSIAN_HINT

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        body: str = "",
        code: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = redact(body)[:2000]
        self.code = code
        self.message = redact(message)
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.message} ({where}{status})" if where else self.message

    @property
    def user_message(self) -> str:
        return said.atlassian_said(self.message, self.default_hint)


class AuthError(AtlassianError):
    default_hint = said.AUTH_HINT

    @property
    def user_message(self) -> str:
        return said.credentials_refused(self.default_hint)


class ForbiddenError(AtlassianError):
    default_hint = said.FORBIDDEN_HINT

    @property
    def user_message(self) -> str:
        return said.not_permitted(self.default_hint)


class NotFoundError(AtlassianError):
    default_hint = said.NOT_FOUND_HINT

    @property
    def user_message(self) -> str:
        return said.unknown_id(self.default_hint)


class RuleViolation(AtlassianError):
    default_hint = said.RULE_HINT

    @property
    def user_message(self) -> str:
        return said.refused(self.message)


class ConflictError(AtlassianError):
    default_hint = said.CONFLICT_HINT

    @property
    def user_message(self) -> str:
        return said.refused_busy(self.message, self.default_hint)


class RateLimited(AtlassianError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]

    @property
    def user_message(self) -> str:
        return said.rate_limited(self.retry_after)


class Unavailable(AtlassianError):
    @property
    def user_message(self) -> str:
        return said.UNAVAILABLE


class OutcomeUnknown(Unavailable):
    """A create timed out or failed server-side and no created object could be found.

    It was deliberately not retried: a blind retry could start a second backup or restore.
    """

    @property
    def user_message(self) -> str:
        return said.OUTCOME_UNKNOWN


class UnexpectedResponse(AtlassianError):
    @property
    def user_message(self) -> str:
        return said.UNREADABLE
