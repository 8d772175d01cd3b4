"""The Atlassian client reads JSON with orjson where it can, with the standard library's values."""

from __future__ import annotations

import json

import pytest

from bot.atlassian import client


@pytest.mark.parametrize(
    "text",
    [
        '{"values": [{"id": "b-1", "status": "IN_PROGRESS", "size": 12}], "totalItems": 1}',
        '{"odd": NaN, "inf": Infinity}',
        '["caf\\u00e9", 1.5, true, null]',
    ],
)
def test_loads_gives_the_standard_librarys_values(text: str) -> None:
    expected = json.loads(text)
    got = client._loads(text)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_loads_uses_orjson_where_the_speed_extra_is_installed() -> None:
    # The dev extra installs orjson, so the tests read JSON the way the bot does.
    assert client._loads is not client._stdlib_loads


def test_an_integer_beyond_64_bits_reads_as_the_nearest_float() -> None:
    assert client._loads('{"big": 123456789012345678901234567890}') == {
        "big": 1.2345678901234568e29
    }


def test_loads_refuses_what_is_not_json() -> None:
    with pytest.raises(ValueError, match="Expecting value"):
        client._loads("<html>busy</html>")
