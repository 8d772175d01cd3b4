"""Slack messages, modals and Home tabs as terminal text: pure functions, no I/O.

Slack's mrkdwn becomes styled ``rich`` text a person can read (``<@U1>`` as @alice, a
``<!date^…|fallback>`` as its fallback, a link as its label and URL), and every block becomes
lines of a panel. Each button, select or input gets a number, so a person can click or choose
by typing it; ``ControlNumbers`` keeps a control's number while it stays on the screen, so a
card edited by the bot does not renumber the buttons the person is looking at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rich.console import Group
from rich.panel import Panel
from rich.text import Text

JsonDict = dict[str, Any]
SurfaceKey = tuple[str, ...]
#: Turns a Slack user or channel id into the name a person knows it by.
NameLookup = Callable[[str], str]

EMOJI: Final[Mapping[str, str]] = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔",
    "x": "❌",
    "warning": "⚠️",
    "hourglass_flowing_sand": "⏳",
    "hourglass": "⌛",
    "raised_hand": "✋",
    "rocket": "🚀",
    "no_entry_sign": "🚫",
    "page_facing_up": "📄",
    "arrows_counterclockwise": "🔄",
    "wastebasket": "🗑",
    "grey_question": "❔",
    "lock": "🔒",
    "information_source": "ℹ️",
    "bell": "🔔",
    "alarm_clock": "⏰",
    "red_circle": "🔴",
    "calendar": "📅",
    "repeat": "🔁",
    "chart_with_downwards_trend": "📉",
    "sunrise": "🌅",
}

STYLE_BOLD: Final = "bold"
STYLE_ITALIC: Final = "italic"
STYLE_STRIKE: Final = "strike"
STYLE_CODE: Final = "bold cyan"
STYLE_MENTION: Final = "bold blue"
STYLE_LINK: Final = "underline blue"
STYLE_CONTEXT: Final = "dim"
BUTTON_STYLES: Final[Mapping[str | None, str]] = {
    "primary": "bold white on green",
    "danger": "bold white on red",
    None: "bold black on grey85",
}

_INLINE: Final = re.compile(
    r"```(?P<block>.+?)```"
    r"|`(?P<code>[^`\n]+)`"
    r"|<(?P<angle>[^<>\n]+)>"
    r"|(?<![\w*])\*(?P<bold>(?=\S)[^*\n]+?(?<=\S))\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>(?=\S)[^_\n]+?(?<=\S))_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>(?=\S)[^~\n]+?(?<=\S))~(?![\w~])"
    r"|:(?P<emoji>[a-z0-9_+\-]+):",
    re.DOTALL,
)

_SELECT_TYPES: Final = frozenset({"static_select", "external_select", "radio_buttons", "overflow"})
_MULTI_TYPES: Final = frozenset({"multi_static_select", "checkboxes"})


def unescape(text: str) -> str:
    """Undo Slack's three escapes; ``&amp;`` last so ``&amp;lt;`` stays ``&lt;``."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain_names(identifier: str) -> str:
    return identifier


@dataclass(frozen=True)
class Names:
    """How ids in mrkdwn are shown: user and channel ids to the names people know."""

    user: NameLookup = _plain_names
    channel: NameLookup = _plain_names


def _angle(token: str, names: Names) -> tuple[str, str | None]:
    """What a ``<…>`` token shows, and its style."""
    target, _, label = token.partition("|")
    if target.startswith("@"):
        return "@" + (label or names.user(target[1:])), STYLE_MENTION
    if target.startswith("#"):
        return "#" + (label or names.channel(target[1:])), STYLE_MENTION
    if target.startswith("!date^"):
        # The fallback is what clients that cannot localise show; a terminal is one of them.
        return unescape(label) if label else target.split("^")[1], None
    if target.startswith("!subteam^"):
        return unescape(label) if label else "@team", STYLE_MENTION
    if target.startswith("!"):
        return "@" + (label or target[1:]), STYLE_MENTION
    url = unescape(target)
    shown_url = url.removeprefix("mailto:")
    if label and unescape(label) != shown_url:
        return f"{unescape(label)} ({shown_url})", STYLE_LINK
    return shown_url, STYLE_LINK


