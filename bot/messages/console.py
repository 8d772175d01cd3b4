"""What the local console says about itself (not what the bot says inside it)."""

from __future__ import annotations

from bot.messages.text import count


def nothing_to_submit() -> str:
    return (
        "this form has no submit button yet: pick the choices it shows first (`choose …`, or a "
        "number), and submit once its button appears"
    )


def store_in_redis(url: str, prefix: str, hours: int) -> str:
    return (
        f"Redis at {url}, keys under {prefix} only (nothing else is read, changed or deleted; "
        f"they expire {count(hours, 'hour')} after the console stops)"
    )


def store_in_memory(reason: str) -> str:
    return f"an in-process store ({reason}); its state ends with the console"


NO_REDIS_URL = "REDIS_URL is not set, so no Redis is used even if one runs on the default address"


BANNER_TITLE = "Atlassian backup bot: local console"
FOUR_EYES_ON = "Four-eyes is on: a restore's requester cannot approve it."
FOUR_EYES_OFF = "Four-eyes is off (--four-eyes turns it on)."


def banner_atlassian(sites: str, url: str, op_seconds: float) -> str:
    return f"Atlassian: the simulated demo org ({sites}) at {url}; operations take {op_seconds:g} s"


def banner_slack(channel: str, url: str, poll_seconds: float) -> str:
    return (
        f"Slack: a local stand-in, channel #{channel}; the bot serves signed requests at {url} "
        f"and checks running operations every {poll_seconds:g} s"
    )


def banner_state(description: str) -> str:
    return f"State: {description}"


def banner_you(name: str, roles: str) -> str:
    return (
        f"You are {name} ({roles}). /users (or /as) lists people, /as bob switches, /help lists "
        "console commands, /backup help the bot's."
    )


# ---- notes and refusals of the console's own commands ------------------------------------


def not_a_command_here(word: str) -> str:
    return f"{word} is not a command here; /help lists them."


def not_a_command(line: str) -> str:
    return f"{line!r} is not a command; /help lists them."


STILL_WORKING = "The bot is still working on that; its answer will show up here."
FOUR_EYES_NOTE = "Four-eyes is on: whoever requests a restore cannot approve it."
NOT_CLICKED = "Not clicked."
MODAL_CLOSED = "The modal was closed."
MESSAGE_DELETED = "A message was deleted."
NOTHING_TO_USE = "Nothing on the screen has buttons or fields right now."
ARE_YOU_SURE = "Are you sure?"
CLOCK_BACKWARDS = "The clock only moves forward: give more than 0."


def clock_now(now: str) -> str:
    return f"The clock is now {now} UTC."


def you_are_now(name: str, roles: str) -> str:
    return f"You are now {name} ({roles})."


def is_a_button(number: int) -> str:
    return f"{number} is a button: type just {number} to click it."


def is_a_field(number: int) -> str:
    return f"{number} is a field: type {number} followed by the text."


def is_a_select(number: int) -> str:
    return f"{number} is a select: add the option's number, e.g. {number} 1."


def takes_one_option(label: str) -> str:
    return f"{label!r} takes one option."


def not_an_option(pick: str, label: str, how_many: int) -> str:
    return f"{pick!r} is not an option of {label!r}; pick 1 to {how_many}."


def not_shown_since(text: str) -> str:
    return f"{text!r} was not shown since the last action."


def not_shown_within(text: str, seconds: float) -> str:
    return f"{text!r} was not shown within {seconds:g} s."


def not_a_shift(typed: str) -> str:
    return (
        f"{typed or 'Nothing'} is not a move forward: write /clock +7d, +12h, "
        "+30m or a mix such as +1d6h."
    )


# -- the console's own screens: /users and /help ----------------------------------------

PEOPLE_TITLE = "People in the local workspace"
PEOPLE_COLUMNS = ("name", "Slack id", "role with the bot")
YOU_MARK = " (you)"

