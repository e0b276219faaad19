"""Pushes to a store whose `chunked` setting is on (docs/chunked-store.md, 4.1-4.8, 7.4): the
service between sync.py's push plan and storage/chunked/writer.py. It decides whether a push
writes the chunked format, finds each file's base (the pointer the remote already has at the
same path: storage/ never runs git), hands the files to the writer, uploads whole what the
same-fs rule keeps whole, and writes the push's manifest after every upload (6.1)."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import output, transfer
from .context import Context
from .errors import GitDataError, ObjectMissing
from .git.scan import Hit, Scanner
from .storage import Store
from .storage.chunked import runlog
from .storage.keys import FORMAT_KEY

if TYPE_CHECKING:
    from .storage.chunked.format.manifest import KeyChunk, Record
    from .storage.chunked.index import LocalIndex
    from .storage.chunked.manifests import StoreView

#: the writer's LINK_MIN (4.1), without importing the chunker for a push that does not chunk
LINK_MIN = 16 << 20


def wanted(ctx: Context, store: Store, remote: str) -> tuple[bool, bool]:
    """Whether a push to `store` (data remote `remote`, "" for none) writes the chunked format:
    `true`; `auto` when the store already has FORMAT or holds no whole object yet (7.4: a new
    store starts chunked, one that old versions wrote stays whole); never with `false`. And
    whether `auto` found the store empty (neither FORMAT nor a whole object): the writer then
    writes FORMAT on that answer, without asking both again (upload's `seen_empty`)."""
    value, _ = ctx.settings.chunked_for(remote)
    if value == "auto":
        try:
            store.get_bytes(FORMAT_KEY)
        except ObjectMissing:
            if store.holds_whole_objects():
                return False, False
            return True, True
        return True, False
    return value == "true", False


def same_fs(ctx: Context, store: Store) -> bool:
    """A directory store on the cache's file system (4.1 step 3: big files go whole)."""
    from .storage.local import LocalStore

    if not isinstance(store, LocalStore) or not store._can_link:
        return False
    root = store.root
    while not os.path.exists(root):
        root = os.path.dirname(root)
    try:
        return os.stat(root).st_dev == os.stat(ctx.cache.root).st_dev
    except OSError:
        return False


def bases(sc: Scanner, hits: Sequence[Hit], tips: Sequence[str]) -> dict[str, str]:
    """oid -> the oid of its base (4.2): for a path several of `hits` share (versions pushed
    together, listed newest first as rev-list walks), the next older of them; for the oldest,
    and any other, the pointer at the same path in the first of `tips` (what the remote has)
    that holds a pointer there with another oid."""
    out: dict[str, str] = {}
    by_path: dict[bytes, list[Hit]] = {}
    for h in hits:
        if h.path:
            by_path.setdefault(h.path, []).append(h)
    for same in by_path.values():
        for newer, older in zip(same, same[1:]):
            out[newer.pointer.oid] = older.pointer.oid
    todo = [h for h in hits if b"\n" not in h.path and h.pointer.oid not in out]
    for tip in tips:
        if not todo:
            break
        names = [f"{tip}:{h.path.decode('utf-8', 'surrogateescape')}" for h in todo]
        found = sc.blob_ids(names)
        pointers = sc.blob_pointers([b for b in found if b])
        rest = []
        for h, blob in zip(todo, found):
            p = pointers.get(blob) if blob else None
            if p is not None and p.oid != h.pointer.oid:
                out[h.pointer.oid] = p.oid
            else:
                rest.append(h)
        todo = rest
    return out


def recorded(ctx: Context, store: Store, oids: Sequence[str]) -> set[str]:
    """The files of `oids` the store has a record for, after one manifest sync."""
    from .storage.chunked.index import LocalIndex, index_path
    from .storage.chunked.manifests import StoreView

    index = LocalIndex(index_path(ctx.paths.data_dir))
    try:
        view = StoreView(store, index)
        view.sync()  # what the store says now, not what the index remembers
        return set(view.with_records(list(oids), sync=False))
    finally:
        index.close()


@dataclass
class PushManifest:
    """The manifest of a chunked push (3.4), written by push_check.finish after every upload
    (P4): records, packs, and whole objects: those of files uploaded or found present whole
    (`files`, what push_check's repair uploads again: `relied`, hex) and those the records
    name ranges of (a record's repair: check_packs). `ctx` and `base_of`, to pack files again
    whose packs or whole objects a store gc deleted (4.8)."""

    records: list[Record]
    packs: set[bytes]
    files: set[bytes]
    ctx: Context | None = None
    base_of: Mapping[str, str] = field(default_factory=dict)
    key_chunks: list[KeyChunk] = field(default_factory=list)  # of the packs the push wrote (2.6)

    @property
    def relied(self) -> set[str]:
        return {w.hex() for w in self.files}

    @property
    def wholes(self) -> set[bytes]:
        """The manifest's whole table: the files', and those the records name."""
        return self.files | self.named_wholes()

    def named_wholes(self) -> set[bytes]:
        return {t.source for r in self.records for t in r.terms if t.whole}

    def put(self, store: Store) -> None:
        from .storage.chunked.manifest_store import put_manifest
        from .storage.chunked.writer import kill_point

        kill_point("before-manifest")
        put_manifest(store, self.records, self.packs, self.wholes, self.key_chunks)
        kill_point("manifest-written")

    def check_packs(self, store: Store, log: runlog.RunLog, force: bool = False) -> bool:
        """Check that the packs the records name exist (4.8; unless the index trusts them, or
        with `force`, after a wait for a gc run, which checks the whole objects they name too:
        a gc repacks whole objects named in part); pack again from the cache the files whose
        packs or whole objects a store gc deleted, or take the records it wrote for them.
        Returns whether the records changed."""
        from .storage.chunked.index import LocalIndex, index_path
        from .storage.chunked.relied import missing_packs

        assert self.ctx is not None
        ctx = self.ctx
        changed = False
        index = LocalIndex(index_path(ctx.paths.data_dir))
        try:
            for _ in range(3):
                gone = missing_packs(store, index, self.packs, log, runlog.limits(), force)
                named = self.named_wholes() if force else set()
                if named:
                    there = store.exists_many({w.hex() for w in named})
                    gone |= {w for w in named if w.hex() not in there}
                if not gone:
                    return changed
                redo = [r for r in self.records if any(t.source in gone for t in r.terms)]
                self._repack(store, index, redo, gone)
                changed = True
        finally:
            index.close()
        raise GitDataError(
            f"a store gc keeps deleting packs this push needs from {store.describe()}; the Git "
            "remote was not updated",
            "retry the push",
        )

    def _repack(
        self, store: Store, index: LocalIndex, redo: list[Record], gone: set[bytes]
    ) -> None:
        from .storage.chunked.manifests import StoreView
        from .storage.chunked.writer import write_files

        assert self.ctx is not None
        ctx = self.ctx
        # one manifest sync: the records a gc wrote anew, and this push's own manifest, written
        # before the wait, whose records name what is gone: forget those, or write_files
        # would copy them again (and a reader try them)
        view = StoreView(store, index)
        view.sync()
        for source in gone:
            index.drop_records_naming(view.sid, source)
        sizes = {r.oid.hex(): r.size for r in redo}
        lost = sorted(o for o in sizes if not ctx.cache.has(o))
        found = _found_again(view, {o: sizes[o] for o in lost}, gone) if lost else {}
        lost = [o for o in lost if o not in found]
        if lost:
            raise GitDataError(
                f"a store gc deleted the packs of {len(lost)} file(s) this push needs, and they "
                f"are not in the local cache; {store.describe()} and the Git remote were not "
                "updated:",
                "`git data fetch --all` from a clone that has the bytes, then push again",
                details=[f"  xxh128:{o}" for o in lost],
            )
        if found:  # their records as the store has them now (those packs are checked next)
            self.records = [r for r in self.records if r.oid.hex() not in found]
            self.records += found.values()
            self.packs = {t.source for r in self.records for t in r.terms if not t.whole}
            sizes = {o: n for o, n in sizes.items() if o not in found}
            if not sizes:
                return
        output.note(
            f"packing again {len(sizes)} file(s) whose packs or whole objects a store gc deleted"
        )
        whole_bases = store.exists_many({b for b in self.base_of.values() if ctx.cache.has(b)})
        # into packs, as the records the gc broke were (a big file on a same-fs store too)
        written = write_files(
            store, index, sizes, ctx.cache.path, ctx.cache.tmp_dir,
            bases=self.base_of, whole_bases=whole_bases,
        )  # fmt: skip
        if written.failed:
            oid, e = next(iter(written.failed.items()))
            raise GitDataError(
                f"xxh128:{oid} cannot be packed again into {store.describe()}: {e}; the Git "
                "remote was not updated",
                "retry the push",
            )
        self.key_chunks = [k for k in self.key_chunks if k.pack not in gone]
        self.key_chunks += written.key_chunks
        keep = [r for r in self.records if r.oid.hex() not in sizes]
        self.records = keep + written.records
        self.packs = {t.source for r in self.records for t in r.terms if not t.whole}
        self.packs |= written.packs


def _found_again(
    view: StoreView, sizes: Mapping[str, int], gone: Collection[bytes]
) -> dict[str, Record]:
    """Records of files not in the cache (oid -> size) that name none of the packs and whole
    objects `gone`, from the store's manifests as `view` synced them: a store gc that repacked
    what the push relied on wrote the live files' records anew, naming its new packs (7.1
    steps 7 and 8)."""
    out: dict[str, Record] = {}
    for oid, size in sizes.items():
        for stored in view.records(oid):
            r = stored.record
            if r.size == size and not any(t.source in gone for t in r.terms):
                out[oid] = r
                break
    return out


def upload(
    ctx: Context,
    store: Store,
    sizes: Mapping[str, int],
    present: set[str],
    base_of: Mapping[str, str],
    copy: Collection[str] = (),
    log: runlog.RunLog | None = None,
    seen_empty: bool = False,
) -> tuple[dict[str, BaseException], PushManifest]:
    """Write `sizes` (oid -> size, in the cache) into the chunked store: packs, and whole the
    big files of a same-fs directory store. Returns the files that failed and the push's
    manifest (written by the caller after the checks, P4). With `log` (P1), the packs the
    records rely on are checked (4.8) and the files whose packs are gone packed again.
    `seen_empty`: wanted() found neither FORMAT nor a whole object in the store."""
    from .storage.chunked.index import LocalIndex, index_path
    from .storage.chunked.writer import write_files

    index = LocalIndex(index_path(ctx.paths.data_dir))
    try:
        whole_bases = store.exists_many({b for b in base_of.values() if ctx.cache.has(b)})
        progress = output.Progress(
            f"Packing for {store.describe()}", len(sizes), sum(sizes.values())
        )
        try:
            written = write_files(
                store, index, sizes, ctx.cache.path, ctx.cache.tmp_dir,
                bases=base_of, whole_bases=whole_bases, same_fs=same_fs(ctx, store), copy=copy,
                meter=progress, seen_empty=seen_empty,
            )  # fmt: skip
        except (GitDataError, OSError) as e:
            # a pack or FORMAT that could not be written: every file of the push failed with
            # it, so that the caller stops the push naming them (and the Git remote stays)
            if not sizes:
                raise
            progress.close(len(sizes))
            return dict.fromkeys(sizes, e), PushManifest([], set(), set())
        progress.all_done_but(len(written.failed), sum(sizes[o] for o in written.failed))
        progress.close(len(written.failed))
        failed = dict(written.failed)
        if written.whole:
            result = transfer.upload(store, ctx.cache, written.whole, ctx.settings.transfers)
            failed.update(result.failed)
        files = {bytes.fromhex(o) for o in present | set(written.whole)}
        manifest = PushManifest(
            written.records, written.packs, files, ctx, base_of, written.key_chunks
        )
    finally:
        index.close()
    if log is not None:
        manifest.check_packs(store, log)
    return failed, manifest
