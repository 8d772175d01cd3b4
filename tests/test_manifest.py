"""manifest.yaml matches the bot: its commands, events, surfaces and exactly the scopes it uses.

The app is built and fed what Slack would send for each declared command and event, so a
declaration without a listener (Slack would deliver it and get nothing back) fails here; the
bot's Web API calls are read from its source, so a call needing an undeclared scope, or a
scope nothing uses, fails too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import UsageError
from bot.localslack import SlackWebApi
from bot.runtime import Services
from bot.simulator.seed import ACME_JIRA_POLICY, JIRA_COMPLETE_BACKUP
from bot.slack.app import SlackBot, build_app
from bot.slack.commands import parse_command
from bot.slack.commands.help import usage_hint
from bot.slack.commands.registry import command_set

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yaml"
ADMIN = "UADMIN"
CHANNEL = "CBACKUPS"

#: Bot-token scopes each Web API method needs (auth.test and views.* need none;
#: apps.connections.open uses the app-level token's connections:write, not a bot scope).
SCOPES_BY_METHOD: dict[str, frozenset[str]] = {
    "auth_test": frozenset(),
    "apps_connections_open": frozenset(),
    "chat_postMessage": frozenset({"chat:write"}),
    "chat_update": frozenset({"chat:write"}),
    "chat_postEphemeral": frozenset({"chat:write"}),
    # Slack requires no scope for a link to a message the bot can see.
    "chat_getPermalink": frozenset(),
    "views_open": frozenset(),
    "views_update": frozenset(),
    "views_push": frozenset(),
    "views_publish": frozenset(),
}
#: The stand-ins for Slack and Atlassian are not the bot and call nothing on Slack.
NOT_THE_BOT = ("bot/localslack/", "bot/simulator/")
#: Sample values for the placeholders in the commands' usage hints.
PLACEHOLDERS = {
    "<policyId>": ACME_JIRA_POLICY,
    "<backupId>": JIRA_COMPLETE_BACKUP,
    "<site>": "acme-sandbox",
    "<restoreId>": "rst-1",
    "<restoreOrMigrationId>": "rst-1",
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
def slash_commands(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["command"]: entry for entry in manifest["features"]["slash_commands"]}


@pytest.fixture
async def bot(services: Services, slack_api: SlackWebApi) -> SlackBot:
    """The bot's Bolt app as Socket Mode runs it, its Web API client on the fake Slack."""
    web_client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url)
    identity = AuthorizeResult(
        enterprise_id=None,
        team_id=slack_api.team_id,
        bot_user_id=slack_api.bot_user_id,
        bot_id=slack_api.bot_id,
        bot_token="xoxb-test",
    )
    return build_app(
        services,
        web_client=web_client,
        signing_secret=None,
        bot_identity=identity,
    )


async def dispatch(bot: SlackBot, body: dict[str, Any]) -> int:
    """Deliver `body` as Slack does over Socket Mode; Bolt answers 404 when nothing listens."""
    response = await bot.app.async_dispatch(AsyncBoltRequest(body=body, mode="socket_mode"))
    return response.status


def event_body(slack_api: SlackWebApi, event_type: str) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "token": "verification",
        "team_id": slack_api.team_id,
        "api_app_id": slack_api.app_id,
        "event": {
            "type": event_type,
            "user": ADMIN,
            "channel": "D0HOME",
            "tab": "home",
            "event_ts": "1793523600.000100",
        },
        "event_id": f"Ev{event_type}",
        "event_time": 1793523600,
    }


def command_body(slack_api: SlackWebApi, command: str, text: str) -> dict[str, Any]:
    return {
        "token": "verification",
        "team_id": slack_api.team_id,
        "channel_id": CHANNEL,
        "user_id": ADMIN,
        "command": command,
        "text": text,
        "api_app_id": slack_api.app_id,
        "response_url": slack_api.new_response_url(channel=CHANNEL, user=ADMIN),
        "trigger_id": slack_api.issue_trigger_id(ADMIN),
    }


