from __future__ import annotations

import io

import pytest

from gitdata.git.pktline import MAX_DATA, PktReader, PktWriter, ProtocolError


def pkt(data: bytes) -> bytes:
    return b"%04x" % (len(data) + 4) + data


def test_text_list_and_flush():
    r = PktReader(io.BytesIO(pkt(b"a=1\n") + pkt(b"b") + b"0000"))
    assert r.read_text_list() == [b"a=1", b"b"]
    with pytest.raises(EOFError):
        r.read_pkt()


def test_content_reader_spans_packets_and_stops_at_flush():
    body = bytes(range(256)) * 700  # more than two packets
    w_out = io.BytesIO()
    w = PktWriter(w_out)
    w.write_data(body)
    w.write_flush()
    w.write_text(b"after")
    r = PktReader(io.BytesIO(w_out.getvalue()))
    c = r.content()
    buf = bytearray(1000)
    got = bytearray()
    while True:
        n = c.readinto(buf)
        if not n:
            break
        got += buf[:n]
    assert bytes(got) == body and c.done and c.size == len(body)
    assert r.read_pkt() == b"after\n"


def test_write_stream_packets_are_full_and_ordered():
    body = b"x" * (MAX_DATA * 20 + 17)
    out = io.BytesIO()
    n = PktWriter(out, chunk_pkts=3).write_stream(io.BytesIO(body))
    assert n == len(body)
    r = PktReader(io.BytesIO(out.getvalue() + b"0000"))
    assert r.content().read() == body


@pytest.mark.parametrize(
    "raw",
    [b"00", b"zzzz", b"0003", b"0002", b"fff0" + b"x" * 10, b"000aab", b"ffff"],
)
def test_malformed_framing(raw):
    r = PktReader(io.BytesIO(raw))
    with pytest.raises(ProtocolError):
        r.read_pkt()


def test_empty_packet_data_rejected_by_writer():
    with pytest.raises(ValueError):
        PktWriter(io.BytesIO()).write_pkt(b"")
