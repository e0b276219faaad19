"""Manifests (docs/chunked-store.md 3.4): round trips of every table, canonical bytes whatever
the order of the input, outputs that add up; the encoder refuses what the decoder would."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitdata.storage.chunked.format.common import (
    CHUNK_MAX,
    FRAME_MIN,
    MANIFEST_HEADER,
    PACK_MAX,
    blake3_256,
)
from gitdata.storage.chunked.format.manifest import (
    KeyChunk,
    Manifest,
    Record,
    Term,
    decode_manifest,
    encode_manifest,
    manifest_id,
)

PACKS = [bytes([i]) * 32 for i in range(1, 6)]
OIDS = [bytes([i]) * 16 for i in range(1, 6)]


@st.composite
def pack_terms(draw, base_only=False):
    offset = draw(st.integers(32, PACK_MAX - FRAME_MIN))
    length = draw(st.integers(FRAME_MIN, PACK_MAX - offset))
    output = 0 if base_only else draw(st.integers(1, (length // FRAME_MIN) * CHUNK_MAX))
    return Term(False, draw(st.sampled_from(PACKS)), offset, length, output, base_only)


@st.composite
def whole_terms(draw):
    offset = draw(st.integers(0, 1 << 40))
    length = draw(st.integers(1, 1 << 40))
    return Term(True, draw(st.sampled_from(OIDS)), offset, length, length)


@st.composite
def records(draw):
    outputs = draw(st.lists(st.one_of(pack_terms(), whole_terms()), max_size=6))
    bases = draw(st.lists(pack_terms(base_only=True), max_size=2))
    oid = draw(st.binary(min_size=16, max_size=16))
    return Record(oid, sum(t.output for t in outputs), tuple(outputs + bases))


key_chunks = st.builds(
    KeyChunk,
    st.binary(min_size=32, max_size=32),
    st.sampled_from(PACKS),
    st.integers(32, PACK_MAX - 1),
)
manifests = st.tuples(
    st.lists(records(), max_size=8, unique_by=lambda r: r.oid),
    st.lists(st.sampled_from(PACKS), max_size=3),
    st.lists(st.sampled_from(OIDS), max_size=3),
    st.lists(key_chunks, max_size=6),
    st.booleans(),
)


@settings(max_examples=200)
@given(manifests, st.randoms(use_true_random=False))
def test_round_trip(m, rnd):
    recs, packs, wholes, keys, gc = m
    data = encode_manifest(recs, packs=packs, wholes=wholes, key_chunks=keys, gc=gc)
    got = decode_manifest(data, name=manifest_id(data).hex())
    assert got.records == tuple(sorted(recs))
    names = {t.source for r in recs for t in r.terms}
    assert set(got.packs) == (set(packs) | {k.pack for k in keys} | names) - set(OIDS)
    assert set(got.wholes) == (set(wholes) | names) - set(PACKS)
    assert list(got.packs) == sorted(got.packs) and list(got.wholes) == sorted(got.wholes)
    assert sorted(got.key_chunks) == sorted(set(keys))
    assert got.gc == gc
    for r in got.records:
        assert sum(t.output for t in r.terms) == r.size
    # a function of its contents: the same bytes whatever the order it was given in
    for seq in (recs, packs, wholes, keys):
        rnd.shuffle(seq)
    assert encode_manifest(recs, packs=packs, wholes=wholes, key_chunks=keys, gc=gc) == data
    # and what it decodes to encodes back to it
    assert encode_decoded(got) == data


def encode_decoded(m: Manifest) -> bytes:
    return encode_manifest(
        m.records, packs=m.packs, wholes=m.wholes, key_chunks=m.key_chunks, gc=m.gc
    )


def test_layout():
    p, oid, whole = PACKS[0], OIDS[1], OIDS[2]
    rec = Record(
        oid,
        300,
        (
            Term(True, whole, 0, 100, 100),
            Term(False, p, 32, 145, 200),
            Term(False, p, 177, 60, 0, base_only=True),
        ),
    )
    key = KeyChunk(b"\7" * 32, p, 32)
    data = encode_manifest([rec], key_chunks=[key], gc=True)
    le = lambda b: int.from_bytes(b, "little")  # noqa: E731
    assert data[:8] == b"GDMANIF\n" and le(data[8:10]) == 1 and le(data[10:12]) == 1
    assert [le(data[i : i + 4]) for i in range(12, 32, 4)] == [1, 1, 1, 1, 0]
    assert data[32:64] == p and data[64:80] == whole
    head = data[80:112]
    assert head[:16] == oid and le(head[16:24]) == 300 and le(head[24:28]) == 3
    assert head[28:32] == bytes(4)
    t0, t1, t2 = (data[112 + 32 * i : 144 + 32 * i] for i in range(3))
    assert le(t0[:4]) == 1 << 31 and le(t0[4:8]) == 0 and le(t0[24:32]) == 100
    assert le(t1[:4]) == 0 and (le(t1[8:16]), le(t1[16:24]), le(t1[24:32])) == (32, 145, 200)
    assert le(t2[4:8]) == 1 and le(t2[24:32]) == 0
    k = data[208:]
    assert len(k) == 48 and k[:32] == b"\7" * 32 and le(k[32:36]) == 0 and le(k[40:48]) == 32
    assert manifest_id(data) == blake3_256(data)


def test_empty_manifest():
    data = encode_manifest([])
    assert len(data) == MANIFEST_HEADER.size
    assert decode_manifest(data) == Manifest((), (), (), ())


def test_zero_size_record():
    rec = Record(OIDS[0], 0, ())
    assert decode_manifest(encode_manifest([rec])).records == (rec,)


P, W = PACKS[0], OIDS[0]


@pytest.mark.parametrize(
    "rec",
    [
        Record(W, 10, (Term(True, W, 0, 10, 9),)),  # a whole range outputs its length
        Record(W, 10, (Term(True, W, 0, 5, 5),)),  # outputs do not add up
        Record(W, 0, (Term(True, W, 0, 0, 0),)),  # empty range
        Record(W, 5, (Term(True, W, 0, 5, 5, base_only=True),)),
        Record(W, 5, (Term(False, P, 32, 100, 0, base_only=True), Term(True, W, 0, 5, 5))),
        Record(W, 5, (Term(False, P, 32, 100, 5, base_only=True),)),
        Record(W, 5, (Term(False, P, 31, 100, 5),)),  # inside the pack header
        Record(W, 5, (Term(False, P, 32, FRAME_MIN - 1, 5),)),  # shorter than a frame
        Record(W, 5, (Term(False, P, PACK_MAX - 100, 101, 5),)),  # past a pack's end
        Record(W, CHUNK_MAX + 1, (Term(False, P, 32, FRAME_MIN, CHUNK_MAX + 1),)),
        Record(W, 0, (Term(False, P, 32, 100, 0),)),  # an output term that outputs nothing
        Record(W[:15], 0, ()),
        Record(W, -1, ()),
        Record(W, 1 << 64, (Term(True, W, 0, 1 << 64, 1 << 64),)),
        Record(W, 5, (Term(True, P, 0, 5, 5),)),  # a pack id as a whole object's oid
    ],
)
def test_encoder_refuses_invalid_records(rec):
    with pytest.raises(ValueError):
        encode_manifest([rec])


def test_encoder_refuses_two_records_for_one_oid():
    with pytest.raises(ValueError):
        encode_manifest([Record(W, 0, ()), Record(W, 5, (Term(True, W, 0, 5, 5),))])
    with pytest.raises(ValueError):
        encode_manifest([], key_chunks=[KeyChunk(bytes(32), P, 31)])


def test_name_is_checked():
    data = encode_manifest([Record(W, 0, ())])
    decode_manifest(data, name=manifest_id(data).hex())
    with pytest.raises(Exception, match="do not hash to its name") as e:
        decode_manifest(data, name="00" * 32)
    assert "corrupt manifest " + "00" * 32 in str(e.value)


def test_many_records_stay_sorted():
    rnd = random.Random(5)
    recs = [Record(rnd.randbytes(16), 0, ()) for _ in range(500)]
    got = decode_manifest(encode_manifest(recs)).records
    assert [r.oid for r in got] == sorted(r.oid for r in recs)
