"""JSON output off a terminal is written directly, with exactly the characters rich's print_json gives."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from cosell import cli

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def rich_text(data: Any) -> str:
    buffer = io.StringIO()
    Console(file=buffer, highlight=False, soft_wrap=True).print_json(json.dumps(data))
    return buffer.getvalue()


def assert_printed_as_rich_prints(data: Any) -> None:
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "out", Console(file=buffer, highlight=False, soft_wrap=True))
        cli.print_json(data)
    assert buffer.getvalue() == rich_text(data)


@given(JSON_VALUES)
def test_json_written_off_a_terminal_is_what_rich_prints(data: Any) -> None:
    assert_printed_as_rich_prints(data)


def test_a_report_with_names_in_any_script_and_control_characters_prints_the_same() -> None:
    data = {
        "partners": [{"name": "Zoë\x1b[2J Ltd ☃ \u0085 \u2028", "earnings": "1,234.50"}],
        "changes": [],
        "x": {},
    }
    assert_printed_as_rich_prints(data)


def test_an_integer_beyond_64_bits_and_a_lone_surrogate_print_as_the_standard_library_writes_them() -> None:
    data = {"big": 2**70, "small": -(2**64), "text": "half \ud800 pair"}
    assert cli.indented_json(data) == json.dumps(data, indent=2, ensure_ascii=False)


@given(JSON_VALUES)
def test_indented_json_is_the_standard_librarys_indented_text(data: Any) -> None:
    assert cli.indented_json(data) == json.dumps(data, indent=2, ensure_ascii=False)
