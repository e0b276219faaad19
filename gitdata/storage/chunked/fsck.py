"""`git data fsck --remote` over a store's chunked files (docs/chunked-store.md, 7.3).

A file is readable from the store when the reader would find its bytes: of its records (newest
manifest first, of the pointer's size), the first whose packs and whole objects all exist is
the one a read uses (a record that names a missing pack is passed over, as the reader does);
that record must then be right: each pack term whole frames of its pack (offsets from the
pack's index) adding up to the term's output. With none, the whole object, else the file is
missing. Costs: FORMAT, one LIST of the manifests (and a GET of each the local index lacks),
one LIST of `chunked/v1/packs/`, and two ranged GETs at most per pack a chosen record names
(the trailer with the end of the index, then the rest of a longer index). Pack indexes are
kept for the run only: the local index keeps one place per chunk and store, not every frame
of a pack, so it cannot say that it holds a pack's whole index.

With `full`, each pack the chosen records name is also read whole, streamed (never held in
memory): BLAKE3 of the file = its name, header, every frame against its index entry and
decoded against its chunk id (a delta frame with its base, read from the pack that holds it).
Whole objects are hashed by the service (fsck.py), which has the hash of pointers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from ...errors import ObjectMissing
from .. import Store
from .format.common import (
    ENC_DELTA,
    FRAME_HEADER,
    ID_SIZE,
    PACK_HEADER,
    TAIL_FETCH,
    TRAILER,
    CorruptPack,
    blake3_hasher,
)
from .format.manifest import Record
from .format.pack import (
    IndexEntry,
    decode_frame,
    index_from_tail,
    parse_frame_header,
    parse_index,
    parse_pack_header,
)
from .index import LocalIndex
from .manifests import StoreView
from .reader import pack_key

PACKS = "chunked/v1/packs/"
#: G, store gc's default grace period: a pack no record names and older than this is garbage
UNNAMED_AGE = 14 * 86400
READ_SIZE = 1 << 20


@dataclass
class Findings:
    """What fsck found for the files asked about (oids in hex)."""

    present: set[str] = field(default_factory=set)  # a read finds their bytes
    #: no whole object and no usable record: oid -> what is lacking ("" when nothing is there)
    missing: dict[str, str] = field(default_factory=dict)
    #: records a read would use that cannot be right: oid -> why
    bad: dict[str, str] = field(default_factory=dict)
    #: packs a read would use that are corrupt: pack id (hex) -> (why, the oids that need it)
    corrupt: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    #: whole objects a read would use: oid -> the files (oids) that need its bytes
    wholes: dict[str, set[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    packs_checked: int = 0  # pack indexes read
    packs_read: int = 0  # packs read whole (full)
    bytes_read: int = 0


@dataclass
class _Pack:
    size: int
    store_time: float
    starts: dict[int, IndexEntry] | None = None  # frame offset -> its index entry
    end: int = 0  # the index offset: where the frames end
    error: CorruptPack | None = None
    files: set[str] = field(default_factory=set)  # oids whose chosen record names it


class StoreCheck:
    def __init__(self, store: Store, index: LocalIndex) -> None:
        self.store = store
        self.view = StoreView(store, index)
        self.packs: dict[bytes, _Pack] = {}
        self.now: float | None = None  # the store time of the packs' listing
        self._bases: dict[bytes, tuple[bytes, IndexEntry]] | None = None  # for delta frames
        self.out = Findings()

    def run(
        self, sizes: Mapping[str, int | None], wholes: set[str], full: bool = False
    ) -> Findings:
        """Check the files of `sizes` (oid -> its pointer's size); `wholes`: those of them the
        store holds as whole objects."""
        out = self.out
        if not self.view.readable():  # no FORMAT: no writer made records, reads go whole
            for oid in sizes:
                self._whole_or_missing(oid, wholes, "")
            return out
        self.view.sync()
        out.warnings += [e.message for e in self.view.problems]
        self._list_packs()
        chosen: dict[str, Record] = {}
        lacking: dict[str, str] = {}
        candidates = {
            oid: [r.record for r in self.view.records(oid) if size is None or r.record.size == size]
            for oid, size in sizes.items()
        }
        named = {
            t.source.hex() for rs in candidates.values() for r in rs for t in r.terms if t.whole
        }
        have = wholes | (self.store.exists_many(named - wholes) if named - wholes else set())
        for oid, records in candidates.items():
            for rec in records:
                why = self._lacks(rec, have)
                if not why:
                    chosen[oid] = rec
                    break
                lacking.setdefault(oid, why)
            else:
                self._whole_or_missing(oid, wholes, lacking.get(oid, ""))
        for oid, rec in chosen.items():
            self._check_record(oid, rec)
        self._unnamed_packs()
        if full:
            for pid, p in sorted(self.packs.items()):
                if p.files and p.error is None:
                    self._verify_pack(pid, p)
        for pid, p in self.packs.items():
            if p.error is not None and p.files:
                out.corrupt[pid.hex()] = (p.error.message, p.files)
        out.present -= {o for _, oids in out.corrupt.values() for o in oids} | out.bad.keys()
        return out

    # -- plain checks ---------------------------------------------------------------------

    def _whole_or_missing(self, oid: str, wholes: set[str], why: str) -> None:
        if oid in wholes:
            self.out.present.add(oid)
            self.out.wholes.setdefault(oid, set()).add(oid)
        else:
            self.out.missing[oid] = why

    def _list_packs(self) -> None:
        """One LIST of every pack: id -> size and store time."""
        listing, self.now = self.store.list_keys(PACKS)
        for k in listing:
            name = k.key.rsplit("/", 1)[1][: -len(".pack")]
            self.packs[bytes.fromhex(name)] = _Pack(k.size, k.store_time)

    def _lacks(self, rec: Record, have: set[str]) -> str:
        """What of its sources the store lacks ("" when it has them all)."""
        for t in rec.terms:
            if t.whole and t.source.hex() not in have:
                return f"its record names the whole object xxh128:{t.source.hex()}, which is gone"
            if not t.whole and t.source not in self.packs:
                return f"its record names the pack {t.source.hex()}, which is gone"
        return ""

    def _check_record(self, oid: str, rec: Record) -> None:
        """The record a read would use: each pack term whole frames of a readable pack."""
        for t in rec.terms:
            if t.whole:
                self.out.wholes.setdefault(t.source.hex(), set()).add(oid)
                continue
            p = self.packs[t.source]
            p.files.add(oid)
            self._load_index(t.source, p)
            if p.starts is None:
                continue  # corrupt: reported with the pack
            at, out = t.offset, 0
            while at < t.offset + t.length and at in p.starts:
                out += p.starts[at].raw_length
                at += p.starts[at].length
            where = f"pack {t.source.hex()} at {t.offset} (+{t.length})"
            if at != t.offset + t.length:
                self.out.bad[oid] = f"its record's term in {where} is not whole frames"
                return
            if out != t.output and not t.base_only:
                self.out.bad[oid] = (
                    f"its record's term in {where} holds {out} bytes, the record says {t.output}"
                )
                return
        self.out.present.add(oid)

    def _load_index(self, pid: bytes, p: _Pack) -> None:
        """The pack's index, read once per run: the end of the pack (one ranged GET of at most
        TAIL_FETCH bytes), and the rest of a longer index."""
        if p.starts is not None or p.error is not None:
            return
        name, key = pid.hex(), pack_key(pid)
        try:
            if p.size < PACK_HEADER.size + TRAILER.size:
                raise CorruptPack(f"corrupt pack {name}: {p.size} bytes, too short for a pack")
            n = min(p.size, TAIL_FETCH)
            tail = _read_all(self.store.get_range(key, p.size - n, n))
            trailer, entries = index_from_tail(tail, p.size, name=name)
            if entries is None:
                length = p.size - TRAILER.size - trailer.index_offset
                data = _read_all(self.store.get_range(key, trailer.index_offset, length))
                entries = parse_index(data, trailer, name=name)
        except CorruptPack as e:
            p.error = e
            return
        except ObjectMissing as e:  # gone since the listing
            p.error = CorruptPack(f"pack {name} is gone: {e.message}")
            return
        self.out.packs_checked += 1
        p.starts = {e.offset: e for e in entries}
        p.end = trailer.index_offset

    def _unnamed_packs(self) -> None:
        """Packs no record names, older than G: gc takes them (7.3, a warning)."""
        if self.now is None:
            return
        named = self.view.index.record_packs(self.view.sid)
        old = [
            pid for pid, p in self.packs.items()
            if pid not in named and p.store_time < self.now - UNNAMED_AGE
        ]  # fmt: skip
        for pid in sorted(old):
            self.out.warnings.append(
                f"pack {pid.hex()} is named by no manifest's record (store gc will delete it)"
            )

    # -- full -------------------------------------------------------------------------------

    def _verify_pack(self, pid: bytes, p: _Pack) -> None:
        """Read the pack whole, streamed: its name, header, every frame against its index
        entry and its id. The index and trailer were checked by _load_index; the name covers
        them too."""
        assert p.starts is not None
        name, h = pid.hex(), blake3_hasher()
        try:
            with self.store.get_range(pack_key(pid), 0, p.size) as raw:
                s = _Hashed(raw, h, name)
                parse_pack_header(s.read(PACK_HEADER.size), name=name)
                for at in sorted(p.starts):
                    self._verify_frame(s, name, p.starts[at])
                left = p.size - p.end
                while left:
                    left -= len(s.read(min(left, READ_SIZE)))
        except CorruptPack as e:
            p.error = e
        except ObjectMissing as e:
            p.error = CorruptPack(f"pack {name} is gone: {e.message}")
        else:
            if h.digest() != pid:
                p.error = CorruptPack(f"corrupt pack {name}: its bytes do not hash to its name")
        self.out.packs_read += 1
        self.out.bytes_read += p.size

    def _verify_frame(self, s: _Hashed, name: str, e: IndexEntry) -> None:
        head = s.read(FRAME_HEADER.size)
        if head[0] == ENC_DELTA:
            head += s.read(ID_SIZE)
        hdr = parse_frame_header(head, name=name, at=e.offset)
        if (hdr.chunk_id, hdr.size, hdr.raw_length, hdr.encoding) != (
            e.chunk_id, e.length, e.raw_length, e.encoding,
        ):  # fmt: skip
            raise CorruptPack(
                f"corrupt frame in pack {name} at {e.offset}: it differs from its index entry"
            )
        frame = head + s.read(hdr.payload_length)
        base = self._base(hdr.base_id, name, e.offset) if hdr.base_id is not None else None
        decode_frame(frame, base_raw=base, name=name, at=e.offset)

    def _base(self, base_id: bytes, name: str, at: int) -> bytes:
        """A delta frame's base: a frame of a pack whose index this run read (a record that
        has delta frames names its bases' frames in base-only terms, 3.4)."""
        if self._bases is None:
            self._bases = {
                e.chunk_id: (pid, e)
                for pid, p in sorted(self.packs.items(), reverse=True)
                for e in (p.starts or {}).values()
                if e.encoding != ENC_DELTA
            }
        found = self._bases.get(base_id)
        if found is None:
            raise CorruptPack(
                f"corrupt frame in pack {name} at {at}: its delta base {base_id.hex()} is in "
                "none of the packs its files need"
            )
        pid, e = found
        frame = _read_all(self.store.get_range(pack_key(pid), e.offset, e.length))
        return decode_frame(frame, name=pid.hex(), at=e.offset)[1]


class _Hashed:
    """A pack's stream: every byte read goes into the hash of the whole file."""

    def __init__(self, stream: BinaryIO, h: object, name: str) -> None:
        self.stream, self.h, self.name = stream, h, name

    def read(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise CorruptPack(f"corrupt pack {self.name}: it ended early")
        self.h.update(data)  # type: ignore[attr-defined]
        return data


def _read_all(stream: BinaryIO) -> bytes:
    """A short range (a pack's tail, index or one frame) read whole."""
    with stream:
        return stream.read()


def check_store(
    store: Store, index: LocalIndex, sizes: Mapping[str, int | None], wholes: set[str],
    full: bool = False,
) -> Findings:  # fmt: skip
    """Which of the files of `sizes` a read from `store` finds; see the module's text."""
    return StoreCheck(store, index).run(sizes, wholes, full)
