"""Manifests in a store (docs/chunked-store.md, 3.4 and 4.8): write the one manifest of a push,
list them, read one back checked against its name. Step 2 writes whole tables only (what a push
uploaded or found present); the records and packs of later steps use the same calls."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .. import Store, StoredKey
from .format.manifest import Manifest, decode_manifest, encode_manifest, manifest_id

MANIFEST_PREFIX = "chunked/v1/manifests/"


class Named(NamedTuple):
    """What a manifest names: whole-object oids (hex) and pack ids (hex)."""

    wholes: frozenset[str]
    packs: frozenset[str]


def manifest_key(name: str) -> str:
    return f"{MANIFEST_PREFIX}{name}.manifest"


def name_of(key: str) -> str:
    return key[len(MANIFEST_PREFIX) :].partition(".")[0]


def put_wholes(store: Store, oids: Iterable[str]) -> str:
    """Write the manifest of a push of whole objects only (its whole table: `oids`, hex);
    return its key. The same oids give the same bytes, so the same name: a retry rewrites it."""
    data = encode_manifest((), wholes=[bytes.fromhex(o) for o in set(oids)])
    key = manifest_key(manifest_id(data).hex())
    store.put_bytes(key, data)
    return key


def list_manifests(store: Store) -> tuple[list[StoredKey], float | None]:
    """Every manifest key with its store time, and the store time of the listing."""
    listing, when = store.list_keys(MANIFEST_PREFIX)
    return list(listing), when


def read_manifest(store: Store, key: str) -> Manifest:
    """The manifest under `key`, checked against every rule and against its name."""
    return decode_manifest(store.get_bytes(key), name=name_of(key))


def named(m: Manifest) -> Named:
    """The objects a manifest protects: its whole and pack tables (terms name only those)."""
    return Named(frozenset(w.hex() for w in m.wholes), frozenset(p.hex() for p in m.packs))
