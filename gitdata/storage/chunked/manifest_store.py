"""Manifests in a store for the push/gc protocol (docs/chunked-store.md, 3.4, 4.8, 7.1): write
the one manifest of a push, list them with their store times, read one back checked against its
name, without the local index (manifests.py reads them into the index for the reader). Step 2
writes whole tables only (what a push uploaded or found present)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .. import Store, StoredKey
from .format.manifest import (
    KeyChunk,
    Manifest,
    Record,
    decode_manifest,
    encode_manifest,
    manifest_id,
)
from .manifests import MANIFESTS, SUFFIX, manifest_key


class Named(NamedTuple):
    """What a manifest names: whole-object oids (hex) and pack ids (hex)."""

    wholes: frozenset[str]
    packs: frozenset[str]


def name_of(key: str) -> str:
    return key[len(MANIFESTS) : -len(SUFFIX)]


def put_wholes(store: Store, oids: Iterable[str]) -> str:
    """Write the manifest of a push of whole objects only (its whole table: `oids`, hex);
    return its key. The same oids give the same bytes, so the same name: a retry rewrites it."""
    return put_manifest(store, (), (), [bytes.fromhex(o) for o in set(oids)])


def put_manifest(
    store: Store,
    records: Iterable[Record],
    packs: Iterable[bytes],
    wholes: Iterable[bytes],
    key_chunks: Iterable[KeyChunk] = (),
) -> str:
    """Write the manifest of a push (3.4): its records, every pack and whole object it
    uploaded or relies on, and the key chunks of the packs it wrote; return its key."""
    data = encode_manifest(records, packs=packs, wholes=wholes, key_chunks=key_chunks)
    key = manifest_key(manifest_id(data))
    store.put_bytes(key, data)
    return key


def list_manifests(store: Store) -> tuple[list[StoredKey], float | None]:
    """Every manifest key with its store time, and the store time of the listing."""
    listing, when = store.list_keys(MANIFESTS)
    return list(listing), when


def read_manifest(store: Store, key: str) -> Manifest:
    """The manifest under `key`, checked against every rule and against its name."""
    return decode_manifest(store.get_bytes(key), name=name_of(key))


def named(m: Manifest) -> Named:
    """The objects a manifest protects: its whole and pack tables (terms name only those)."""
    return Named(frozenset(w.hex() for w in m.wholes), frozenset(p.hex() for p in m.packs))
