"""Decision parameters are written with orjson where installed, reading back as json's do."""

from __future__ import annotations

import json

import pytest

from bot import fastjson


@pytest.mark.parametrize(
    "value",
    [
        {"prefix": "bot:", "now_epoch": 1764605000.123456, "expected": ["OPEN"], "café": "é"},
        {"big": 123456789012345678901234567890, "small": -9223372036854775809},
        {"nested": [{"a": None, "b": True, "c": 0.1 + 0.2}], "empty": {}, "emoji": "😀"},
    ],
)
def test_dumps_reads_back_as_the_standard_librarys_text_does(value: object) -> None:
    assert repr(json.loads(fastjson.dumps(value))) == repr(json.loads(json.dumps(value)))


def test_nan_and_the_infinities_which_json_lacks_are_written_as_null() -> None:
    assert json.loads(fastjson.dumps({"nan": float("nan"), "inf": -float("inf")})) == {
        "nan": None,
        "inf": None,
    }


def test_orjson_does_the_work_where_the_speed_extra_is_installed() -> None:
    # The dev extra installs orjson, so the tests write JSON the way the bot does.
    assert fastjson.dumps is not fastjson._stdlib_dumps
    assert fastjson.dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'
