"""Fuzzing the pointer parser and the oid checks (hypothesis): whatever bytes a blob holds, parse
never raises, accepts only the canonical three lines, and an oid it returns is a path under the
root and nowhere else."""

from __future__ import annotations

import os

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gitdata.layout import object_path
from gitdata.pointer import SIZE_CUTOFF, Pointer, is_oid, parse, parse_oid

ROOT = "/cache/objects"
HEX = "0123456789abcdef"
oids = st.text(alphabet=HEX, min_size=32, max_size=32)
sizes = st.integers(min_value=0, max_value=10**20 - 1)


def good(oid: str = "ab" * 16, size: int = 5) -> bytes:
    return Pointer(oid, size).encode()


def check_accepted(data: bytes) -> None:
    """Whatever parse accepts is exactly a canonical pointer, and its oid is a safe name."""
    p = parse(data)
    if p is None:
        return
    assert p.encode() == bytes(data)
    assert is_oid(p.oid) and p.size >= 0
    path = object_path(ROOT, p.oid)
    assert os.path.dirname(os.path.dirname(os.path.dirname(path))) == ROOT
    assert os.path.normpath(path) == path and "\0" not in path


@settings(max_examples=500)
@given(st.binary(max_size=SIZE_CUTOFF + 64))
@example(b"")
@example(good() + b"\0")
def test_arbitrary_bytes(data):
    check_accepted(data)


@settings(max_examples=500)
@given(oids, sizes)
def test_every_pointer_round_trips(oid, size):
    data = good(oid, size)
    assert parse(data) == Pointer(oid, size)
    assert parse(bytearray(data)) == parse(memoryview(data)) == Pointer(oid, size)


@settings(max_examples=1000)
@given(
    oids,
    sizes,
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=200), st.binary(max_size=4), st.booleans()),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_pointers_are_canonical_or_content(oid, size, edits):
    """Insert, replace or delete a few bytes anywhere in a valid pointer."""
    data = bytearray(good(oid, size))
    for pos, chunk, replace in edits:
        pos = pos % (len(data) + 1)
        data[pos : pos + (len(chunk) if replace else 0)] = chunk
    check_accepted(bytes(data))


hostile_oid_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=HEX + "ABCDEF./\\\0:xh128 \n", max_size=40),
    st.sampled_from(
        [
            "../" * 10 + "etc/passwd",
            "/" + "a" * 31,
            "a" * 31,
            "a" * 33,
            "A" * 32,
            "a" * 16 + "\0" + "a" * 15,
            "a" * 32 + "\n",
            "xxh128:" + "a" * 31,
            "sha256:" + "a" * 32,
            "..",
            "",
        ]
    ),
)


@settings(max_examples=800)
@given(hostile_oid_text)
def test_oid_text_is_refused_or_a_safe_name(text):
    for candidate in (text, "xxh128:" + text):
        try:
            oid = parse_oid(candidate)
        except ValueError:
            try:
                object_path(ROOT, candidate)
            except ValueError:
                continue
            raise AssertionError(f"object_path took {candidate!r}; parse_oid refused it") from None
        assert len(oid) == 32 and set(oid) <= set(HEX)
        assert object_path(ROOT, oid) == f"{ROOT}/{oid[:2]}/{oid[2:4]}/{oid}"
