"""The start-up check: does the org answer the API version the bot is set to speak?

``serve`` reads the policy list once, in the background, and logs one line. A 404 or 410
there, or a list the models cannot read, most likely means the org is on the other version
(an EAP org on v1, a current one on v2), so the line names the version tried and the
setting to change. Anything else (bad credentials, an outage) is reported in the same one
line in the error's own words. The bot keeps serving either way: ``/backup help`` answers,
and every command that reaches Atlassian reports its own failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.atlassian.client import AtlassianClient
from bot.atlassian.versions import PROFILES, ApiVersion
from bot.errors import AtlassianError, AuthError, NotFoundError, UnexpectedResponse
from bot.messages import settings as settings_words

_GONE = 410


@dataclass(frozen=True)
class ProbeResult:
    """``problem`` is None when the org answered; otherwise the one line to log."""

    policies: int
    problem: str | None = None
    # Atlassian refused the credentials: nothing that reaches it can work until they are fixed.
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None


async def probe_api_version(client: AtlassianClient) -> ProbeResult:
    profile = client.profile
    other = PROFILES[ApiVersion.V2 if profile.version is ApiVersion.V1 else ApiVersion.V1]
    switch = (
        f"if the org uses {other.name}, set ATLASSIAN_API_VERSION={other.version.value} "
        f"(and ATLASSIAN_API_URL to {other.default_url} or your proxy of it)"
    )
    tried = f"{profile.name} at {client.base_url}"
    try:
        policies = await client.read_policy_page()
    except NotFoundError as exc:
        return ProbeResult(0, f"Atlassian answered {exc.status or 404} to {tried}; {switch}.")
    except UnexpectedResponse as exc:
        if exc.status == _GONE:
            return ProbeResult(0, f"Atlassian answered 410 (gone) to {tried}; {switch}.")
        return ProbeResult(
            0, f"The policy list from {tried} could not be read ({exc.message}); {switch}."
        )
    except AuthError as exc:
        return ProbeResult(
            0, settings_words.atlassian_refused_token(exc.default_hint), refused=True
        )
    except AtlassianError as exc:
        return ProbeResult(0, f"The policy list from {tried} could not be read: {exc.user_message}")
    return ProbeResult(len(policies))


__all__ = ["ProbeResult", "probe_api_version"]
