"""Pointers in a repository: in a push range, in a commit's snapshot, in all that gc keeps.

git decides which objects a set of revisions reaches (revlist.small_blobs: `git rev-list` with
a filter that leaves only blobs small enough to be pointers) and `git cat-file --batch` reads
those blobs, fed by a thread while this one parses, so the whole scan runs in git's C with one
pipe round trip per pipe-full, not per blob. A blob's verdict is memoised by id. Paths are bytes
as git stores them.

Why not pygit2: importing it costs 70 ms, half of a push that has nothing to copy (a hook runs
on every push, checkout and commit), and libgit2's reads of many small objects were no faster
than cat-file's (see revlist.py for the walk itself).
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TypeVar

from ..errors import GitError
from ..pointer import SIZE_CUTOFF, SLOTS, Pointer, parse
from .revlist import FSCK_HINT, missing_object, small_blobs
from .run import first_line, git_command, run_git, stream_git

T = TypeVar("T")


@dataclass(frozen=True, **SLOTS)
class Hit:
    pointer: Pointer
    path: bytes  # repository-relative, as git stores it ("" for a blob named directly)
    blob: str = ""  # the git blob that holds the pointer
    commit: str | None = None  # hex of a commit that brings it, when known


class Scanner:
    def __init__(self, cwd: str | None = None) -> None:
        self.cwd = cwd
        self._verdict: dict[str, Pointer | None] = {}

    def pointers(self, options: Sequence[str], revs: Iterable[str] = ()) -> dict[str, Hit]:
        """Every pointer `git rev-list --objects <options> <revs>` reaches, keyed by oid (the
        first path git lists for it kept)."""
        hits: dict[str, Hit] = {}
        for blob, path, p in self._read(small_blobs(options, revs, self.cwd)):
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
        return [Hit(p, path, blob) for blob, path, p in self._read(self._tree_blobs(commit))
                if p is not None]  # fmt: skip

    def _tree_blobs(self, commit: str) -> Iterator[tuple[str, bytes]]:
        for rec in stream_git(["ls-tree", "-r", "-z", "-l", "--full-tree", commit],
                              sep=b"\0", cwd=self.cwd):  # fmt: skip
            meta, _, path = rec.partition(b"\t")
            mode, kind, blob, size = meta.split(None, 3)
            # a size git cannot read ("BAD": the blob is missing) goes to cat-file, which says so
            small = not size.isdigit() or int(size) <= SIZE_CUTOFF
            if kind == b"blob" and mode != b"120000" and small:
                yield blob.decode("ascii"), path

    def _read(self, blobs: Iterable[tuple[str, T]]) -> Iterator[tuple[str, T, Pointer | None]]:
        """(blob, tag, the pointer it is or None) for each (blob, tag); a missing blob raises
        GitError (a damaged repository, or a partial clone that must fetch it first)."""
        verdict = self._verdict
        for blob, tag, data in cat_blobs(blobs, verdict, self.cwd):
            if data is not None:
                verdict[blob] = parse(data)
            yield blob, tag, verdict.setdefault(blob, None)  # None: known, or not a blob

    def blob_pointers(self, blobs: Iterable[str]) -> dict[str, Pointer | None]:
        """The pointer each of `blobs` holds (None: ordinary content, or not a blob). One
        `cat-file --batch-check` learns the sizes first, so no blob bigger than a pointer is
        read; a missing object raises GitError."""
        ids = list(dict.fromkeys(blobs))
        small = []
        verdict = self._verdict
        for blob, (kind, size) in zip(ids, self._batch_info(ids)):
            if kind == "missing":
                raise missing_object(blob, "blob")
            if kind == "blob" and size <= SIZE_CUTOFF:
                small.append((blob, blob))
            else:
                verdict.setdefault(blob, None)
        for _ in self._read(small):
            pass
        return {blob: verdict.get(blob) for blob in ids}

    def trees(self, revs: Sequence[str]) -> list[str | None]:
        """The tree each of `revs` names (a commit's, a tag's peeled); None where it names none."""
        return [sha if kind == "tree" else None
                for sha, kind in self._batch_check(f"{r}^{{tree}}" for r in revs)]  # fmt: skip

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

    def blob_ids(self, names: Sequence[str]) -> list[str | None]:
        """The blob each of `names` (say `<commit>:<path>`) names; None where it names none."""
        return [sha if kind == "blob" else None
                for sha, kind in self._batch_check(names)]  # fmt: skip

    def commit_sha(self, rev: str) -> str | None:
        return self.commit_shas([rev])[0]

    def commit_shas(self, revs: Sequence[str]) -> list[str | None]:
        """The commit each of `revs` names, tags peeled; None where it names none."""
        return [sha if kind == "commit" else None
                for sha, kind in self._batch_check(f"{r}^{{commit}}" for r in revs)]  # fmt: skip

    def existing(self, ids: Iterable[str]) -> list[str]:
        """The ids of `ids` that name an object here (a reflog or ORIG_HEAD may name one that
        was pruned)."""
        ids = list(ids)
        return [i for i, (_, kind) in zip(ids, self._batch_check(ids)) if kind != "missing"]

    def refs(self, prefixes: tuple[str, ...] = ("refs/",)) -> dict[str, str]:
        """{ref name: commit sha} for refs under `prefixes` that peel to a commit."""
        out = run_git(["for-each-ref", "--format=%(objectname) %(refname)", *prefixes],
                      cwd=self.cwd).stdout  # fmt: skip
        pairs = [line.split(" ", 1) for line in out.decode("utf-8", "replace").splitlines()]
        shas = self.commit_shas([sha for sha, _ in pairs])
        return {name: sha for (_, name), sha in zip(pairs, shas) if sha is not None}

    def _batch_info(self, ids: Sequence[str]) -> list[tuple[str, int]]:
        """(type, size) of each object id, ("missing", 0) where there is none."""
        if not ids:
            return []
        out = run_git(["cat-file", "--batch-check=%(objecttype) %(objectsize)"], cwd=self.cwd,
                      input="".join(f"{i}\n" for i in ids).encode()).stdout  # fmt: skip
        result = []
        for line in out.decode("utf-8", "replace").splitlines():
            kind, _, size = line.rpartition(" ")
            # "<id> missing": no size; kind is then the id itself
            result.append((kind, int(size)) if size.isdigit() else ("missing", 0))
        return result

    def _batch_check(self, names: Iterable[str]) -> list[tuple[str, str]]:
        """(object id, type) for each name, ("", "missing") where it names nothing."""
        lines = list(names)
        if not lines:
            return []
        if any("\n" in n for n in lines):
            raise GitError("a revision name with a newline", "name a branch, tag or commit")
        out = run_git(["cat-file", "--batch-check=%(objectname) %(objecttype)"], cwd=self.cwd,
                      input="".join(f"{n}\n" for n in lines).encode()).stdout  # fmt: skip
        result = []
        for line in out.decode("utf-8", "replace").splitlines():
            sha, _, kind = line.rpartition(" ")
            result.append(("", "missing") if kind in ("missing", "ambiguous") else (sha, kind))
        return result


def cat_blobs(
    blobs: Iterable[tuple[str, T]], known: Container[str], cwd: str | None
) -> Iterator[tuple[str, T, bytes | None]]:
    """(blob, tag, content) for each (blob, tag) of `blobs`, in order, read by one
    `git cat-file --batch`; content is None for a blob in `known` (not read again) and for an
    object that is not a blob. A thread feeds cat-file while this one reads, so neither pipe can
    fill up; what is in flight is bounded by the pipes. A missing object raises GitError."""
    proc = subprocess.Popen(
        git_command(["cat-file", "--batch"]),
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    sent: queue.SimpleQueue[tuple[str, T, bool] | BaseException | None] = queue.SimpleQueue()

    def feed(stdin: IO[bytes]) -> None:
        try:
            for blob, tag in blobs:
                read = blob not in known
                sent.put((blob, tag, read))
                if read:
                    stdin.write(blob.encode("ascii") + b"\n")
            sent.put(None)
        except BrokenPipeError:
            sent.put(None)  # cat-file died: its status says why
        except BaseException as e:  # the walk that feeds us failed: raised below
            sent.put(e)
        finally:
            try:
                stdin.close()
            except BrokenPipeError:
                pass

    feeder = threading.Thread(target=feed, args=(proc.stdin,), name="cat-file feed", daemon=True)
    feeder.start()
    done = False
    try:
        while (item := sent.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            blob, tag, read = item
            if not read:
                yield blob, tag, None
                continue
            parts = proc.stdout.readline().split()
            if len(parts) != 3:
                raise missing_object(blob)
            data = proc.stdout.read(int(parts[2]) + 1)[:-1]
            yield blob, tag, data if parts[1] == b"blob" else None
        done = True
    finally:
        if not done:
            proc.kill()  # unblocks the feeder if it is writing
        feeder.join()
        proc.stdout.close()
        err = proc.stderr.read()
        status = proc.wait()
    if status != 0:
        raise GitError(f"`git cat-file --batch` failed: {first_line(err)}", FSCK_HINT)