def _append_inline(out: Text, text: str, style: str, names: Names) -> None:
    position = 0
    for match in _INLINE.finditer(text):
        if match.start() > position:
            out.append(unescape(text[position : match.start()]), style=style or None)
        position = match.end()
        kind = match.lastgroup
        value = match.group(kind or 0)
        if kind in ("block", "code"):
            out.append(unescape(value.strip("\n")), style=_join(style, STYLE_CODE))
        elif kind == "angle":
            shown, token_style = _angle(value, names)
            out.append(shown, style=_join(style, token_style))
        elif kind == "bold":
            _append_inline(out, value, _join(style, STYLE_BOLD), names)
        elif kind == "italic":
            _append_inline(out, value, _join(style, STYLE_ITALIC), names)
        elif kind == "strike":
            _append_inline(out, value, _join(style, STYLE_STRIKE), names)
        else:
            out.append(EMOJI.get(value, match.group(0)), style=style or None)
    if position < len(text):
        out.append(unescape(text[position:]), style=style or None)


def _join(outer: str, inner: str | None) -> str:
    return " ".join(part for part in (outer, inner) if part)


def mrkdwn(text: str, names: Names | None = None, *, style: str = "") -> Text:
    """Slack mrkdwn as styled text: mentions by name, dates by fallback, links with URLs."""
    out = Text()
    _append_inline(out, text, style, names or Names())
    return out


def mrkdwn_plain(text: str, names: Names | None = None) -> str:
    """The same as ``mrkdwn`` without the styles."""
    return mrkdwn(text, names).plain


