"""The keys of the chunked store (docs/chunked-store.md, 3.1), and the check every key-level
store call makes before any I/O.

A key is relative to the store's root and lies under `chunked/v1/`: nothing else (a whole
object's key, `..`, an absolute path, upper-case hex) ever reaches a store through these calls,
so no name read from a store, a manifest or a listing can make gitdata read or write outside the
store. A listed key that does not match is skipped, never turned into a path.
"""

from __future__ import annotations

import re

from ..errors import StoreError

_HEX64 = "[0-9a-f]{64}"
#: Every key of format version 1. A pack's shard is the first two digits of its name (checked
#: in is_key: a regular expression cannot compare the two).
_KEY = re.compile(
    r"chunked/v1/(?:"
    r"FORMAT"
    rf"|packs/(?P<shard>[0-9a-f]{{2}})/(?P<pack>{_HEX64})\.pack"
    rf"|manifests/{_HEX64}\.manifest"
    r"|gc/[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}\.(?:planning|deleting|done)"
    r")"
)
#: The prefixes a listing may ask for: the directories of the layout.
_PREFIX = re.compile(r"chunked/v1/(?:packs/(?:[0-9a-f]{2}/)?|manifests/|gc/)?")

FORMAT_KEY = "chunked/v1/FORMAT"

#: A whole object's key: a record's term may name a byte range of one (3.4), which get_range
#: reads; no other key-level call accepts it.
_WHOLE = re.compile(r"(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{2})/(?P<oid>[0-9a-f]{32})")


def is_whole_key(key: str) -> bool:
    m = _WHOLE.fullmatch(key)
    return m is not None and m["oid"].startswith(m["a"] + m["b"])


def is_key(key: str) -> bool:
    m = _KEY.fullmatch(key)
    return m is not None and (m["pack"] is None or m["pack"].startswith(m["shard"]))


def check_key(key: str, *, whole: bool = False) -> str:
    """`key` if it is a key of the layout (or, with `whole`, a whole object's key: ranged reads
    only); else a StoreError, before anything is read or written."""
    if not isinstance(key, str) or not (is_key(key) or (whole and is_whole_key(key))):
        raise StoreError(
            f"refused the store key {key!r}: it is not a key of the chunked store layout",
            "the store, or a manifest or listing read from it, may be damaged or hostile; "
            "nothing was read or written (docs/chunked-store.md, 3.1)",
        )
    return key


def check_prefix(prefix: str) -> str:
    """`prefix` if it is a directory of the layout (`chunked/v1/`, `chunked/v1/packs/`,
    `chunked/v1/packs/<2 hex>/`, `chunked/v1/manifests/`, `chunked/v1/gc/`)."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise StoreError(
            f"refused the store prefix {prefix!r}: it is not a directory of the chunked store "
            "layout",
            "nothing was listed; this is a bug in gitdata: please report it",
        )
    return prefix
