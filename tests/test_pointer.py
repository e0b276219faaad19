from __future__ import annotations

import xxhash

from gitdata.pointer import SIZE_CUTOFF, Pointer, is_oid, parse, parse_oid

OID = xxhash.xxh3_128_hexdigest(b"hello")
GOOD = f"version gitdata/1\noid xxh128:{OID}\nsize 5\n".encode()


def test_round_trip_is_spec_bytes():
    p = parse(GOOD)
    assert p == Pointer(OID, 5)
    assert p.encode() == GOOD
    assert p.ref == f"xxh128:{OID}"


def test_size_zero_and_large():
    assert parse(GOOD.replace(b"size 5", b"size 0")).size == 0
    big = 50 * 10**9
    assert parse(GOOD.replace(b"size 5", b"size %d" % big)).size == big


def test_strict_rejections():
    bad = [
        GOOD.replace(OID.encode(), OID.upper().encode()),  # uppercase
        GOOD.replace(OID.encode(), OID[:31].encode()),  # 31 digits
        GOOD.replace(OID.encode(), (OID + "0").encode()),  # 33 digits
        GOOD.replace(OID.encode(), b"../../../../../../etc/passwd"),
        GOOD.replace(OID.encode(), b"../../x"),
        GOOD.replace(OID.encode(), b"/" + OID[1:].encode()),
        GOOD.replace(OID.encode(), OID[:16].encode() + b"\0" + OID[17:].encode()),
        GOOD.replace(b"xxh128", b"sha256"),
        GOOD.replace(b"size 5", b"size 05"),  # leading zero
        GOOD.replace(b"size 5", b"size -5"),
        GOOD.replace(b"size 5", b"size 5 "),
        GOOD.replace(b"\n", b"\r\n"),  # CRLF
        GOOD[:-1],  # no final newline
        GOOD + b"\n",  # trailing blank line
        GOOD + b"extra 1\n",
        b" " + GOOD,
        GOOD.replace(b"gitdata/1", b"gitdata/2"),
        GOOD.replace(b"version gitdata/1\n", b""),
        b"",
        GOOD + b"x" * SIZE_CUTOFF,  # too long to be a pointer
        "version gitdata/1\noid xxh128:" + "é" * 16 + "\nsize 5\n",
    ]
    for data in bad:
        if isinstance(data, str):
            data = data.encode()
        assert parse(data) is None, data


def test_oid_helpers():
    assert is_oid(OID)
    assert not is_oid(OID.upper())
    assert not is_oid("../" + OID[3:])
    assert parse_oid(f"xxh128:{OID}") == OID
    assert parse_oid(OID) == OID
    for bad in ("xxh128:../../x", "", "0" * 31, "g" * 32):
        try:
            parse_oid(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
