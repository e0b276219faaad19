"""Store gc of the chunked store (docs/chunked-store.md, 7.1): which packs and manifests a store
gc keeps, which records it chooses, and the manifest it compacts them into. The service
(gitdata/store_gc.py) lists whole objects, computes the live oids through git and runs the
run-log protocol; this module plans over the listings and manifests, writes the compacted
manifest (and, through repack.py, the new packs), and re-plans at the fence.

Keep rules, as implemented:
1. a pack or whole object that the chosen record of a live oid names (its whole object, when
   the store has one, is the chosen way and no record is chosen);
2. a pack or whole object that a manifest younger than G names (pack table, whole table);
3. a pack younger than G;
4. a manifest younger than G, or one that holds a chosen record not copied into the compacted
   manifest (step 8).
The chosen record of a live oid without a whole object: the record from the newest manifest
(store time, then name) whose packs and whole objects all exist in the listing.

Never imports git/, cache, transfer or sync.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from ...errors import ObjectMissing
from .. import Store, StoredKey
from ..keys import is_key
from .format.common import CorruptManifest
from .format.manifest import KeyChunk, Manifest, Record, encode_manifest, manifest_id
from .manifest_store import list_manifests, named, read_manifest
from .manifests import manifest_key

PACKS = "chunked/v1/packs/"
#: compact when more old manifests than this would stay (7.1 step 8)
COMPACT_ABOVE = 16
#: test-only: SIGKILL a store gc at the named points (as writer.TEST_KILL for a push)
TEST_KILL = "GIT_DATA_TEST_KILL"


def kill_point(point: str) -> None:
    """A test hook: SIGKILL this process at `point` when GIT_DATA_TEST_KILL names it."""
    if point in os.environ.get(TEST_KILL, "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)


def pack_id_of(key: str) -> bytes | None:
    """The pack id of a listed key, or None for a key that is not a pack's."""
    if not (is_key(key) and key.startswith(PACKS) and key.endswith(".pack")):
        return None
    return bytes.fromhex(key[-len(".pack") - 64 : -len(".pack")])


def list_packs(store: Store) -> dict[bytes, StoredKey]:
    """Every pack of the store (one LIST of `packs/`), by id."""
    listing, _ = store.list_keys(PACKS)
    out = {}
    for k in listing:
        pid = pack_id_of(k.key)
        if pid is not None:
            out[pid] = k
    return out


@dataclass
class Seen:
    """A manifest as gc read it: its store time then, and what it holds (None: corrupt)."""

    time: float
    manifest: Manifest | None


def read_all(store: Store, cutoff: float) -> dict[str, Seen]:
    """Every listed manifest, read and checked against its name. An old one that does not
    decode is kept as None (it protects nothing); a young one stops gc (CorruptManifest):
    what it protects cannot be known. One gone since the listing is left out."""
    keys, _ = list_manifests(store)
    out: dict[str, Seen] = {}
    for k in keys:
        try:
            out[k.key] = Seen(k.store_time, read_manifest(store, k.key))
        except ObjectMissing:
            continue
        except CorruptManifest:
            if k.store_time >= cutoff:
                raise
            out[k.key] = Seen(k.store_time, None)
    return out


@dataclass
class Chosen:
    key: str  # the manifest that holds it
    record: Record


@dataclass
class ChunkedPlan:
    """What store gc does with the chunked part of a store."""

    cutoff: float  # store time: older than this is older than G
    packs: dict[bytes, StoredKey]  # listed
    read: dict[str, Seen]  # every manifest read while planning
    chosen: dict[bytes, Chosen] = field(default_factory=dict)  # live oid -> its record
    wholes: set[str] = field(default_factory=set)  # whole objects a chosen record or young
    # manifest names (hex): kept
    dead_packs: dict[bytes, StoredKey] = field(default_factory=dict)
    dead_manifests: list[str] = field(default_factory=list)
    young_packs: int = 0
    live_packs: int = 0
    repack: dict[bytes, StoredKey] = field(default_factory=dict)  # packs to repack (7.1 step 7)
    compact: list[str] = field(default_factory=list)  # old manifests to compact (step 8)
    compacted: str | None = None  # the key of the compacted manifest, once written
    repacked_bytes: int = 0  # live bytes copied into new packs
    new_key_chunks: list[KeyChunk] = field(default_factory=list)  # of the repack's new packs
    young_named: set[bytes] = field(default_factory=set)  # packs young manifests name
    young_wholes: set[str] = field(default_factory=set)  # whole objects they name (hex)
    fenced_wholes: set[str] = field(default_factory=set)  # whole objects the fence protects

    def young(self, seen: Seen) -> bool:
        return seen.time >= self.cutoff


