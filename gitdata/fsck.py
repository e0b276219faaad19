"""fsck: are the cached bytes what their names say, and does every pointer have its bytes?

Every cached object is hashed again, in parallel and streaming (the hash of a chunk is taken
while the next is read, never a whole file in memory). One that does not hash to its name is
moved to `<common dir>/data/bad/`, out of the way of checkouts, and kept for inspection. Then
every pointer in HEAD (in all history with --all) must have its bytes in the cache or, when a
store is given, in the store itself: the cache holding a copy says nothing about the store.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from . import hashing, output
from .context import Context
from .git.scan import Hit, Scanner
from .storage import Store

if TYPE_CHECKING:
    from .storage.chunked.fsck import Findings


@dataclass(frozen=True)
class Corrupt:
    oid: str
    problem: str
    moved_to: str | None = None


@dataclass
class Verified:
    objects: int = 0
    bytes: int = 0
    corrupt: list[Corrupt] = field(default_factory=list)


def verify_cache(ctx: Context, workers: int) -> Verified:
    """Re-hash every cached object; move the ones that do not match aside; drop the chunk
    lists (the chunked store's local index) of objects no longer cached."""
    objects = sorted(ctx.cache.iter_stat(), key=lambda o: -o[1].st_size)  # long pole first
    result = Verified(len(objects), sum(st.st_size for _, st in objects))
    progress = output.Progress("Verifying the cache", result.objects, result.bytes)

    def check(oid: str) -> Corrupt | None:
        path = ctx.cache.path(oid)
        try:
            got = _hash(path, progress.advance)
        except FileNotFoundError:
            return None  # gc removed it meanwhile
        except OSError as e:
            return Corrupt(oid, f"cannot be read: {e.strerror or e}")
        finally:
            progress.object_done()
        if got == oid:
            return None
        return move_aside(ctx, oid, got)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for bad in pool.map(check, [oid for oid, _ in objects]):
            if bad is not None:
                result.corrupt.append(bad)
    progress.close(len(result.corrupt))
    from .storage.chunked.index import prune_index

    prune_index(ctx.paths.data_dir, ctx.cache.has)
    return result


def _hash(path: str, progress: Callable[[int], None] | None = None) -> str:
    with open(path, "rb", buffering=0) as f:
        return hashing.copy_and_hash(f, None, progress)[0]


def move_aside(ctx: Context, oid: str, got: str) -> Corrupt | None:
    """Move the corrupt object `oid` to data/bad/. A `git add` may have written good bytes
    under the name since we read it: what was moved is hashed again, and put back if good."""
    bad_dir = os.path.join(ctx.paths.data_dir, "bad")
    os.makedirs(bad_dir, exist_ok=True)
    dest = os.path.join(bad_dir, oid)
    n = 1
    while os.path.lexists(dest):
        dest = os.path.join(bad_dir, f"{oid}.{n}")
        n += 1
    path = ctx.cache.path(oid)
    try:
        try:
            os.rename(path, dest)
        except OSError as e:
            if e.errno != errno.EXDEV:  # a cache moved by data.cachedir to another disk
                raise
            shutil.move(path, dest)
    except FileNotFoundError:
        return None
    except OSError as e:
        return Corrupt(oid, f"hashes to xxh128:{got}; cannot move it aside: {e.strerror}")
    if _hash(dest) == oid:
        os.replace(dest, path)
        return None
    return Corrupt(oid, f"hashes to xxh128:{got}", dest)


def pointers(sc: Scanner, all_history: bool) -> dict[str, Hit]:
    """Every pointer in HEAD, or in the history of every ref and HEAD."""
    if all_history:
        return sc.pointers(["--all"])
    head = sc.commit_sha("HEAD")
    return {h.pointer.oid: h for h in (sc.snapshot(head) if head else [])}


def without_bytes(ctx: Context, wanted: Iterable[str]) -> set[str]:
    """The oids of `wanted` that the cache lacks."""
    return {oid for oid in wanted if not ctx.cache.has(oid)}


@dataclass
class RemoteCheck:
    """What `fsck --remote` found in a store (oids in hex)."""

    missing: set[str] = field(default_factory=set)
    #: records a read would use that cannot be right: oid -> why
    bad: dict[str, str] = field(default_factory=dict)
    #: corrupt packs and whole objects: name -> (why, the files that need it)
    corrupt: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    objects_read: int = 0  # packs and whole objects read whole (--full)
    bytes_read: int = 0


def check_remote(
    ctx: Context, wanted: Mapping[str, Hit], store: Store, full: bool = False
) -> RemoteCheck:
    """Whether a read from `store` finds the bytes of every file of `wanted`: a whole object,
    or a record whose packs and whole objects exist and whose terms fit their packs
    (storage/chunked/fsck.py). With `full`, every pack and whole object a read would use is
    also read whole and checked against its name."""
    found = _check_store(ctx, store, {oid: h.pointer.size for oid, h in wanted.items()}, full)
    out = RemoteCheck(set(found.missing), found.bad, found.corrupt, found.warnings)
    out.objects_read, out.bytes_read = found.packs_read, found.bytes_read
    if full:
        for oid, needed_by in sorted(found.wholes.items()):
            why = _stored_whole_problem(ctx, store, oid, out)
            if why:
                out.corrupt[f"xxh128:{oid}"] = (why, needed_by)
    return out


def readable_in(ctx: Context, store: Store, sizes: Mapping[str, int]) -> set[str]:
    """The files of `sizes` (oid -> size) whose bytes a read from `store` finds, as `fsck
    --remote` checks it without `--full`: a whole object, or a record whose packs and whole
    objects exist and whose terms fit their packs."""
    found = _check_store(ctx, store, sizes, False)
    bad = set(found.missing) | set(found.bad)
    for _, needed_by in found.corrupt.values():
        bad |= needed_by
    return set(sizes) - bad


def _check_store(ctx: Context, store: Store, sizes: Mapping[str, int], full: bool) -> Findings:
    from .storage.chunked.fsck import check_store
    from .storage.chunked.index import MEMORY, LocalIndex, LocalIndexError, index_path

    wholes = store.exists_many(sizes) if sizes else set()
    try:
        index = LocalIndex(index_path(ctx.paths.data_dir))
    except LocalIndexError as e:
        if not e.unwritable:
            raise
        index = LocalIndex(MEMORY)  # a read-only repository checks all the same
    try:
        return check_store(store, index, sizes, wholes, full)
    finally:
        index.close()


def _stored_whole_problem(ctx: Context, store: Store, oid: str, out: RemoteCheck) -> str:
    """Download the whole object `oid` from `store` into a temporary and hash it: "" when it
    hashes to its name, else what is wrong."""
    from .errors import ObjectMissing

    with ctx.cache.temp_path() as tmp:
        try:
            store.download(oid, tmp)
        except ObjectMissing:
            return f"whole object xxh128:{oid} is gone from {store.describe()}"
        got = _hash(tmp)
        out.objects_read += 1
        out.bytes_read += os.path.getsize(tmp)
    if got == oid:
        return ""
    return f"whole object xxh128:{oid} in {store.describe()} hashes to xxh128:{got}"