HELP = """\
Console commands (the bot's own: /backup help)
  /backup …, /restore …   send a slash command to the bot in #backups
  /restore                open the restore modal
  <n>                     click button n (or choose in select n)
  <n> <k>                 choose option k of select n (several: <n> 1,2)
  <n> <text>              type text into field n of the open modal
  submit · close          submit or close the open modal
  click <label>           click the newest button whose label contains <label>
  choose <option>         choose the newest option whose text contains <option>
  /as <name>              act as someone else (/users lists who)
  /users · /whoami        who is who, with their roles
  /home                   open the bot's App Home tab
  /screen                 show again everything with buttons, with their numbers
  /clock [+7d|+12h|+30m]  move the clock of the bot and Atlassian forward (alone: show it)
  /help · /quit
Scripts also take:
  expect <text>           fail unless <text> was shown since the last action
  wait <text> [seconds]   wait until <text> is shown (default 30 s)
  # comment"""

# -- refusals of a console line (the screen capitalises the first letter) ---------------------

# Added to the title of a surface shown again because it changed.
UPDATED_MARK = " · updated"
NO_APP_HOME = "the bot did not publish an App Home tab."
NO_OPTION_CHOSEN = "no option was chosen."
NO_MODAL_OPEN = "no modal is open on your screen."
CLICK_NEEDS_LABEL = "click needs a label, e.g. click Start restore."
CHOOSE_NEEDS_TEXT = "choose needs an option's text, e.g. choose Jira."
EXPECT_NEEDS_TEXT = "expect needs the text to look for."
WAIT_NEEDS_TEXT = "wait needs the text to wait for."
WAIT_TIMEOUT_POSITIVE = "wait's timeout must be more than 0 seconds."


def answered_with_http(what: str, status: int) -> str:
    return f"the bot answered {what} with HTTP {status}."


def nobody_called(name: str, known: str) -> str:
    return f"there is nobody called '{name}'; try one of {known}."


def nothing_numbered(number: int | str) -> str:
    return f"nothing numbered {number} is on your screen now; /screen shows what is."


def cannot_click(label: str, why: object) -> str:
    return f"cannot click '{label}': {why}."


def cannot_choose(label: str, why: object) -> str:
    return f"cannot choose in '{label}': {why}."


def cannot_type(label: str, why: object) -> str:
    return f"cannot type into '{label}': {why}."


def cannot_submit(why: object) -> str:
    return f"cannot submit: {why}."


def no_button_labelled(label: str) -> str:
    return f"no button labelled '{label}' is on your screen."


def no_select_offers(text: str) -> str:
    return f"no select on your screen offers '{text}'."


__all__ = [
    "ARE_YOU_SURE",
    "BANNER_TITLE",
    "CHOOSE_NEEDS_TEXT",
    "CLICK_NEEDS_LABEL",
    "CLOCK_BACKWARDS",
    "EXPECT_NEEDS_TEXT",
    "FOUR_EYES_NOTE",
    "FOUR_EYES_OFF",
    "FOUR_EYES_ON",
    "HELP",
    "MESSAGE_DELETED",
    "MODAL_CLOSED",
    "NOTHING_TO_USE",
    "NOT_CLICKED",
    "NO_APP_HOME",
    "NO_MODAL_OPEN",
    "NO_OPTION_CHOSEN",
    "NO_REDIS_URL",
    "PEOPLE_COLUMNS",
    "PEOPLE_TITLE",
    "STILL_WORKING",
    "UPDATED_MARK",
    "WAIT_NEEDS_TEXT",
    "WAIT_TIMEOUT_POSITIVE",
    "YOU_MARK",
    "answered_with_http",
    "banner_atlassian",
    "banner_slack",
    "banner_state",
    "banner_you",
    "cannot_choose",
    "cannot_click",
    "cannot_submit",
    "cannot_type",
    "clock_now",
    "is_a_button",
    "is_a_field",
    "is_a_select",
    "no_button_labelled",
    "no_select_offers",
    "nobody_called",
    "not_a_command",
    "not_a_command_here",
    "not_a_shift",
    "not_an_option",
    "not_shown_since",
    "not_shown_within",
    "nothing_numbered",
    "nothing_to_submit",
    "store_in_memory",
    "store_in_redis",
    "takes_one_option",
    "you_are_now",
]
