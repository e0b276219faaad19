"""FORMAT (docs/chunked-store.md 3.2): the exact text, its parser, and who may read or write."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitdata.storage.chunked.format.common import (
    CHUNKER_LINE,
    StoreFormat,
    UnsupportedStore,
    format_text,
    parse_format,
)

DOC = Path(__file__).resolve().parents[4] / "docs" / "chunked-store.md"


def doc_format_block() -> str:
    """The FORMAT file as the design document shows it."""
    text = DOC.read_text()
    section = text[text.index("### 3.2 FORMAT") :]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block
    return block.group(1)


def test_format_text_is_the_documents():
    assert format_text(legacy_objects=True).decode() == doc_format_block()
    assert format_text(legacy_objects=False) == format_text(True).replace(b"yes\n", b"no\n")


@pytest.mark.parametrize("legacy", [True, False])
def test_round_trip(legacy):
    f = parse_format(format_text(legacy))
    assert f == StoreFormat(1, 1, 1, CHUNKER_LINE, "blake3-256", legacy)
    f.check_readable()
    f.check_writable()


def test_unknown_lines_are_ignored():
    text = format_text(True) + b"packs-max 33554432\nsomething new here\n"
    assert parse_format(text) == parse_format(format_text(True))


def test_newer_readers_or_writers_needed():
    newer_readers = format_text(True).replace(b"readers-need 1", b"readers-need 2")
    with pytest.raises(UnsupportedStore, match="newer gitdata to read"):
        parse_format(newer_readers).check_readable()
    newer_writers = format_text(True).replace(b"writers-need 1", b"writers-need 2")
    parse_format(newer_writers).check_readable()
    with pytest.raises(UnsupportedStore, match="newer gitdata to push"):
        parse_format(newer_writers).check_writable()
    other_chunker = format_text(True).replace(b"avg=65536", b"avg=32768")
    parse_format(other_chunker).check_readable()  # reading needs no chunker
    with pytest.raises(UnsupportedStore):
        parse_format(other_chunker).check_writable()
    other_ids = format_text(True).replace(b"blake3-256", b"sha256")
    with pytest.raises(UnsupportedStore):
        parse_format(other_ids).check_readable()


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"\n",
        b"\xff\xfe",
        format_text(True)[:-1],  # no final newline
        format_text(True).replace(b"gitdata chunked store", b"gitdata chunked stor"),
        format_text(True).replace(b"format 1\n", b""),
        format_text(True).replace(b"format 1", b"format one"),
        format_text(True).replace(b"format 1", b"format 01"),
        format_text(True).replace(b"format 1", b"format 0"),
        format_text(True).replace(b"format 1", b"format -1"),
        format_text(True).replace(b"format 1", b"format \xd9\xa1"),  # an Arabic-Indic one
        format_text(True).replace(b"format 1", b"format 99999999999999999999"),
        format_text(True).replace(b"legacy-objects yes", b"legacy-objects maybe"),
        format_text(True) + b"format 1\n",
        format_text(True) + b"\n",
        format_text(True).replace(b"\n", b"\r\n"),
    ],
)
def test_refused(text):
    with pytest.raises(UnsupportedStore, match="FORMAT is unreadable"):
        parse_format(text)


def mutations(data: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.integers(0, len(data) - 1).map(lambda n: data[:n]),
        st.tuples(st.integers(0, len(data) * 8 - 1)).map(lambda t: bytearray_flip(data, t[0])),
        st.tuples(st.integers(0, len(data)), st.binary(max_size=20)).map(
            lambda t: data[: t[0]] + t[1] + data[t[0] :]
        ),
        st.binary(max_size=300),
    )


def bytearray_flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


@settings(max_examples=400)
@given(mutations(format_text(True)))
def test_any_bytes_parse_or_are_refused(data):
    try:
        f = parse_format(data)
    except UnsupportedStore:
        return
    assert isinstance(f, StoreFormat)
    try:
        f.check_writable()
    except UnsupportedStore:
        pass
