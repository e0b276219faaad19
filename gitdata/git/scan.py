"""Pointers in a repository: in a push range, in a commit's snapshot, in all that gc keeps.

git decides which objects a set of revisions reaches (revlist.small_blobs: `git rev-list` with
a filter that leaves only blobs small enough to be pointers); pygit2 reads those blobs. A blob's
verdict is memoised by id, so a repository with 20,000 pointers in 10,000 commits reads each
pointer blob once. Paths are bytes as git stores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pygit2
from pygit2.enums import ObjectType, RepositoryOpenFlag

from ..errors import GitError
from ..pointer import SIZE_CUTOFF, Pointer, parse
from .paths import RepoPaths
from .revlist import small_blobs
from .run import run_git, stream_git


@dataclass(frozen=True)
class Hit:
    pointer: Pointer
    path: bytes  # repository-relative, as git stores it ("" for a blob named directly)
    blob: str = ""  # the git blob that holds the pointer
    commit: str | None = None  # hex of a commit that brings it, when known


def open_repository(paths: RepoPaths) -> pygit2.Repository:
    """Open the repository git would use here (GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY and
    alternates honoured through FROM_ENV; the git dir itself comes from `git rev-parse`).

    libgit2 re-hashes every object it reads unless told not to; git's own reads do not (only
    `git fsck` does), and over many objects it costs a third of the time."""
    pygit2.settings.enable_strict_hash_verification(False)
    return pygit2.Repository(paths.git_dir, RepositoryOpenFlag.FROM_ENV)


class Scanner:
    def __init__(self, repo: pygit2.Repository, cwd: str | None = None) -> None:
        self.repo = repo
        self.cwd = cwd
        self._odb = repo.odb
        self._verdict: dict[str, Pointer | None] = {}

    def pointer_of(self, blob_id: str, strict: bool = False) -> Pointer | None:
        """The pointer this blob is, or None; memoised. strict: a missing object raises
        GitError instead of counting as "not a pointer"."""
        try:
            return self._verdict[blob_id]
        except KeyError:
            pass
        result = None
        try:
            kind, size = self._odb.read_header(blob_id)
            if kind == ObjectType.BLOB and size <= SIZE_CUTOFF:
                result = parse(self._odb.read(blob_id)[1])
        except KeyError:  # missing (shallow or partial clone): not ours to judge
            if strict:
                raise GitError(
                    f"object {blob_id} is missing from the repository",
                    "`git fsck` tells what is damaged; a partial clone must fetch it first",
                ) from None
        self._verdict[blob_id] = result
        return result

    def pointers(self, options: Sequence[str], revs: Iterable[str] = ()) -> dict[str, Hit]:
        """Every pointer `git rev-list --objects <options> <revs>` reaches, keyed by oid (the
        first path git lists for it kept)."""
        hits: dict[str, Hit] = {}
        for blob, path in small_blobs(options, revs, self.cwd):
            p = self.pointer_of(blob, strict=True)
            if p is not None and p.oid not in hits:
                hits[p.oid] = Hit(p, path, blob)
        return hits

    def introduced(self, include: Iterable[str], exclude: Iterable[str]) -> dict[str, Hit]:
        """Pointers that the commits `include` bring and the commits `exclude` do not have:
        what a push of `include` adds to a remote that has `exclude`."""
        return self.pointers([], [*include, *(f"^{sha}" for sha in exclude)])

    def history(self, tips: Iterable[str]) -> dict[str, Hit]:
        """Pointers in every commit reachable from `tips`."""
        return self.pointers([], tips)

    def snapshot(self, commit: str) -> list[Hit]:
        """Every file of `commit` that is a pointer, each path (two files with the same bytes
        are two hits, where rev-list would list the blob once)."""
        hits = []
        for rec in stream_git(["ls-tree", "-r", "-z", "-l", "--full-tree", commit],
                              sep=b"\0", cwd=self.cwd):  # fmt: skip
            meta, _, path = rec.partition(b"\t")
            mode, kind, blob, size = meta.split(None, 3)
            if kind != b"blob" or mode == b"120000" or int(size) > SIZE_CUTOFF:
                continue
            p = self.pointer_of(blob.decode("ascii"), strict=True)
            if p is not None:
                hits.append(Hit(p, path, blob.decode("ascii")))
        return hits

    def introducing_commit(self, hit: Hit, include: Sequence[str], exclude: Sequence[str]) -> str:
        """The oldest commit of `include ^exclude` that adds (or removes) the blob of `hit`, for
        messages ("?" when none does). `--find-object` lists both; the oldest brought it."""
        proc = run_git(
            ["log", "--format=%H", f"--find-object={hit.blob}", *include,
             *(f"^{sha}" for sha in exclude), "--"],
            cwd=self.cwd, check=False,
        )  # fmt: skip
        found = proc.stdout.decode("ascii", "replace").split()
        return found[-1] if found else "?"

    def commit_sha(self, rev: str) -> str | None:
        try:
            return str(self.repo.revparse_single(rev).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None

    def existing(self, ids: Iterable[str]) -> list[str]:
        """The ids of `ids` that name an object here (a reflog or ORIG_HEAD may name one that
        was pruned)."""
        return [i for i in ids if self._odb.exists(i)]

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
