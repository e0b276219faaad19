"""Fuzzing the pkt-line reader (hypothesis): on any input it returns packets, raises EOFError at a
clean end or ProtocolError, and nothing else; it always terminates; what the writer writes the
reader reads back, also through a pipe that hands over one byte at a time."""

from __future__ import annotations

import io

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gitdata.git.pktline import MAX_DATA, PktReader, PktWriter, ProtocolError

pkt_data = st.binary(min_size=1, max_size=300) | st.integers(MAX_DATA - 2, MAX_DATA).map(
    lambda n: bytes(range(256)) * (n // 256) + b"x" * (n % 256)
)


def framed(lists: list[list[bytes]]) -> bytes:
    out = io.BytesIO()
    w = PktWriter(out)
    for items in lists:
        for item in items:
            w.write_pkt(item)
        w.write_flush()
    return out.getvalue()


class Trickle(io.RawIOBase):
    """A pipe at its slowest: every read returns at most `step` bytes."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = min(len(b), self._step, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def drive(reader: PktReader, total: int) -> None:
    """Read everything the way the filter server does (lists and content), until the end."""
    for _ in range(total + 1):  # every round consumes at least 4 bytes, or ends
        try:
            reader.read_text_list()
            c = reader.content()
            buf = bytearray(7)
            while c.readinto(buf):
                pass
        except (EOFError, ProtocolError):
            return
    raise AssertionError("the reader did not terminate")


hex_headers = st.text(alphabet="0123456789abcdefABCDEF", min_size=4, max_size=4).map(str.encode)
pktish = st.lists(
    st.one_of(
        st.binary(max_size=12),
        hex_headers,
        st.builds(lambda d: b"%04x" % (len(d) + 4) + d, st.binary(max_size=20)),
        st.just(b"0000"),
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=1000)
@given(st.binary(max_size=200) | pktish)
@example(b"0004")
@example(b"0001")
@example(b"ffff")
@example(b"000")
@example(b"0005a")
@example(b"0006a")
@example(b"00080000")
def test_any_input_ends_in_packets_eof_or_protocol_error(raw):
    drive(PktReader(io.BytesIO(raw)), len(raw))
    drive(PktReader(io.BufferedReader(Trickle(raw))), len(raw))


@settings(max_examples=300)
@given(st.lists(st.lists(pkt_data, max_size=4), max_size=4), st.integers(1, 5))
def test_lists_round_trip_through_a_slow_pipe(lists, step):
    raw = framed(lists)
    step = max(step, len(raw) // 2000)  # one byte at a time, but not 200,000 reads
    for stream in (io.BytesIO(raw), io.BufferedReader(Trickle(raw, step))):
        r = PktReader(stream)  # type: ignore[arg-type]
        got = []
        while True:
            try:
                items = []
                while (p := r.read_pkt()) is not None:
                    items.append(p)
                got.append(items)
            except EOFError:
                break
        assert got == lists


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3 * MAX_DATA + 10), st.integers(1, 4), st.integers(1, 70_000))
def test_content_round_trips(body, chunk_pkts, bufsize):
    out = io.BytesIO()
    w = PktWriter(out, chunk_pkts=chunk_pkts)
    assert w.write_stream(io.BytesIO(body)) == len(body)
    w.write_flush()
    w.write_text(b"next")
    r = PktReader(io.BufferedReader(Trickle(out.getvalue(), 4096)))  # type: ignore[arg-type]
    c = r.content()
    buf = bytearray(bufsize)
    got = bytearray()
    while n := c.readinto(buf):
        got += buf[:n]
    assert bytes(got) == body and c.size == len(body)
    assert r.read_pkt() == b"next\n"


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=3 * 300), st.integers(0, 2000))
def test_truncated_content_is_a_protocol_error(body, cut):
    """Content cut anywhere before its flush: ProtocolError, never EOFError (that would look
    like a clean end to the server)."""
    out = io.BytesIO()
    PktWriter(out).write_data(body)
    raw = out.getvalue()
    raw = raw[: cut % len(raw)]
    c = PktReader(io.BytesIO(raw)).content()
    try:
        c.read()
    except ProtocolError:
        return
    raise AssertionError("a truncated content stream was read without an error")
