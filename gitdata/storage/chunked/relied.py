"""The packs a push relies on (docs/chunked-store.md, 4.8): each must be seen to exist after the
push's first run-log listing (P1), or be uploaded by the push itself, since a store gc may have
deleted it while the local index still remembers its chunks.

A pack is trusted without a request when the index saw it (`pack.checked`) after the end of
every deletion phase in that listing, and the listing's oldest key is older than that (no run
that could have deleted it since was forgotten); a listing with no run at all means no store gc
ever ran. The others are asked: a HEAD each, or one LIST of their `packs/<p[0:2]>/` shard when
more than SHARD_LIST of them share it, or one LIST of all packs when more than ALL_LIST. A pack
found missing is dropped from the index (its chunks, and the records that name it), for the
caller to pack those files again.

Never imports git/, cache, transfer or sync.
"""

from __future__ import annotations

from collections.abc import Collection

from .. import Store
from .index import LocalIndex
from .reader import pack_key
from .runlog import Limits, RunLog

#: ask for a shard's listing instead of a HEAD per pack above this many packs in it
SHARD_LIST = 3
#: list every pack (1 request per 1,000) instead of shards or HEADs above this many to ask
ALL_LIST = 64


def trusted(checked: float | None, log: RunLog, lim: Limits) -> bool:
    """Whether a pack last seen at `checked` may be relied on without asking (4.8)."""
    if not log.runs:
        return True  # no store gc ever ran here (a run's own keys outlive the ones it expires)
    if checked is None:
        return False
    ends = [e for r in log.runs.values() if (e := r.deletions_end(lim)) is not None]
    oldest = min(when for _, when in log.keys)
    return oldest < checked and all(e < checked for e in ends)


def missing_packs(
    store: Store,
    index: LocalIndex,
    pids: Collection[bytes],
    log: RunLog,
    lim: Limits,
    force: bool = False,
) -> set[bytes]:
    """The packs of `pids` the store no longer has, asked after the listing `log` (the push's
    P1 listing, or the one that showed the runs it waited for over). Packs the index trusts are
    not asked, unless `force` (after a wait for a gc run, P6)."""
    sid = index.store_id(store.describe())
    ask = [p for p in sorted(pids) if force or not trusted(index.pack_checked(sid, p), log, lim)]
    if not ask:
        return set()
    shards: dict[str, list[bytes]] = {}
    for p in ask:
        shards.setdefault(p.hex()[:2], []).append(p)
    found: set[bytes] = set()
    if len(ask) > ALL_LIST:
        listing, _ = store.list_keys("chunked/v1/packs/")
        names = {k.key for k in listing}
        found = {p for p in ask if pack_key(p) in names}
        shards = {}
    for shard, group in shards.items():
        if len(group) > SHARD_LIST:
            listing, _ = store.list_keys(f"chunked/v1/packs/{shard}/")
            names = {k.key for k in listing}
            found |= {p for p in group if pack_key(p) in names}
        else:
            found |= {p for p in group if store.head(pack_key(p)) is not None}
    for p in found:  # seen after the listing: at least as late as its store time
        index.pack_row(sid, p, 0, log.now())
    missing = set(ask) - found
    for p in missing:
        index.drop_pack(sid, p)
    return missing