def web_api_calls_in_the_bot() -> dict[str, set[str]]:
    """Every Web API client method the bot's source calls, with the files calling it."""
    methods = {
        name
        for name in dir(AsyncWebClient)
        if not name.startswith("_") and "_" in name and callable(getattr(AsyncWebClient, name))
    }
    pattern = re.compile(r"\.([A-Za-z]+_[A-Za-z_]+)\(")
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(NOT_THE_BOT):
            continue
        for name in pattern.findall(path.read_text()):
            if name in methods:
                found.setdefault(name, set()).add(relative)
    return found


# -- what the manifest declares ---------------------------------------------------------------


def test_the_app_runs_in_socket_mode_with_interactivity_and_a_home_tab(
    manifest: dict[str, Any],
) -> None:
    """Socket Mode, interactivity (buttons, the modal) and the Home tab are switched on."""
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"]


def test_both_commands_are_declared_with_a_description_and_usage_hint(
    slash_commands: dict[str, dict[str, Any]],
) -> None:
    """/backup and /restore (and nothing else) are declared, each described with a hint."""
    assert set(slash_commands) == {"/backup", "/restore"}
    for entry in slash_commands.values():
        assert entry["description"].strip()
        assert entry["usage_hint"].strip()


def test_every_usage_hint_names_commands_the_bot_understands(
    slash_commands: dict[str, dict[str, Any]],
    services: Services,
) -> None:
    """Each alternative in a usage hint, placeholders filled in, parses without a usage error."""
    for command, entry in slash_commands.items():
        for alternative in entry["usage_hint"].split("|"):
            text = alternative.strip()
            for placeholder, sample in PLACEHOLDERS.items():
                text = text.replace(placeholder, sample)
            assert "<" not in text, f"{command} hint has an unknown placeholder: {alternative!r}"
            parsed = parse_command(command, text, services.sites)
            assert not isinstance(parsed, UsageError), f"{command} {text}: {parsed}"


def test_each_usage_hint_is_written_from_the_registry(
    slash_commands: dict[str, dict[str, Any]],
) -> None:
    """The hint lists the commands declared with usage_hint, with their required arguments."""
    for command, entry in slash_commands.items():
        commands = command_set(command)
        assert commands is not None, command
        assert entry["usage_hint"] == usage_hint(commands), command


def test_bot_scopes_are_exactly_what_the_bots_calls_need(manifest: dict[str, Any]) -> None:
    """The bot scopes are `commands` plus the scopes of the Web API methods the bot calls."""
    calls = web_api_calls_in_the_bot()
    unknown = {name: files for name, files in calls.items() if name not in SCOPES_BY_METHOD}
    assert not unknown, f"add these methods and their scopes to SCOPES_BY_METHOD: {unknown}"
    assert {"chat_postMessage", "chat_update", "views_publish"} <= set(calls)
    needed = {"commands"} | {scope for name in calls for scope in SCOPES_BY_METHOD[name]}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed
    assert needed == {"commands", "chat:write"}


# -- what the app listens for -----------------------------------------------------------------


async def test_every_declared_command_has_a_listener(
    bot: SlackBot, slack_api: SlackWebApi, slash_commands: dict[str, dict[str, Any]]
) -> None:
    """Each declared command is answered; an undeclared one finds no listener."""
    for command in slash_commands:
        assert await dispatch(bot, command_body(slack_api, command, "help")) == 200, command
    assert await dispatch(bot, command_body(slack_api, "/undeclared", "help")) == 404


async def test_every_subscribed_event_has_a_listener(
    bot: SlackBot, slack_api: SlackWebApi, manifest: dict[str, Any]
) -> None:
    """Each bot event the manifest subscribes to is handled; opening Home publishes the tab."""
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert "app_home_opened" in events
    for event_type in events:
        assert await dispatch(bot, event_body(slack_api, event_type)) == 200, event_type
    assert await dispatch(bot, event_body(slack_api, "reaction_added")) == 404
    await slack_api.wait_for(lambda api: bool(api.calls_to("views.publish")))
    home = slack_api.home(ADMIN)
    assert home is not None
    assert home.type == "home"
