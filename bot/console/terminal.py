"""The console's commands, shared by the prompt and by scripts.

A line is a slash command for the bot (``/backup …``, ``/restore …``), a console command
(``/as bob``, ``/users``, ``/home``, ``/help``, ``/quit``), a number that clicks a button or
chooses in a select, ``submit`` for the open modal, or one of the script checks (``expect``,
``wait``, ``click <label>``, ``choose <option>``). Every request goes to the bot through the
stand-in Slack, signed, exactly as Slack would send it.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from rich.table import Table

from bot.console.local import CHANNEL, USERS, ConsoleUser, LocalBot
from bot.console.render import Control
from bot.console.screen import Screen, Surface, view_key
from bot.console.timeshift import ShiftError, parse_shift
from bot.localslack import OpenView, SlackResponse
from bot.messages import console as console_words

DEFAULT_WAIT_SECONDS: Final = 30.0
WAIT_STEP_SECONDS: Final = 0.1
HOME_WAIT_SECONDS: Final = 3.0
BOT_COMMANDS: Final = ("/backup", "/restore")

#: Asks the person a question and returns the answer (the prompt); None in scripts.
Ask = Callable[[str], Awaitable[str]]


class StepFailed(Exception):
    """A console line could not do what it says; the message says why in one sentence."""


class QuitRequested(Exception):
    """The person typed /quit."""


@dataclass(frozen=True)
class _Choice:
    values: list[str]
    labels: list[str]


class Terminal:
    """Runs console lines against a local bot, printing what the current user sees."""

    def __init__(
        self,
        local: LocalBot,
        screen: Screen,
        *,
        user: ConsoleUser,
        ask: Ask | None = None,
    ) -> None:
        self.local = local
        self.screen = screen
        self.user = user
        self._ask = ask
        self._action_mark = screen.mark()
        #: True while the prompt waits for a line, so panels printed meanwhile repeat it.
        self.awaiting_input = False

    @property
    def prompt(self) -> str:
        return f"{self.user.name}@#backups> "

    # -- dispatch -----------------------------------------------------------------------

    async def execute(self, line: str) -> None:
        """Run one line; raises StepFailed when it cannot, QuitRequested on /quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        lowered = word.lower()
        if lowered in BOT_COMMANDS:
            await self._action(self.slash(word, rest))
        elif lowered in ("/quit", "/exit"):
            raise QuitRequested
        elif lowered == "/help":
            self.screen.out.print(console_words.HELP, markup=False, highlight=False)
        elif lowered == "/as" and not rest:
            # Who can I be? The same table /users prints.
            self.show_users(only_me=False)
        elif lowered == "/as":
            await self._action(self.switch_user(rest))
        elif lowered in ("/users", "/whoami"):
            self.show_users(only_me=lowered == "/whoami")
        elif lowered == "/home":
            await self._action(self.open_home())
        elif lowered == "/screen":
            self.screen.refresh()
            self.screen.redraw()
        elif lowered == "/clock":
            await self._action(self.move_clock(rest))
        elif lowered == "expect":
            self.expect(rest)
        elif lowered == "wait":
            await self.wait(rest)
        elif lowered == "click":
            await self._action(self.click_label(rest))
        elif lowered == "choose":
            await self._action(self.choose_option(rest))
        elif lowered == "submit":
            await self._action(self.submit())
        elif lowered == "close":
            await self._action(self.close())
        elif word.isdigit():
            await self._action(self.use_number(int(word), rest))
        elif word.startswith("/"):
            raise StepFailed(console_words.not_a_command_here(word))
        else:
            raise StepFailed(console_words.not_a_command(line))

    async def _action(self, work: Awaitable[None]) -> None:
        """Something that makes the bot act: what it shows next is what ``expect`` checks."""
        self.screen.refresh()
        self._action_mark = self.screen.mark()
        await work
        if not await self.local.settle():
            self.screen.note(console_words.STILL_WORKING)
        self.screen.refresh()

    async def move_clock(self, rest: str) -> None:
        clock = self.local.clock
        if rest:
            try:
                shift = parse_shift(rest)
            except ShiftError as exc:
                raise StepFailed(str(exc)) from None
            clock.advance(shift.total_seconds())
            # One poll interval, so the background loops see the new time before the next step.
            await asyncio.sleep(2 * self.local.options.poll_seconds)
        self.screen.note(console_words.clock_now(f"{clock.now():%A %Y-%m-%d %H:%M}"))

    # -- the bot's slash commands -------------------------------------------------------

    async def slash(self, command: str, text: str) -> None:
        response = await self.local.driver.slash(
            command=command.lower(), text=text, user=self.user.user_id, channel=CHANNEL
        )
        self._check_status(response, f"{command} {text}".strip())
        body = response.json
        if isinstance(body, dict) and (body.get("text") or body.get("blocks")):
            title = f"#backups · only visible to you (@{self.user.name}) · {command} {text}"
            self.screen.show_reply(title.strip(), body)

    def _check_status(self, response: SlackResponse, what: str) -> None:
        if response.status != 200:
            raise StepFailed(console_words.answered_with_http(what, response.status))

    # -- people ---------------------------------------------------------------------------

    async def switch_user(self, name: str) -> None:
        user = find_user(name)
        if user is None:
            known = ", ".join(person.name for person in USERS)
            raise StepFailed(console_words.nobody_called(name, known))
        self.user = user
        self.screen.viewer = user.user_id
        self.screen.note(console_words.you_are_now(user.name, self.roles(user)))
        self.screen.refresh()

    def roles(self, user: ConsoleUser) -> str:
        return ", ".join(role.value for role in self.local.services.access.roles(user.user_id))

    def show_users(self, *, only_me: bool) -> None:
        people = [self.user] if only_me else list(USERS)
        table = Table(title=None if only_me else console_words.PEOPLE_TITLE)
        for column in console_words.PEOPLE_COLUMNS:
            table.add_column(column)
        for person in people:
            marker = console_words.YOU_MARK if person == self.user else ""
            table.add_row(person.name + marker, person.user_id, self.roles(person))
        self.screen.out.print(table)
        if self.local.services.access.four_eyes:
            self.screen.note(console_words.FOUR_EYES_NOTE)

    async def open_home(self) -> None:
        """Open the bot's App Home tab, as clicking the app in Slack's sidebar does."""
        before = self.local.slack.home(self.user.user_id)
        event = {
            "token": "localslack-verification-token",
            "team_id": self.local.slack.team_id,
            "api_app_id": self.local.slack.app_id,
            "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(6).upper()}",
            "event_time": int(self.local.services.clock.now().timestamp()),
            "event": {
                "type": "app_home_opened",
                "user": self.user.user_id,
                "channel": f"D{self.user.user_id[1:]}",
                "tab": "home",
                "event_ts": f"{self.local.services.clock.now().timestamp():.6f}",
            },
        }
        response = await self.local.driver.post_signed(json.dumps(event).encode())
        self._check_status(response, "opening the App Home")
        deadline = asyncio.get_running_loop().time() + HOME_WAIT_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            home = self.local.slack.home(self.user.user_id)
            if home is not None and (before is None or home.hash != before.hash):
                return
            await asyncio.sleep(WAIT_STEP_SECONDS)
        if before is None:
            raise StepFailed(console_words.NO_APP_HOME)

    # -- buttons, selects, modals ----------------------------------------------------------

    async def use_number(self, number: int, rest: str) -> None:
        found = self.screen.control(number)
        if found is None:
            raise StepFailed(console_words.nothing_numbered(number))
        control, surface = found
        if control.is_button:
            if rest:
                raise StepFailed(console_words.is_a_button(number))
            await self.click(control, surface)
        elif control.is_choice:
            await self.choose(control, surface, rest or await self._ask_option(control))
        else:
            if not rest:
                raise StepFailed(console_words.is_a_field(number))
            await self.fill(control, surface, rest)

    async def click(self, control: Control, surface: Surface) -> None:
        if control.confirm and self._ask is not None:
            answer = await self._ask(f"{control.confirm} [{control.label}? y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                self.screen.note(console_words.NOT_CLICKED)
                return
        elif control.confirm:
            self.screen.note(f"Confirmed: {control.confirm}", style="dim")
        try:
            response = await self.local.driver.click(
                surface,
                control.action_id,
                value=control.value,
                user=self.user.user_id,
                block_id=control.block_id,
            )
        except LookupError as exc:
            raise StepFailed(console_words.cannot_click(control.label, exc)) from None
        self._check_status(response, f"the click on {control.label!r}")

    async def _ask_option(self, control: Control) -> str:
        if self._ask is None:
            raise StepFailed(console_words.is_a_select(control.number))
        listed = ", ".join(f"{i}) {option.text}" for i, option in enumerate(control.options, 1))
        return await self._ask(f"{control.label}: {listed} › ")

    def _parse_choice(self, control: Control, answer: str) -> _Choice:
        picks = [part for part in re.split(r"[,\s]+", answer.strip()) if part]
        if not picks:
            raise StepFailed(console_words.NO_OPTION_CHOSEN)
        if len(picks) > 1 and not control.takes_many:
            raise StepFailed(console_words.takes_one_option(control.label))
        values, labels = [], []
        for pick in picks:
            if not pick.isdigit() or not 1 <= int(pick) <= len(control.options):
                raise StepFailed(
                    console_words.not_an_option(pick, control.label, len(control.options))
                )
            option = control.options[int(pick) - 1]
            values.append(option.value)
            labels.append(option.text)
        return _Choice(values, labels)

    async def choose(self, control: Control, surface: Surface, answer: str) -> None:
        choice = self._parse_choice(control, answer)
        await self._select(control, surface, choice)

    async def _select(self, control: Control, surface: Surface, choice: _Choice) -> None:
        value: str | list[str] = choice.values if control.takes_many else choice.values[0]
        try:
            response = await self.local.driver.select(
                surface,
                control.action_id,
                value,
                user=self.user.user_id,
                block_id=control.block_id,
            )
        except LookupError as exc:
            raise StepFailed(console_words.cannot_choose(control.label, exc)) from None
        if isinstance(surface, OpenView):
            picked = self.screen.chosen.setdefault(surface.id, {})
            picked[(control.block_id, control.action_id)] = ", ".join(choice.labels)
        if response is None:
            # Nothing went to the bot: the choice waits in the modal for the submission.
            self.screen.touch(control.surface)
        else:
            self._check_status(response, f"the choice in {control.label!r}")

    async def fill(self, control: Control, surface: Surface, text: str) -> None:
        try:
            response = await self.local.driver.select(
                surface, control.action_id, text, user=self.user.user_id, block_id=control.block_id
            )
        except LookupError as exc:
            raise StepFailed(console_words.cannot_type(control.label, exc)) from None
        if isinstance(surface, OpenView):
            self.screen.chosen.setdefault(surface.id, {})[(control.block_id, control.action_id)] = (
                text
            )
        if response is None:
            self.screen.touch(control.surface)

    def _modal(self) -> OpenView:
        modal = self.screen.open_modal()
        if modal is None:
            raise StepFailed(console_words.NO_MODAL_OPEN)
        return modal

    async def submit(self) -> None:
        modal = self._modal()
        if not modal.view.get("submit"):
            raise StepFailed(console_words.nothing_to_submit())
        try:
            response = await self.local.driver.submit_view(modal, user=self.user.user_id)
        except (LookupError, ValueError) as exc:
            raise StepFailed(console_words.cannot_submit(exc)) from None
        self._check_status(response, "the submission")
        body = response.json
        if isinstance(body, dict) and body.get("response_action") == "errors":
            errors = body.get("errors") or {}
            self.screen.errors[modal.id] = {str(k): str(v) for k, v in errors.items()}
            self.screen.touch(view_key(modal))
            self.screen.note("The modal was not submitted: " + "; ".join(map(str, errors.values())))

    async def close(self) -> None:
        modal = self._modal()
        await self.local.driver.close_view(modal, user=self.user.user_id)

    # -- script steps ---------------------------------------------------------------------

    async def click_label(self, label: str) -> None:
        if not label:
            raise StepFailed(console_words.CLICK_NEEDS_LABEL)
        wanted = label.casefold()
        for control, surface in self.screen.controls():
            if control.is_button and wanted in control.label.casefold():
                self.screen.note(f"(clicking [{control.number}] {control.label})", style="dim")
                await self.click(control, surface)
                return
        raise StepFailed(console_words.no_button_labelled(label))

    async def choose_option(self, text: str) -> None:
        if not text:
            raise StepFailed(console_words.CHOOSE_NEEDS_TEXT)
        wanted = text.casefold()
        for control, surface in self.screen.controls():
            for index, option in enumerate(control.options, 1):
                if control.is_choice and wanted in option.text.casefold():
                    self.screen.note(
                        f"(choosing {option.text!r} in [{control.number}] {control.label})",
                        style="dim",
                    )
                    await self.choose(control, surface, str(index))
                    return
        raise StepFailed(console_words.no_select_offers(text))

    def expect(self, text: str) -> None:
        if not text:
            raise StepFailed(console_words.EXPECT_NEEDS_TEXT)
        self.screen.refresh()
        if not self.screen.contains_since(self._action_mark, text):
            raise StepFailed(console_words.not_shown_since(text))

    async def wait(self, rest: str) -> None:
        text, seconds = parse_wait(rest)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            self.screen.refresh()
            if self.screen.contains_since(self._action_mark, text):
                return
            if loop.time() >= deadline:
                raise StepFailed(console_words.not_shown_within(text, seconds))
            await asyncio.sleep(WAIT_STEP_SECONDS)


def parse_wait(rest: str) -> tuple[str, float]:
    """``wait <text> [seconds]``: a last word that is a number is the timeout."""
    words = rest.split()
    if not words:
        raise StepFailed(console_words.WAIT_NEEDS_TEXT)
    if len(words) > 1:
        try:
            seconds = float(words[-1])
        except ValueError:
            pass
        else:
            if seconds <= 0:
                raise StepFailed(console_words.WAIT_TIMEOUT_POSITIVE)
            return rest.rsplit(maxsplit=1)[0].strip(), seconds
    return rest.strip(), DEFAULT_WAIT_SECONDS


def find_user(name: str) -> ConsoleUser | None:
    wanted = name.strip().lstrip("@").lower()
    return next(
        (user for user in USERS if wanted in (user.name, user.user_id.lower())),
        None,
    )
