"""Reachability for gc and fsck: every pointer that a set of commits, trees and blobs reaches.

gc must read every tree of the history, so the walk is built for that:

- Each commit and each distinct tree is read once; only blobs of at most SIZE_CUTOFF bytes are
  read (the object header gives the size first). Paths are not tracked: a blob counts, whatever
  its name (Scanner.reachable gives paths, for messages).
- Raw tree objects are parsed directly: a pygit2 TreeEntry per entry costs several times more.
- A tree is mostly its predecessor with a few entries changed, so it is compared with a tree
  already walked (the same directory in a child commit, cached with its entry boundaries) and
  only the bytes that differ are parsed; identical runs are skipped with memcmp. Entries inside
  an identical run are entries of the reference tree, which is walked already; a
  boundary-aligned run of equal bytes parses identically from its start. Everything not in such
  a run is parsed and counted, so a wrong guess about alignment costs time, never an entry.
- A missing commit, tree or blob raises MissingObject (strict): gc must not decide that bytes
  are unneeded from a history it could not read. fsck, which only reports, is lenient.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate

import pygit2
from pygit2.enums import ObjectType, SortMode

from ..errors import GitDataError
from ..pointer import Pointer
from .scan import Scanner

# A raw tree entry: "<octal mode> <name>\0<20-byte id>"
_ENTRY = re.compile(rb"([0-7]+) ([^\0]*)\0(.{20})", re.S)
_TREE_MODES = (b"40000", b"040000")  # old gits wrote the leading zero
#: Trees kept (with their entry boundaries) to diff their successors against.
CACHE_BYTES = 64 << 20


class MissingObject(GitDataError):
    """An object a walk needs is not in the repository (damaged, shallow or partial clone)."""

    def __init__(self, sha: str, kind: str = "object") -> None:
        super().__init__(
            f"{kind} {sha} is missing from the repository",
            "gc and fsck need every commit and tree of the history and every small blob: "
            "`git fsck` tells what is damaged; a partial clone must fetch its blobs first",
        )


@dataclass
class Tips:
    """Where a walk starts: commits (with their history, unless the walk says otherwise), and
    trees and blobs that something names directly (an index entry, a tag of a tree)."""

    commits: set[str] = field(default_factory=set)
    trees: set[str] = field(default_factory=set)
    blobs: set[str] = field(default_factory=set)

    def update(self, other: Tips) -> None:
        self.commits |= other.commits
        self.trees |= other.trees
        self.blobs |= other.blobs


def tips(sc: Scanner, ids: Iterable[str], strict: bool = True) -> Tips:
    """Sort object ids by kind, peeling tags. A missing id raises MissingObject when strict
    (a ref, an index entry), else it is skipped (an old reflog entry, as git does)."""
    out = Tips()
    odb = sc.repo.odb
    for sha in ids:
        if not sha or set(sha) == {"0"}:
            continue  # the "before" side of a reflog entry that created its ref
        try:
            oid = pygit2.Oid(hex=sha)
            kind = odb.read_header(oid)[0]  # the header only: a blob may be huge
            while kind == ObjectType.TAG:
                tag = sc.repo[oid]
                assert isinstance(tag, pygit2.Tag)
                oid = tag.target
                kind = odb.read_header(oid)[0]
        except (KeyError, ValueError):
            if strict:
                raise MissingObject(sha) from None
            continue
        if kind == ObjectType.COMMIT:
            out.commits.add(str(oid))
        elif kind == ObjectType.TREE:
            out.trees.add(str(oid))
        elif kind == ObjectType.BLOB:
            out.blobs.add(str(oid))
    return out


def closure(
    sc: Scanner, start: Tips, history: bool = True, strict: bool = True
) -> dict[str, Pointer]:
    """Every pointer reachable from `start`, keyed by oid: in the trees of its commits (and of
    all their ancestors, unless history=False), in its trees, and among its blobs."""
    walk = _Walk(sc, strict)
    for t in start.trees:
        walk.add_tree(bytes.fromhex(t), None)
    walk.blobs |= {bytes.fromhex(b) for b in start.blobs}
    walk.trees()
    # Children before parents: a parent's tree is then diffed against its child's.
    reference: dict[bytes, bytes] = {}
    for commit in _commits(sc, start.commits, history):
        tree = commit.tree_id.raw
        walk.add_tree(tree, reference.pop(commit.id.raw, None))
        for parent in commit.parent_ids:
            reference.setdefault(parent.raw, tree)
        walk.trees()
    found: dict[str, Pointer] = {}
    for raw_id in walk.blobs:
        try:
            p = sc.pointer_of(pygit2.Oid(raw=raw_id), strict=strict)
        except KeyError:
            raise MissingObject(raw_id.hex(), "blob") from None
        if p is not None:
            found[p.oid] = p
    return found


def commits_since(sc: Scanner, shas: Iterable[str], since: float) -> set[str]:
    """Commits reachable from `shas` whose committer date is `since` (epoch seconds) or later.
    All history is looked at: dates are not monotonic (rebases, skewed clocks)."""
    return {str(c.id) for c in _commits(sc, shas, True) if c.commit_time >= since}


def _commits(sc: Scanner, shas: Iterable[str], history: bool) -> Iterator[pygit2.Commit]:
    """The commits `shas`, or with history all commits reachable from them, children first
    and newest first (packs keep deltas in that order too). A shallow boundary ends history."""
    shas = list(shas)
    if not history:
        for sha in shas:
            obj = sc.repo.get(sha)
            if not isinstance(obj, pygit2.Commit):
                raise MissingObject(sha, "commit")
            yield obj
        return
    if not shas:
        return
    walker = sc.repo.walk(None, SortMode.TOPOLOGICAL | SortMode.TIME)
    for sha in shas:
        try:
            walker.push(pygit2.Oid(hex=sha))
        except KeyError:
            raise MissingObject(sha, "commit") from None
    try:
        yield from walker
    except (KeyError, pygit2.GitError) as e:  # a parent is missing
        raise MissingObject(str(e).strip("'"), "commit") from None


class _Walk:
    """The trees of one closure: what was seen, what is left, the blobs found."""

    def __init__(self, sc: Scanner, strict: bool) -> None:
        self.odb = sc.repo.odb
        self.strict = strict
        self.seen: set[bytes] = set()  # raw ids of trees walked or queued
        self.stack: list[tuple[bytes, bytes | None]] = []  # (tree, reference tree or None)
        self.blobs: set[bytes] = set()
        self.cache: OrderedDict[bytes, tuple[bytes, array[int]]] = OrderedDict()
        self.cached_bytes = 0

    def add_tree(self, raw_id: bytes, reference: bytes | None) -> None:
        if raw_id not in self.seen:
            self.seen.add(raw_id)
            self.stack.append((raw_id, reference))

    def trees(self) -> None:
        while self.stack:
            raw_id, ref = self.stack.pop()
            try:
                kind, data = self.odb.read(pygit2.Oid(raw=raw_id))
            except KeyError:
                if not self.strict:
                    continue
                raise MissingObject(raw_id.hex(), "tree") from None
            if kind != ObjectType.TREE:
                continue
            known = self.cache.get(ref) if ref is not None else None
            entries, lengths = _parse(data) if known is None else _diff(data, *known)
            if sum(lengths) != len(data):
                raise GitDataError(f"tree {raw_id.hex()} cannot be parsed", "run `git fsck`")
            self._remember(raw_id, data, lengths)
            for mode, sha, sub_ref in entries:
                if mode in _TREE_MODES:
                    self.add_tree(sha, sub_ref)
                elif mode.startswith(b"100"):  # regular files; not symlinks or submodules
                    self.blobs.add(sha)

    def _remember(self, raw_id: bytes, data: bytes, lengths: array[int]) -> None:
        self.cache[raw_id] = (data, lengths)
        self.cached_bytes += len(data) + 4 * len(lengths)
        while self.cached_bytes > CACHE_BYTES:
            _, (d, n) = self.cache.popitem(last=False)
            self.cached_bytes -= len(d) + 4 * len(n)


Entry = tuple[bytes, bytes, "bytes | None"]  # mode, id, id of the same name's reference tree


def _parse(data: bytes) -> tuple[list[Entry], array[int]]:
    """Every entry of a tree, and each entry's length in bytes."""
    found = _ENTRY.findall(data)
    lengths = array("I", [len(mode) + len(name) + 22 for mode, name, _ in found])
    return [(mode, sha, None) for mode, _, sha in found], lengths


