"""What one person sees in the stand-in Slack, printed as panels whenever it changes.

``Screen.refresh`` compares the stand-in Slack's state (channel messages, ephemerals, open
modals, Home tabs) with what was printed last and prints each new surface, and each changed
one marked "updated", so a card the tracker edits shows up again with its new content. All
printed text is also kept as plain text in a transcript, which scripts search with
``expect`` and ``wait``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from rich.console import Console, RenderableType
from rich.text import Text

from bot.console.render import Control, ControlNumbers, JsonDict, Names, SurfaceKey, render_surface
from bot.localslack import Ephemeral, Message, OpenView, SlackWebApi
from bot.messages import console as console_words

Surface = Message | Ephemeral | OpenView

BORDER_NEW: Final = "blue"
BORDER_UPDATED: Final = "yellow"
BORDER_PRIVATE: Final = "grey50"
BORDER_MODAL: Final = "magenta"
BORDER_HOME: Final = "green"


def message_key(message: Message) -> SurfaceKey:
    return ("message", message.channel, message.ts)


def ephemeral_key(ephemeral: Ephemeral) -> SurfaceKey:
    return ("ephemeral", ephemeral.message_ts)


def view_key(view: OpenView) -> SurfaceKey:
    return ("home", view.user) if view.type == "home" else ("view", view.id)


@dataclass(frozen=True)
class _Seen:
    version: object
    order: int
    shown: bool = True


def _normalise(text: str) -> str:
    return " ".join(text.split())


class Screen:
    """The stand-in Slack as seen by ``viewer``, printed to a rich console."""

    def __init__(self, slack: SlackWebApi, out: Console, viewer: str) -> None:
        self.slack = slack
        self.out = out
        self.viewer = viewer
        self.names = Names(user=slack.user_name, channel=slack.channel_name)
        self.numbers = ControlNumbers()
        self._seen: dict[SurfaceKey, _Seen] = {}
        self._order = 0
        self._transcript: list[str] = []
        #: What the person picked in each open modal, to show beside its selects.
        self.chosen: dict[str, dict[tuple[str, str], str]] = {}
        self.errors: dict[str, dict[str, str]] = {}
        #: True while a prompt waits on the current line; the next print starts a new one.
        self.prompt_showing = False

    def _emit(self, renderable: RenderableType) -> None:
        if self.prompt_showing:
            # Start below the prompt line the person has not answered yet.
            self.out.print()
            self.prompt_showing = False
        self.out.print(renderable)

    # -- transcript ---------------------------------------------------------------------

    def mark(self) -> int:
        """A position in the transcript; ``text_since`` returns what was printed after it."""
        return len(self._transcript)

    def text_since(self, mark: int) -> str:
        return "\n".join(self._transcript[mark:])

    def contains_since(self, mark: int, text: str) -> bool:
        """Whether ``text`` was printed after ``mark``, ignoring line breaks and spacing."""
        return _normalise(text) in _normalise(self.text_since(mark))

    def note(self, text: str, *, style: str = "cyan", record: bool = True) -> None:
        """A line from the console itself (not from the bot)."""
        self._emit(Text(text, style=style))
        if record:
            self._transcript.append(text)

    # -- what is on the screen ----------------------------------------------------------

    def visible(self, key: SurfaceKey) -> Surface | None:
        """The surface behind ``key`` as it stands now, if the viewer can see and use it."""
        kind = key[0]
        if kind == "message":
            return self.slack.message(key[1], key[2])
        if kind == "ephemeral":
            ephemeral = self.slack.ephemeral(key[1])
            return ephemeral if ephemeral is not None and ephemeral.user == self.viewer else None
        if kind == "home":
            home = self.slack.home(key[1])
            return home if home is not None and home.user == self.viewer else None
        view = self.slack.view(key[1])
        if view is None or view.user != self.viewer:
            return None
        covered = any(other.previous_view_id == view.id for other in self.slack.views.values())
        return None if covered else view

    def open_modal(self) -> OpenView | None:
        """The viewer's modal on top of its stack, if one is open."""
        for view in self.slack.views.values():
            found = self.visible(view_key(view))
            if isinstance(found, OpenView):
                return found
        return None

    def controls(self) -> Iterator[tuple[Control, Surface]]:
        """Every numbered control the viewer can use now, newest surface first."""
        live: list[tuple[int, Control, Surface]] = []
        for control in self.numbers.all():
            surface = self.visible(control.surface)
            seen = self._seen.get(control.surface)
            if surface is not None and seen is not None:
                live.append((seen.order, control, surface))
        live.sort(key=lambda item: (-item[0], item[1].number))
        for _, control, surface in live:
            yield control, surface

    def control(self, number: int) -> tuple[Control, Surface] | None:
        for control, surface in self.controls():
            if control.number == number:
                return control, surface
        return None

    # -- printing -----------------------------------------------------------------------

    def refresh(self) -> bool:
        """Print every surface that appeared or changed since the last refresh; True if any."""
        before = self.mark()
        for message in self.slack.messages():
            self._consider(message_key(message), len(message.edits), message)
        for ephemeral in self.slack.ephemerals():
            self._consider(ephemeral_key(ephemeral), len(ephemeral.replaced), ephemeral)
        open_views = {view_key(view): view for view in self.slack.views.values()}
        home = self.slack.home(self.viewer)
        if home is not None:
            open_views[view_key(home)] = home
        for key, view in open_views.items():
            self._consider(key, view.hash, view)
        for key in [key for key in self._seen if key[0] in ("view", "message")]:
            if key[0] == "view" and key not in open_views:
                self._gone(key, console_words.MODAL_CLOSED)
            elif key[0] == "message" and self.slack.message(key[1], key[2]) is None:
                self._gone(key, console_words.MESSAGE_DELETED)
        return self.mark() != before

    def redraw(self) -> None:
        """Print again every surface with controls the viewer can use, with their numbers."""
        shown: set[SurfaceKey] = set()
        for control, surface in sorted(self.controls(), key=lambda item: item[0].number):
            if control.surface not in shown:
                shown.add(control.surface)
                self._show(control.surface, surface, updated=False)
        modal = self.open_modal()
        if modal is not None and view_key(modal) not in shown:
            self._show(view_key(modal), modal, updated=False)
        if not shown and modal is None:
            self.note(console_words.NOTHING_TO_USE)

    def show_reply(self, title: str, body: JsonDict) -> None:
        """An acknowledgement's own answer (help, a refusal): only the sender sees it."""
        blocks = body.get("blocks")
        rendered = render_surface(
            surface=("reply", str(self.mark())),
            title=title,
            blocks=blocks if isinstance(blocks, list) else [],
            fallback_text=str(body.get("text") or ""),
            names=self.names,
            numbers=ControlNumbers(),
            subtitle=_now(),
            border_style=BORDER_PRIVATE,
        )
        self._emit(rendered.panel)
        self._transcript.append(rendered.plain)

    def _consider(self, key: SurfaceKey, version: object, surface: Surface) -> None:
        seen = self._seen.get(key)
        if seen is not None and seen.version == version:
            return
        if isinstance(surface, Ephemeral | OpenView) and surface.user != self.viewer:
            # Slack shows an ephemeral or a modal to one person only; the others never see it.
            self._seen[key] = _Seen(version, seen.order if seen else 0, shown=False)
            return
        self._order += 1
        self._seen[key] = _Seen(version, self._order)
        self._print(key, surface, updated=seen is not None)

    def _gone(self, key: SurfaceKey, sentence: str) -> None:
        seen = self._seen.pop(key)
        self.numbers.forget(key)
        if key[0] == "view":
            self.chosen.pop(key[1], None)
            self.errors.pop(key[1], None)
        if seen.shown:
            self.note(sentence, style="dim")

    def touch(self, key: SurfaceKey) -> None:
        """Print a surface again (a choice was made in it) and make it the newest."""
        surface = self.visible(key)
        if surface is not None:
            self._show(key, surface, updated=True)

    def _show(self, key: SurfaceKey, surface: Surface, *, updated: bool) -> None:
        self._order += 1
        seen = self._seen.get(key)
        self._seen[key] = _Seen(seen.version if seen else None, self._order)
        self._print(key, surface, updated=updated)

    def _print(self, key: SurfaceKey, surface: Surface, *, updated: bool) -> None:
        title, border, blocks, fallback = self._describe(surface)
        if updated:
            title += console_words.UPDATED_MARK
            border = BORDER_UPDATED if border == BORDER_NEW else border
        view_id = surface.id if isinstance(surface, OpenView) else ""
        rendered = render_surface(
            surface=key,
            title=title,
            blocks=blocks,
            fallback_text=fallback,
            names=self.names,
            numbers=self.numbers,
            chosen=self.chosen.get(view_id, {}),
            errors=self.errors.get(view_id, {}),
            subtitle=_now(),
            border_style=border,
        )
        self._emit(rendered.panel)
        self._transcript.append(rendered.plain)

    def _describe(self, surface: Surface) -> tuple[str, str, list[JsonDict], str]:
        viewer = self.slack.user_name(self.viewer)
        if isinstance(surface, Message):
            place = f"#{self.slack.channel_name(surface.channel)} · backup-bot"
            if surface.thread_ts and surface.thread_ts != surface.ts:
                parent = self.slack.message(surface.channel, surface.thread_ts)
                about = _short(parent.text) if parent is not None else "a message"
                place += f" · in the thread “{about}”"
            return place, BORDER_NEW, surface.blocks, surface.text
        if isinstance(surface, Ephemeral):
            place = f"#{self.slack.channel_name(surface.channel)} · only visible to you (@{viewer})"
            return place, BORDER_PRIVATE, surface.blocks, surface.text
        title_object = surface.view.get("title")
        title = str(title_object.get("text")) if isinstance(title_object, dict) else ""
        if surface.type == "home":
            return f"App Home of @{viewer}", BORDER_HOME, surface.blocks, ""
        submit = surface.view.get("submit")
        hint = " · type `submit` to send it" if isinstance(submit, dict) else ""
        return f"Modal: {title} (@{viewer}){hint}", BORDER_MODAL, surface.blocks, ""


def _short(text: str, limit: int = 30) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")
