"""A local stand-in for Slack: a fake Web API server and a driver that plays Slack's side.

The bot's Web API client points at `SlackWebApi.url`; `SlackDriver` posts signed slash
commands, clicks and modal submissions to the bot's events URL, or delivers them over the
Socket Mode connection the bot opened to `SlackWebApi`. Both speak real HTTP and WebSocket on
loopback, so the tests and the local console exercise the same code paths as production.
"""

from bot.localslack.driver import Forgery, SlackDriver, SlackResponse
from bot.localslack.signing import sign
from bot.localslack.web_api import (
    ApiCall,
    Ephemeral,
    Message,
    MessageEdit,
    OpenView,
    ResponsePost,
    SlackWebApi,
    block_errors,
    view_errors,
)

__all__ = [
    "ApiCall",
    "Ephemeral",
    "Forgery",
    "Message",
    "MessageEdit",
    "OpenView",
    "ResponsePost",
    "SlackDriver",
    "SlackResponse",
    "SlackWebApi",
    "block_errors",
    "sign",
    "view_errors",
]
