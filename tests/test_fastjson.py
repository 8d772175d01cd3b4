"""JSON is read and written with orjson where installed, with the standard library's values."""

from __future__ import annotations

import json

import pytest

from bot import fastjson


@pytest.mark.parametrize(
    "text",
    [
        '{"values": [{"id": "b-1", "status": "IN_PROGRESS", "size": 12}], "totalItems": 1}',
        '{"odd": NaN, "inf": Infinity}',
        '["caf\\u00e9", 1.5, true, null, "\\ud83d\\ude00"]',
        '{"type": "block_actions", "actions": [{"action_id": "restore:start", "value": "s-1"}]}',
    ],
)
def test_loads_gives_the_standard_librarys_values(text: str) -> None:
    expected = json.loads(text)
    got = fastjson.loads(text)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize(
    "value",
    [
        {"prefix": "bot:", "now_epoch": 1764605000.123456, "expected": ["OPEN"], "café": "é"},
        {"big": 123456789012345678901234567890, "nan": float("nan")},
        {"nested": [{"a": None, "b": True}], "empty": {}},
    ],
)
def test_dumps_reads_back_as_the_standard_librarys_text_does(value: object) -> None:
    assert repr(json.loads(fastjson.dumps(value))) == repr(json.loads(json.dumps(value)))


def test_orjson_does_the_work_where_the_speed_extra_is_installed() -> None:
    # The dev extra installs orjson, so the tests read and write JSON the way the bot does.
    assert fastjson.loads is not fastjson._stdlib_loads
    assert fastjson.dumps is not fastjson._stdlib_dumps


def test_an_integer_beyond_64_bits_reads_as_the_nearest_float() -> None:
    assert fastjson.loads('{"big": 123456789012345678901234567890}') == {
        "big": 1.2345678901234568e29
    }


def test_loads_refuses_what_is_not_json() -> None:
    with pytest.raises(ValueError, match="Expecting value"):
        fastjson.loads("<html>busy</html>")
