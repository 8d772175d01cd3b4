"""Reading the service's JSON into the models of ``bot.atlassian.models``, tolerantly.

The shapes Atlassian answers in are partly undocumented and differ between versions, so
every payload goes through the same reading: an object may come bare or inside an envelope
named after it, a list under its documented key, ``results`` or ``values``, or bare. Fields
the models do not know are kept on them, and each unfamiliar shape is logged once at debug
level, with secrets removed, so the assumed shapes can be corrected from real traffic. A
payload that cannot be read is an ``UnexpectedResponse`` naming the field that failed.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TypeVar, get_args

from pydantic import BaseModel, ValidationError

from bot.atlassian.listing import ListMemo
from bot.atlassian.models import ApiModel, Backup
from bot.atlassian.responses import Reply
from bot.redaction import redact

# Unfamiliar shapes are part of the client's debug log: operators turn that one logger up to
# see what the service really sends.
logger = logging.getLogger("bot.atlassian.client")

_ModelT = TypeVar("_ModelT", bound=ApiModel)


class ShapeLog:
    """Logs each unfamiliar response shape once, so real traffic can correct the assumptions."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, tuple[str, ...]]] = set()

    def note(self, where: str, keys: Iterable[str], sample: object) -> None:
        signature = (where, tuple(sorted(keys)))
        if signature in self._seen:
            return
        self._seen.add(signature)
        text = json.dumps(sample, default=str, sort_keys=True)
        logger.debug(
            "Unfamiliar shape in %s: %s; sample: %s",
            where,
            ", ".join(signature[1]) or "(none)",
            redact(text[:500]),
        )


class ModelReader:
    """Reads payloads into models, noting unfamiliar shapes in ``shapes``.

    Each backup read is given ``retention``, the retention of the API version that answered.
    """

    def __init__(self, shapes: ShapeLog, retention: timedelta) -> None:
        self.shapes = shapes
        self.retention = retention

    def parse(self, model: type[_ModelT], data: object, reply: Reply) -> _ModelT:
        if not isinstance(data, Mapping):
            raise reply.unexpected(f"Expected a {model.__name__} object")
        try:
            parsed = model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or model.__name__
            raise reply.unexpected(
                f"A {model.__name__} could not be read ({where}: {first['msg']})"
            ) from None
        self._note_unknown_fields(parsed)
        if isinstance(parsed, Backup):
            parsed.kept_for(self.retention)
        return parsed

    def _note_unknown_fields(self, model: BaseModel) -> None:
        extra = model.model_extra or {}
        if extra:
            self.shapes.note(type(model).__name__, extra.keys(), extra)
        for name in _nested_model_fields(type(model)):
            value = getattr(model, name)
            nested = value if isinstance(value, list) else [value]
            for item in nested:
                if isinstance(item, BaseModel):
                    self._note_unknown_fields(item)

    def one(self, model: type[_ModelT], reply: Reply, id_key: str, wrapper: str) -> _ModelT:
        data = reply.data
        if isinstance(data, Mapping) and id_key not in data:
            inner = data.get(wrapper)
            if isinstance(inner, Mapping) and id_key in inner:
                self.shapes.note(f"{model.__name__} envelope", data.keys(), list(data.keys()))
                data = inner
        return self.parse(model, data, reply)

    def many(self, model: type[_ModelT], reply: Reply, key: str) -> list[_ModelT]:
        raw, _ = self.items(reply, key)
        return [self.parse(model, item, reply) for item in raw]

    def parse_page(
        self,
        model: type[_ModelT],
        raw: list[object],
        reply: Reply,
        memo: tuple[ListMemo[_ModelT] | None, str],
    ) -> list[_ModelT]:
        known, id_key = memo
        if known is None:
            return [self.parse(model, item, reply) for item in raw]
        page: list[_ModelT] = []
        for item in raw:
            item_id = item.get(id_key) if isinstance(item, Mapping) else None
            parsed = known.reuse(item_id, item)
            if parsed is None:
                parsed = self.parse(model, item, reply)
                known.keep(item_id, item, parsed)
            page.append(parsed)
        return page

    def items(self, reply: Reply, key: str) -> tuple[list[object], int | None]:
        data = reply.data
        if isinstance(data, list):
            self.shapes.note(f"{key} list", ["<bare list>"], data[:1])
            return data, None
        if not isinstance(data, Mapping):
            raise reply.unexpected(f"Expected a list of {key}")
        for candidate in (key, "results", "values"):
            items = data.get(candidate)
            if isinstance(items, list):
                break
        else:
            raise reply.unexpected(f"The answer holds no list of {key}")
        unknown = set(data) - {key, "totalItems"}
        if unknown:
            self.shapes.note(f"{key} list", unknown, {k: data[k] for k in unknown})
        total = data.get("totalItems", data.get("total"))
        if isinstance(total, bool) or not isinstance(total, int | str):
            return items, None
        try:
            return items, int(total)
        except ValueError:
            return items, None


@functools.cache
def _nested_model_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` whose values may be models themselves (or lists of them).

    Unknown fields are looked for in every item of every list, every cycle: walking only
    the fields that can nest spares reading each plain field of thousands of items.
    """
    return tuple(
        name for name, field in model.model_fields.items() if _may_hold_model(field.annotation)
    )


def _may_hold_model(annotation: object) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_may_hold_model(argument) for argument in get_args(annotation))


__all__ = ["ModelReader", "ShapeLog"]