def text_object(value: object, names: Names, *, style: str = "") -> Text:
    """A Block Kit text object (plain_text or mrkdwn) as styled text."""
    if not isinstance(value, dict):
        return Text(str(value or ""), style=style)
    raw = str(value.get("text") or "")
    if value.get("type") == "mrkdwn":
        return mrkdwn(raw, names, style=style)
    shown = re.sub(r":([a-z0-9_+\-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), raw)
    return Text(shown, style=style)


# -- controls and their numbers ------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    text: str
    value: str


@dataclass(frozen=True)
class Control:
    """Something on the screen a person can click or fill in, under a number."""

    number: int
    surface: SurfaceKey
    kind: str
    label: str
    block_id: str
    action_id: str
    value: str | None = None
    options: tuple[Option, ...] = ()
    confirm: str | None = None

    @property
    def is_button(self) -> bool:
        return self.kind == "button"

    @property
    def takes_many(self) -> bool:
        return self.kind in _MULTI_TYPES

    @property
    def is_choice(self) -> bool:
        return self.kind in _SELECT_TYPES or self.kind in _MULTI_TYPES


class ControlNumbers:
    """Numbers for the controls on screen, stable while a control stays on its surface."""

    def __init__(self) -> None:
        self._next = 1
        self._numbers: dict[tuple[SurfaceKey, str, str, str], int] = {}
        self._controls: dict[int, Control] = {}

    def number(self, surface: SurfaceKey, block_id: str, action_id: str, value: str) -> int:
        key = (surface, block_id, action_id, value)
        if key not in self._numbers:
            self._numbers[key] = self._next
            self._next += 1
        return self._numbers[key]

    def show(self, surface: SurfaceKey, controls: Iterable[Control]) -> None:
        """The surface now shows exactly ``controls``; its other numbers stop working."""
        shown = {control.number: control for control in controls}
        for key, number in list(self._numbers.items()):
            if key[0] == surface and number not in shown:
                del self._numbers[key]
                self._controls.pop(number, None)
        self._controls.update(shown)

    def forget(self, surface: SurfaceKey) -> None:
        """The surface is gone (a closed modal, a deleted message)."""
        self.show(surface, ())

    def get(self, number: int) -> Control | None:
        return self._controls.get(number)

    def all(self) -> list[Control]:
        return [self._controls[number] for number in sorted(self._controls)]


# -- blocks ---------------------------------------------------------------------------------


@dataclass
class RenderedSurface:
    """A surface as terminal text: the panel to print, its plain text and its controls."""

    panel: Panel
    plain: str
    controls: list[Control] = field(default_factory=list)


@dataclass
class _Builder:
    surface: SurfaceKey
    names: Names
    numbers: ControlNumbers
    chosen: Mapping[tuple[str, str], str]
    errors: Mapping[str, str]
    lines: list[Text] = field(default_factory=list)
    controls: list[Control] = field(default_factory=list)

    def add(self, line: Text) -> None:
        self.lines.append(line)

    def control(self, block_id: str, element: JsonDict, label_hint: str = "") -> Text:
        """Number one interactive element and show it as a bracketed chip."""
        kind = str(element.get("type") or "")
        action_id = str(element.get("action_id") or "")
        value = str(element.get("value") or "")
        number = self.numbers.number(self.surface, block_id, action_id, value)
        options = tuple(_options(element))
        label = (
            text_object(element.get("text"), self.names).plain
            if kind == "button"
            else label_hint or text_object(element.get("placeholder"), self.names).plain or kind
        )
        confirm = element.get("confirm")
        confirm_text = None
        if isinstance(confirm, dict):
            confirm_text = text_object(confirm.get("text"), self.names).plain or "Are you sure?"
        self.controls.append(
            Control(
                number=number,
                surface=self.surface,
                kind=kind,
                label=label,
                block_id=block_id,
                action_id=action_id,
                value=value or None,
                options=options,
                confirm=confirm_text,
            )
        )
        chip = Text()
        if kind == "button":
            style = BUTTON_STYLES.get(element.get("style"), BUTTON_STYLES[None])
            chip.append(f"[{number}] ", style="bold")
            chip.append(f" {label} ", style=style)
            if confirm_text:
                chip.append(" (asks to confirm)", style=STYLE_CONTEXT)
            return chip
        chip.append(f"[{number}] ", style="bold")
        picked = self.chosen.get((block_id, action_id)) or _initial_choice(element)
        if options:
            marker = "☐ " if kind in _MULTI_TYPES else "▾ "
            chip.append(marker + label, style="bold")
            listed = "  ".join(f"{index}) {option.text}" for index, option in enumerate(options, 1))
            chip.append(f"  {listed}", style=STYLE_CONTEXT)
        else:
            chip.append(f"✎ {label} ({kind.replace('_', ' ')})", style="bold")
        if picked:
            chip.append(f"  → {picked}", style="bold green")
        return chip


def _options(element: JsonDict) -> list[Option]:
    raw: list[JsonDict] = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        raw.extend(group.get("options") or [])
    return [Option(text=_option_text(item), value=str(item.get("value"))) for item in raw]


def _option_text(item: JsonDict) -> str:
    """An option's text with its description, as a select menu shows both."""
    text = text_object(item.get("text"), Names()).plain
    description = item.get("description")
    if isinstance(description, dict):
        text += f" ({text_object(description, Names()).plain})"
    return text


def _initial_choice(element: JsonDict) -> str:
    initial = element.get("initial_option")
    if isinstance(initial, dict):
        return text_object(initial.get("text"), Names()).plain
    many = element.get("initial_options")
    if isinstance(many, list) and many:
        return ", ".join(text_object(item.get("text"), Names()).plain for item in many)
    initial_value = element.get("initial_value")
    return str(initial_value) if initial_value else ""


def _field_line(field_object: JsonDict, names: Names) -> Text:
    """A section field ``*Label*\\nvalue`` reads best as ``Label: value`` on one line."""
    raw = str(field_object.get("text") or "")
    if field_object.get("type") == "mrkdwn":
        match = re.match(r"^\*([^*\n]+)\*\n(.*)$", raw, re.DOTALL)
        if match:
            line = Text(f"{unescape(match.group(1))}: ", style=STYLE_BOLD)
            line.append_text(mrkdwn(match.group(2).replace("\n", " "), names))
            return line
    return text_object(field_object, names)


def _render_block(block: JsonDict, builder: _Builder) -> None:
    kind = block.get("type")
    block_id = str(block.get("block_id") or "")
    names = builder.names
    if kind == "header":
        builder.add(text_object(block.get("text"), names, style="bold underline"))
    elif kind == "section":
        if block.get("text") is not None:
            shown = text_object(block.get("text"), names)
            shown.rstrip()
            builder.add(shown)
        for field_object in block.get("fields") or []:
            builder.add(Text("  ").append_text(_field_line(field_object, names)))
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            if accessory.get("type") == "image":
                builder.add(Text(f"[image: {accessory.get('alt_text', '')}]", style=STYLE_CONTEXT))
            elif accessory.get("action_id") is not None or accessory.get("type") == "button":
                label = text_object(block.get("text"), names).plain.strip()
                builder.add(Text("  ").append_text(builder.control(block_id, accessory, label)))
    elif kind == "context":
        parts = Text(style=STYLE_CONTEXT)
        for index, element in enumerate(block.get("elements") or []):
            if index:
                parts.append(" · ")
            if element.get("type") == "image":
                parts.append(f"[{element.get('alt_text', 'image')}]")
            else:
                parts.append_text(text_object(element, names, style=STYLE_CONTEXT))
        builder.add(parts)
    elif kind == "divider":
        builder.add(Text("─" * 40, style=STYLE_CONTEXT))
    elif kind == "actions":
        row = Text()
        for index, element in enumerate(block.get("elements") or []):
            if index:
                row.append("  ")
            row.append_text(builder.control(block_id, element))
        builder.add(row)
    elif kind == "input":
        label = text_object(block.get("label"), names).plain
        element = block.get("element")
        if isinstance(element, dict):
            optional = " (optional)" if block.get("optional") else ""
            builder.add(builder.control(block_id, element, label + optional))
        else:
            builder.add(Text(label, style=STYLE_BOLD))
        error = builder.errors.get(block_id)
        if error:
            builder.add(Text(f"  ⚠ {error}", style="bold red"))
    elif kind == "image":
        builder.add(Text(f"[image: {block.get('alt_text', '')}]", style=STYLE_CONTEXT))
    elif kind == "rich_text":
        builder.add(Text(_rich_text_plain(block)))
    else:
        builder.add(Text(f"[{kind} block]", style=STYLE_CONTEXT))


def _rich_text_plain(node: object) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text") or "")
        if node.get("type") == "link":
            return str(node.get("text") or node.get("url") or "")
        return "".join(_rich_text_plain(child) for child in node.get("elements") or [])
    if isinstance(node, list):
        return "".join(_rich_text_plain(child) for child in node)
    return ""


def render_surface(
    *,
    surface: SurfaceKey,
    title: str,
    blocks: Sequence[JsonDict],
    fallback_text: str = "",
    names: Names | None = None,
    numbers: ControlNumbers | None = None,
    chosen: Mapping[tuple[str, str], str] | None = None,
    errors: Mapping[str, str] | None = None,
    subtitle: str | None = None,
    border_style: str = "blue",
) -> RenderedSurface:
    """One message, modal or Home tab as a titled panel with numbered controls."""
    builder = _Builder(
        surface=surface,
        names=names or Names(),
        numbers=numbers or ControlNumbers(),
        chosen=chosen or {},
        errors=errors or {},
    )
    if blocks:
        for block in blocks:
            _render_block(block, builder)
    else:
        builder.add(mrkdwn(fallback_text, builder.names))
    panel = Panel(
        Group(*builder.lines),
        title=Text(title, style="bold"),
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        border_style=border_style,
        expand=True,
    )
    builder.numbers.show(surface, builder.controls)
    plain = "\n".join([title, *(line.plain for line in builder.lines)])
    return RenderedSurface(panel=panel, plain=plain, controls=builder.controls)