def choose(
    read: dict[str, Seen],
    live: Collection[bytes],
    wholes: Collection[bytes],
    packs: Collection[bytes],
) -> dict[bytes, Chosen]:
    """The chosen record of each live oid that has no whole object: from the newest manifest
    whose record of it names only packs and whole objects that exist."""
    out: dict[bytes, Chosen] = {}
    for key, seen in sorted(read.items(), key=lambda kv: (-kv[1].time, kv[0])):
        if seen.manifest is None:
            continue
        for rec in seen.manifest.records:
            if rec.oid in out or rec.oid not in live or rec.oid in wholes:
                continue
            if all((t.source in wholes) if t.whole else (t.source in packs) for t in rec.terms):
                out[rec.oid] = Chosen(key, rec)
    return out


def plan(
    read: dict[str, Seen],
    packs: dict[bytes, StoredKey],
    wholes: Collection[str],
    live: Collection[str],
    cutoff: float,
) -> ChunkedPlan:
    """Choose records (4), decide live and dead packs and manifests (5, 6), and which old
    manifests to compact (8). `wholes`: the store's whole objects (hex); `live`: live oids."""
    p = ChunkedPlan(cutoff, packs, read)
    whole_ids = {bytes.fromhex(w) for w in wholes}
    p.chosen = choose(read, {bytes.fromhex(o) for o in live}, whole_ids, packs.keys())
    keep: set[bytes] = set()
    for c in p.chosen.values():
        for t in c.record.terms:
            if t.whole:
                p.wholes.add(t.source.hex())
            else:
                keep.add(t.source)
    young_named: set[bytes] = set()
    for seen in read.values():
        if seen.manifest is not None and p.young(seen):
            n = named(seen.manifest)
            p.wholes |= n.wholes
            p.young_wholes |= n.wholes
            young_named |= {bytes.fromhex(x) for x in n.packs}
    for pid, k in packs.items():
        if k.store_time >= cutoff:
            p.young_packs += 1
        elif pid in keep or pid in young_named:
            p.live_packs += 1
        else:
            p.dead_packs[pid] = k
    holders = {c.key for c in p.chosen.values()}
    old_kept = []
    for key, seen in read.items():
        if p.young(seen):
            continue
        if key in holders:
            old_kept.append(key)
        else:
            p.dead_manifests.append(key)
    if len(old_kept) > COMPACT_ABOVE:
        p.compact = sorted(old_kept)
    p.young_named = young_named
    return p


def records_to_compact(p: ChunkedPlan) -> list[Record]:
    """Every chosen record held by a manifest that step 8 compacts."""
    keys = set(p.compact)
    return [c.record for c in p.chosen.values() if c.key in keys]


def compacted_manifest(p: ChunkedPlan, records: Iterable[Record]) -> bytes:
    """The compacted manifest (flag bit 0) of `records`, with the key chunks of the old
    manifests whose packs those records still name, and those of the packs a repack wrote."""
    recs = list(records)
    named_packs = {t.source for r in recs for t in r.terms if not t.whole}
    keys = {k for k in p.new_key_chunks if k.pack in named_packs}
    for key in p.compact:
        m = p.read[key].manifest
        if m is not None:
            keys |= {k for k in m.key_chunks if k.pack in named_packs}
    return encode_manifest(recs, key_chunks=keys, gc=True)


def write_compacted(store: Store, p: ChunkedPlan, records: Iterable[Record]) -> str:
    """PUT the compacted manifest; the manifests it replaces become dead (but never itself,
    should one of them have the same bytes)."""
    data = compacted_manifest(p, records)
    key = manifest_key(manifest_id(data))
    store.put_bytes(key, data)
    kill_point("gc-compacted")
    p.compacted = key
    p.dead_manifests += [k for k in p.compact if k != key and k not in p.dead_manifests]
    if key in p.dead_manifests:
        p.dead_manifests.remove(key)
    return key


def fence(store: Store, p: ChunkedPlan) -> int:
    """Step 10 for packs and manifests: list the manifests again; every manifest not read
    while planning, or written again since (a later store time, or within a second of the
    cutoff), protects what it names and itself. Returns how many planned deletions it saved
    (packs and manifests); the whole objects they name go into `fenced_wholes`."""
    keys, _ = list_manifests(store)
    saved = 0
    for k in keys:
        seen = p.read.get(k.key)
        if seen is not None and k.store_time <= seen.time and k.store_time < p.cutoff - 1:
            continue
        m = seen.manifest if seen is not None and seen.manifest is not None else None
        if m is None or seen is None or k.store_time > seen.time:
            try:
                m = read_manifest(store, k.key)
            except ObjectMissing:
                continue
        n = named(m)
        p.fenced_wholes |= n.wholes
        for pid in [bytes.fromhex(x) for x in n.packs]:
            if p.dead_packs.pop(pid, None) is not None:
                saved += 1
        if k.key in p.dead_manifests:
            p.dead_manifests.remove(k.key)
            saved += 1
    return saved
