"""Read-only pygit2 walks that find pointers: in a push range, in a tree, reachable from refs.

Only blobs of at most SIZE_CUTOFF bytes are read (the object header says the size), each tree is
visited once per walk, and blob verdicts are memoised by blob id: a repository with 20,000
pointers in 10,000 commits reads each pointer blob once. Paths are bytes as git stores them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pygit2
from pygit2.enums import ObjectType, RepositoryOpenFlag, SortMode

from ..errors import GitDataError
from ..pointer import SIZE_CUTOFF, Pointer, parse
from .paths import RepoPaths

_TREE_MODE = 0o040000
_BLOB_MODES = (0o100644, 0o100755)


@dataclass(frozen=True)
class Hit:
    pointer: Pointer
    path: bytes  # repository-relative, as git stores it
    commit: str | None = None  # hex of a commit that has it, when known


def open_repository(paths: RepoPaths) -> pygit2.Repository:
    """Open the repository git would use here (GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY and
    alternates honoured through FROM_ENV; the git dir itself comes from `git rev-parse`)."""
    return pygit2.Repository(paths.git_dir, RepositoryOpenFlag.FROM_ENV)


class Scanner:
    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self._odb = repo.odb
        self._verdict: dict[pygit2.Oid, Pointer | None] = {}

    def pointer_of(self, blob_id: pygit2.Oid, strict: bool = False) -> Pointer | None:
        """The pointer this blob is, or None; memoised. strict: a missing blob raises
        MissingObject instead of counting as "not a pointer"."""
        try:
            return self._verdict[blob_id]
        except KeyError:
            pass
        result = None
        try:
            kind, size = self._odb.read_header(blob_id)
            if kind == ObjectType.BLOB and size <= SIZE_CUTOFF:
                result = parse(self._odb.read(blob_id)[1])
        except KeyError:  # missing object (shallow or partial clone): not ours to judge
            if strict:
                raise MissingObject(str(blob_id), "blob") from None
            result = None
        self._verdict[blob_id] = result
        return result

    def pointer_of_hex(self, blob_hex: str) -> Pointer | None:
        return self.pointer_of(pygit2.Oid(hex=blob_hex))

    def tree_pointers(
        self, tree: pygit2.Tree, prefix: bytes = b"", seen: set[pygit2.Oid] | None = None
    ) -> Iterator[Hit]:
        """Pointers in `tree`, with paths; subtrees whose id is in `seen` are skipped (and
        every visited subtree is added), so several walks sharing `seen` visit a tree once."""
        stack: list[tuple[pygit2.Tree, bytes]] = [(tree, prefix)]
        while stack:
            t, pre = stack.pop()
            for entry in t:
                mode = entry.filemode
                name: bytes = entry.raw_name or b""
                if mode == _TREE_MODE:
                    if seen is not None:
                        if entry.id in seen:
                            continue
                        seen.add(entry.id)
                    stack.append((self.tree(entry.id), pre + name + b"/"))
                elif mode in _BLOB_MODES:
                    p = self.pointer_of(entry.id)
                    if p is not None:
                        yield Hit(p, pre + name)

    def introduced(self, include: Iterable[str], exclude: Iterable[str]) -> dict[str, Hit]:
        """Pointers that the commits reachable from `include` but not from `exclude` add or
        change, relative to each of their parents (like `git log -p include --not exclude`).

        Keyed by oid, first commit that brings it kept (for messages).
        """
        walker = self.repo.walk(None)
        pushed = False
        for sha in include:
            walker.push(pygit2.Oid(hex=sha))
            pushed = True
        if not pushed:
            return {}
        for sha in exclude:
            try:
                walker.hide(pygit2.Oid(hex=sha))
            except (KeyError, ValueError, pygit2.GitError):
                pass  # not in this repository: cannot be an ancestor of what we push
        hits: dict[str, Hit] = {}
        for commit in walker:
            sha = str(commit.id)
            if not commit.parent_ids:
                for h in self.tree_pointers(commit.tree):
                    hits.setdefault(h.pointer.oid, Hit(h.pointer, h.path, sha))
                continue
            for parent in commit.parents:
                diff = parent.tree.diff_to_tree(commit.tree)
                for delta in diff.deltas:
                    nf = delta.new_file
                    if nf.mode not in _BLOB_MODES:
                        continue
                    p = self.pointer_of(nf.id)
                    if p is not None and p.oid not in hits:
                        hits[p.oid] = Hit(p, nf.raw_path, sha)
        return hits

    def reachable(self, tips: Iterable[str]) -> Iterator[Hit]:
        """Pointers in every commit reachable from `tips`, each distinct tree read once."""
        walker = self.repo.walk(None)
        any_tip = False
        for sha in tips:
            try:
                walker.push(pygit2.Oid(hex=sha))
                any_tip = True
            except (KeyError, ValueError, pygit2.GitError):
                continue
        if not any_tip:
            return
        seen: set[pygit2.Oid] = set()
        for commit in walker:
            tree_id = commit.tree_id
            if tree_id in seen:
                continue
            seen.add(tree_id)
            for h in self.tree_pointers(commit.tree, seen=seen):
                yield Hit(h.pointer, h.path, str(commit.id))

    def index_pointers(self, index: pygit2.Index | None = None) -> Iterator[Hit]:
        """Pointers staged in the index (this worktree's, unless another is given)."""
        for entry in index if index is not None else self.repo.index:
            if entry.mode in _BLOB_MODES:
                p = self.pointer_of(entry.id)
                if p is not None:
                    yield Hit(p, entry.path.encode("utf-8", "surrogateescape"))

    def tree(self, oid: pygit2.Oid | str) -> pygit2.Tree:
        """The tree with this id, or the tree of the commit with this id."""
        obj = self.repo[oid]
        tree = obj.peel(pygit2.Tree)
        return tree

    def commit_sha(self, rev: str) -> str | None:
        try:
            return str(self.repo.revparse_single(rev).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None

    def has_commit(self, sha: str) -> bool:
        try:
            obj = self.repo.get(pygit2.Oid(hex=sha))
        except (ValueError, pygit2.GitError):
            return False
        return obj is not None

    def refs(self, prefixes: tuple[str, ...] = ("refs/",)) -> dict[str, str]:
        """{ref name: commit sha} for refs under `prefixes` that peel to a commit."""
        out = {}
        for ref in self.repo.references.iterator():
            name = ref.name
            if not name.startswith(prefixes):
                continue
            try:
                out[name] = str(ref.peel(pygit2.Commit).id)
            except (ValueError, pygit2.GitError, KeyError):
                continue
        return out

    # --- Reachability for gc and fsck -----------------------------------------------------------

    def tips(self, ids: Iterable[str], strict: bool = True) -> Tips:
        """Sort object ids by kind, peeling tags. A missing id raises MissingObject when strict
        (a ref, an index entry), else it is skipped (an old reflog entry, as git does)."""
        tips = Tips()
        for sha in ids:
            if not sha or set(sha) == {"0"}:
                continue  # the "before" side of a reflog entry that created the ref
            try:
                oid = pygit2.Oid(hex=sha)
                kind = self._odb.read_header(oid)[0]  # the header only: blobs may be huge
                while kind == ObjectType.TAG:
                    tag = self.repo[oid]
                    assert isinstance(tag, pygit2.Tag)
                    oid = tag.target
                    kind = self._odb.read_header(oid)[0]
            except (KeyError, ValueError):
                if strict:
                    raise MissingObject(sha) from None
                continue
            if kind == ObjectType.COMMIT:
                tips.commits.add(str(oid))
            elif kind == ObjectType.TREE:
                tips.trees.add(str(oid))
            elif kind == ObjectType.BLOB:
                tips.blobs.add(str(oid))
        return tips

    def closure(self, tips: Tips, history: bool = True, strict: bool = True) -> dict[str, Pointer]:
        """Every pointer reachable from `tips`, keyed by oid: in the trees of the commits (and of
        all their ancestors, unless history=False), in the trees, and among the blobs.

        Each commit and each distinct tree is read once and only blobs of at most SIZE_CUTOFF
        bytes are read. A missing commit raises MissingObject, and so does a missing tree or blob
        when strict: gc must not conclude that bytes are unneeded from a history it could not
        read (fsck, which only reports, passes strict=False for partial clones). Paths are not
        tracked (see reachable() for that): a blob counts whatever its name.
        """
        odb = self._odb
        stack = [bytes.fromhex(t) for t in tips.trees]
        seen = set(stack)  # raw ids of the trees read or about to be
        blobs = {bytes.fromhex(b) for b in tips.blobs}
        # libgit2 re-hashes every object it reads unless told not to; git's own walks do not
        # (only `git fsck` does), and here it costs a third of the walk. Restored below.
        pygit2.settings.enable_strict_hash_verification(False)
        try:
            commits = self._commits(tips.commits, history)
            while True:
                if not stack:
                    commit = next(commits, None)
                    if commit is None:
                        break
                    if commit.tree_id.raw in seen:
                        continue
                    seen.add(commit.tree_id.raw)
                    stack.append(commit.tree_id.raw)
                raw_id = stack.pop()
                try:
                    kind, data = odb.read(pygit2.Oid(raw=raw_id))
                except KeyError:
                    if not strict:
                        continue
                    raise MissingObject(raw_id.hex(), "tree") from None
                if kind != ObjectType.TREE:
                    continue
                for mode, sha in _RAW_ENTRY.findall(data):
                    if mode in _RAW_TREE_MODES:
                        if sha not in seen:
                            seen.add(sha)
                            stack.append(sha)
                    elif mode.startswith(b"100"):  # regular files; not symlinks or submodules
                        blobs.add(sha)
            found: dict[str, Pointer] = {}
            for raw_id in blobs:
                p = self.pointer_of(pygit2.Oid(raw=raw_id), strict=strict)
                if p is not None:
                    found[p.oid] = p
            return found
        finally:
            pygit2.settings.enable_strict_hash_verification(True)

    def commits_since(self, shas: Iterable[str], since: float) -> set[str]:
        """Commits reachable from `shas` whose committer date is `since` (epoch seconds) or
        later. All history is looked at: dates are not monotonic (rebases, skewed clocks)."""
        return {str(c.id) for c in self._commits(shas, True) if c.commit_time >= since}

    def _commits(self, shas: Iterable[str], history: bool) -> Iterator[pygit2.Commit]:
        """The commits `shas`, or with history every commit reachable from them, newest first
        (the order packs keep deltas in, so that the delta base cache serves most tree reads).
        A missing commit raises MissingObject; a shallow boundary is where history ends."""
        shas = list(shas)
        if not history:
            for sha in shas:
                obj = self.repo.get(sha)
                if not isinstance(obj, pygit2.Commit):
                    raise MissingObject(sha, "commit")
                yield obj
            return
        if not shas:
            return
        walker = self.repo.walk(None, SortMode.TIME)
        for sha in shas:
            try:
                walker.push(pygit2.Oid(hex=sha))
            except KeyError:
                raise MissingObject(sha, "commit") from None
        try:
            yield from walker
        except (KeyError, pygit2.GitError) as e:  # a parent is missing
            raise MissingObject(str(e).strip("'"), "commit") from None


# A raw tree entry: "<octal mode> <name>\0<20-byte id>". Parsing raw objects costs a fraction of
# a pygit2 TreeEntry per entry, and gc parses every tree of the history.
_RAW_ENTRY = re.compile(rb"([0-7]+) [^\0]*\0(.{20})", re.S)
_RAW_TREE_MODES = (b"40000", b"040000")  # old gits wrote the leading zero


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
    trees and blobs something names directly (an index entry, a tag of a tree)."""

    commits: set[str] = field(default_factory=set)
    trees: set[str] = field(default_factory=set)
    blobs: set[str] = field(default_factory=set)

    def update(self, other: Tips) -> None:
        self.commits |= other.commits
        self.trees |= other.trees
        self.blobs |= other.blobs
