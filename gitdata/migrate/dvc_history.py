"""Before `import --from-dvc --rewrite` writes a commit: every DVC out that any commit of the
selected history records, its bytes in the gitdata cache, verified against DVC's md5.

The `.dvc` and `dvc.lock` versions come from the same first-parent diffs that fast-export
streams (history.changes), so every version the stream will meet is known here. Each object
is looked for in DVC's cache, then the DVC remote (dvc_objects.Sources), and hashed into the
cache once. What was verified is written down (`dvc-md5`: md5, oid, size), so that a second
run, or one after a SIGKILL, reads nothing it already took in.
"""

from __future__ import annotations

import os
import posixpath
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .. import output
from ..context import Context
from ..errors import GitDataError
from ..fsutil import replace_file
from ..git import history
from ..git.history import RefInfo
from ..git.scan import cat_blobs
from ..pointer import Pointer
from . import dvc_files
from .dvc_files import Out
from .dvc_objects import Sources, Wanted, listing_entries
from .rewrite import kill_point, migrate_dir
from .selection import Selection

#: DVC's md5 of no bytes: an empty file needs no object anywhere.
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def kind(path: bytes) -> str | None:
    """What a path is to the DVC rewrite: `dvc` (a `.dvc` file), `lock`, `yaml` (dvc.yaml, for
    its stages' wdir), `ignore` (a `.gitignore`), `attributes` (the top `.gitattributes`)."""
    if path == b".gitattributes":
        return "attributes"
    base = path.rpartition(b"/")[2]
    if base == b".gitignore":
        return "ignore"
    if base.endswith(b".dvc") and len(base) > 4:
        return "dvc"
    if base == b"dvc.lock":
        return "lock"
    if base == b"dvc.yaml":
        return "yaml"
    return None


def text(path: bytes) -> str:
    return path.decode("utf-8", "surrogateescape")


@dataclass
class Objects:
    """What the history's outs hold: md5 -> pointer, and a directory's md5 -> its files."""

    pointers: dict[str, Pointer] = field(default_factory=dict)
    listings: dict[str, list[Wanted]] = field(default_factory=dict)  # relative paths
    missing: list[str] = field(default_factory=list)

    def pointer(self, md5: str) -> Pointer | None:
        if md5 == EMPTY_MD5:
            return Pointer(EMPTY_OID, 0)
        return self.pointers.get(md5)


def _empty_oid() -> str:
    from ..hashing import hash_bytes

    return hash_bytes(b"")


EMPTY_OID = _empty_oid()


def outs_of(path: bytes, data: bytes, wdirs: dict[str, str]) -> list[Out]:
    """The outs a `.dvc` or `dvc.lock` version records."""
    rel = text(path)
    doc = dvc_files.parse_yaml(data, rel)
    if kind(path) == "lock":
        return dvc_files.lock_file_outs(doc, rel, wdirs)
    return dvc_files.dvc_file_outs(doc, rel)


def history_outs(ctx: Context, refs: list[RefInfo], sel: Selection) -> tuple[list[Out], set[str]]:
    """The selected outs of every `.dvc` and `dvc.lock` version behind `refs` (one per DVC
    object); and the paths of those files."""
    versions: dict[tuple[bytes, str], None] = {}
    for _, blob, path in history.changes(sorted({r.peeled for r in refs}), ctx.cwd):
        if kind(path) in ("dvc", "lock"):
            versions[(path, blob)] = None
    found: dict[tuple[str, bool], Out] = {}
    for _blob, path, data in cat_blobs(((b, p) for p, b in versions), (), ctx.cwd):
        for o in outs_of(path, data or b"", {}):
            if sel.paths.match(o.path):
                found.setdefault((o.dvc_name, o.legacy), o)
    return list(found.values()), {text(p) for p, _ in versions}


def md5_map_path(ctx: Context) -> str:
    return os.path.join(migrate_dir(ctx), "dvc-md5")


def _read_md5_map(ctx: Context) -> dict[str, Pointer]:
    known = {}
    try:
        with open(md5_map_path(ctx), encoding="ascii") as f:
            for line in f:
                md5, oid, size = line.split()
                known[md5] = Pointer(oid, int(size))
    except (OSError, ValueError):
        pass
    return {m: p for m, p in known.items() if ctx.cache.has(p.oid)}


def gather(ctx: Context, outs: list[Out], sources: Sources) -> Objects:
    """Every file of `outs` into the cache (verified), or the list of what no place has."""
    objs = Objects()
    wanted: dict[str, Wanted] = {}
    for o in outs:
        if not o.is_dir:
            wanted.setdefault(o.md5, Wanted(o.path, o.md5, o.legacy))
            continue
        listing = sources.read_listing(o.md5, o.legacy)
        files = listing_entries(listing, "", o.legacy) if listing is not None else None
        if files is None:
            objs.missing.append(f"  {o.path}/ (the listing {o.dvc_name})")
            continue
        objs.listings[o.md5] = [
            Wanted(w.path[1:], w.md5, w.legacy, w.executable) for w in files
        ]  # "/rel" -> "rel"
        for w in files:
            wanted.setdefault(w.md5, Wanted(posixpath.join(o.path, w.path[1:]), w.md5, o.legacy))
    known = _read_md5_map(ctx)
    todo = [w for m, w in wanted.items() if m not in known and m != EMPTY_MD5]
    objs.pointers = {m: known[m] for m in wanted if m in known}
    progress = output.Progress("importing", len(todo), 0)

    def one(w: Wanted) -> None:
        p = sources.store(w.md5, w.legacy, progress.advance)
        if p is None:
            objs.missing.append(f"  {w.path} (md5 {w.md5})")
        else:
            objs.pointers[w.md5] = p
        progress.object_done()
        kill_point("converting")

    with ThreadPoolExecutor(min(4, os.cpu_count() or 1), thread_name_prefix="dvc") as pool:
        for _ in pool.map(one, todo):  # re-raises the first failure
            pass
    progress.close()
    os.makedirs(migrate_dir(ctx), exist_ok=True)
    lines = "".join(f"{m} {p.oid} {p.size}\n" for m, p in sorted(objs.pointers.items()))
    replace_file(md5_map_path(ctx), lines.encode("ascii"))
    objs.missing.sort()
    return objs


def check_missing(objs: Objects, remote: dvc_files.DvcRemote | None) -> None:
    if objs.missing:
        where = f"the DVC remote {remote.url}" if remote is not None else "a DVC remote (none set)"
        raise GitDataError(
            f"the bytes of {len(objs.missing)} DVC object(s) of the history are in neither "
            f"DVC's cache nor {where}",
            "run `dvc fetch --all-commits` (or `dvc pull` at each commit) first, or name the "
            "DVC remote that has them: --dvc-remote NAME|URL|DIR; nothing was changed",
            objs.missing,
        )