def _diff(data: bytes, ref: bytes, ref_lengths: array[int]) -> tuple[list[Entry], array[int]]:
    """The entries of tree `data` that are not byte-identical entries of tree `ref` (whose
    entry lengths are known), and the lengths of all of `data`'s entries.

    Walks both trees at entry boundaries: a run of equal bytes from a boundary of each covers
    whole entries of `ref` (its boundaries are known), which are then entries of `data` too,
    ending on a boundary of both; the entry after the run is parsed. Both trees are sorted by
    name (a directory sorting as if its name ended in "/"): an entry of `ref` sorting first is
    one `data` dropped; one of `data` sorting first is new; the same name with other bytes is
    a change, and for a subtree its old id becomes the reference for the new one.
    """
    offsets = [0, *accumulate(ref_lengths)]
    n = len(ref_lengths)
    out: list[Entry] = []
    lengths: array[int] = array("I")
    q, i, end = 0, 0, len(data)
    while q < end:
        if i < n:
            same = _common_prefix(data, q, ref, offsets[i])
            j = bisect_right(offsets, offsets[i] + same, i) - 1
            if j > i:
                lengths.extend(ref_lengths[i:j])
                q += offsets[j] - offsets[i]
                i = j
                if q >= end:
                    break
        m = _ENTRY.match(data, q)
        if m is None:
            break  # not a tree after all: the caller's length check says so
        mode, name, sha = m.groups()
        sub_ref = None
        if i < n:
            r = _ENTRY.match(ref, offsets[i])
            assert r is not None  # ref was parsed before: offsets[i] is an entry
            rmode, rname, rsha = r.groups()
            key = name + b"/" if mode in _TREE_MODES else name
            rkey = rname + b"/" if rmode in _TREE_MODES else rname
            if rkey < key:  # dropped from this tree
                i += 1
                continue
            if rkey == key:  # changed
                i += 1
                if rmode in _TREE_MODES:
                    sub_ref = rsha
        out.append((mode, sha, sub_ref))
        lengths.append(m.end() - q)
        q = m.end()
    return out, lengths


def _common_prefix(a: bytes, ia: int, b: bytes, ib: int) -> int:
    """Length of the common prefix of a[ia:] and b[ib:]: memcmp over windows that double in
    size, then the first differing byte of the last window from the XOR of the two windows read
    as big-endian integers (its highest set bit), all without a Python loop over bytes."""
    n = min(len(a) - ia, len(b) - ib)
    lo, step = 0, 512
    while lo < n:
        hi = min(lo + step, n)
        x, y = a[ia + lo : ia + hi], b[ib + lo : ib + hi]
        if x != y:
            diff = int.from_bytes(x, "big") ^ int.from_bytes(y, "big")
            return hi - 1 - (diff.bit_length() - 1) // 8
        lo, step = hi, step * 2
    return n
