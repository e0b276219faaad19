"""git's plumbing for rewriting history (`git data migrate`): fast-export and fast-import
processes, a streaming blob reader, a blob writer, and one ref transaction.

Everything here is bytes at the boundary: paths are as git stores them, and blobs travel in
pieces of at most hashing.CHUNK, so a file of any size costs a constant amount of memory.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from ..errors import GitError
from .revlist import FSCK_HINT, missing_object
from .run import first_line, git_command, run_git, stream_git

HINT = "run the command above by hand to see git's full message"

#: For the processes that read every big blob: git maps pack files in windows of up to 1 GiB
#: (8 GiB in all) and caches delta bases up to 96 MiB; the pages it touched count in its
#: memory. Small windows keep a migration of a 10 GiB history under 100 MiB.
LOW_MEMORY = (
    "-c",
    "core.packedGitWindowSize=16m",
    "-c",
    "core.packedGitLimit=64m",
    "-c",
    "core.deltaBaseCacheLimit=16m",
)


#: pid -> the temporary file its stderr goes to: a pipe nobody reads while the streams flow
#: could fill up and stop git (a warning per tag, say) with everything waiting on everything.
_ERR: dict[int, IO[bytes]] = {}


def _popen(args: Sequence[str], cwd: str | None, stdout: int | IO[bytes] | None = subprocess.PIPE):
    err = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(
            git_command(args), cwd=cwd, stdin=subprocess.PIPE, stdout=stdout, stderr=err
        )
    except FileNotFoundError as e:
        err.close()
        raise GitError("git is not installed or not on PATH", "install git 2.32 or newer") from e
    _ERR[proc.pid] = err
    return proc


def finish(proc: subprocess.Popen[bytes], what: str) -> None:
    """Wait for `proc`; a non-zero status is a GitError with git's own last message."""
    if proc.stdin and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    status = proc.wait()
    err = _ERR.pop(proc.pid, None)
    text = b""
    if err is not None:
        err.seek(0)
        text = err.read(1 << 16)
        err.close()
    if status != 0:
        raise GitError(f"`git {what}` failed: {first_line(text)}", HINT)


class BlobReader:
    """`git cat-file --batch`, one blob at a time: `open(id)` gives the size, then `readinto`
    hands out its bytes in pieces until they are all read (the caller must read them all)."""

    def __init__(self, cwd: str | None = None) -> None:
        self.proc = _popen([*LOW_MEMORY, "cat-file", "--batch"], cwd)
        self._left = 0

    def open(self, blob: str) -> int:
        assert self._left == 0 and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(blob.encode("ascii") + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline()
        parts = header.split()
        if len(parts) != 3 or parts[1] != b"blob":
            if header.endswith(b" missing\n"):
                raise missing_object(blob, "blob")
            raise GitError(f"`git cat-file --batch` said {header!r} for blob {blob}", FSCK_HINT)
        self._left = int(parts[2])
        self._tail = True
        return self._left

    def readinto(self, buf: bytearray | memoryview) -> int:
        assert self.proc.stdout
        if self._left == 0:
            if self._tail:
                self.proc.stdout.read(1)  # the LF after the content
                self._tail = False
            return 0
        view = memoryview(buf)[: min(len(buf), self._left)]
        n = self.proc.stdout.readinto(view)
        if not n:
            raise GitError("`git cat-file --batch` ended in the middle of a blob", FSCK_HINT)
        self._left -= n
        return n

    def read_rest(self) -> bytes:
        """The rest of the open blob, at once: for small ones."""
        assert self.proc.stdout
        data = self.proc.stdout.read(self._left)
        self._left = 0
        self.readinto(bytearray(0))
        return data

    def skip_rest(self) -> None:
        buf = bytearray(1 << 16)
        while self.readinto(buf):
            pass

    def read_all(self, blob: str) -> bytes:
        """A small blob's bytes."""
        self.open(blob)
        return self.read_rest()

    def close(self) -> None:
        finish(self.proc, "cat-file --batch")

    def kill(self) -> None:
        """Stop it in the middle of anything (after a failure elsewhere)."""
        kill(self.proc)


class BlobWriter:
    """`git hash-object -w --stdin-paths --no-filters`: files written into the repository as
    blobs, as they are (git reads them itself; nothing goes through this process's memory)."""

    def __init__(self, cwd: str | None = None) -> None:
        self.proc = _popen(["hash-object", "-w", "--no-filters", "--stdin-paths"], cwd)

    def write(self, path: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(path.encode() + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        if not line:
            finish(self.proc, "hash-object -w --stdin-paths")
            raise GitError("`git hash-object` stopped", HINT)
        return line.decode("ascii")

    def close(self) -> None:
        finish(self.proc, "hash-object -w --stdin-paths")


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()
    err = _ERR.pop(proc.pid, None)
    if err is not None:
        err.close()


def fast_export(refs: Sequence[str], marks: str, cwd: str | None) -> subprocess.Popen[bytes]:
    """The history behind `refs` as a fast-import stream, files named by blob id (`--no-data`:
    no file's bytes go through the pipe), tags of commits included, signatures dropped."""
    args = [
        "fast-export",
        "--no-data",
        "--use-done-feature",
        "--signed-tags=strip",
        "--tag-of-filtered-object=rewrite",
        "--mark-tags",  # else a tag of a tag stops it (the tags are not imported anyway)
        "--reencode=no",
        f"--export-marks={marks}",
        *refs,
    ]
    return _popen(args, cwd)


def fast_import(marks: str, cwd: str | None) -> subprocess.Popen[bytes]:
    return _popen(["fast-import", "--quiet", f"--export-marks={marks}"], cwd, subprocess.DEVNULL)


def read_marks(path: str) -> dict[str, str]:
    """`:mark id` lines: mark -> object id."""
    out = {}
    with open(path, "rb") as f:
        for line in f:
            mark, _, oid = line.strip().partition(b" ")
            out[mark.decode()] = oid.decode()
    return out


@dataclass(frozen=True)
class RefInfo:
    name: str  # refs/heads/main
    oid: str  # what the ref holds
    kind: str  # its object type: commit, tag...
    peeled: str  # the commit it leads to ("" when it leads to no commit)


def list_refs(patterns: Sequence[str], cwd: str | None = None) -> list[RefInfo]:
    fmt = "%(refname)%00%(objectname)%00%(objecttype)%00%(*objectname)%00%(*objecttype)"
    out = []
    for line in stream_git(["for-each-ref", f"--format={fmt}", *patterns], cwd=cwd):
        if not line:
            continue
        name, oid, kind, peeled, peeled_kind = line.decode().split("\0")
        commit = oid if kind == "commit" else (peeled if peeled_kind == "commit" else "")
        if peeled_kind == "tag":  # a tag of a tag: `*` peels one level only
            found = run_git(["rev-parse", "-q", "--verify", f"{oid}^{{commit}}"], cwd=cwd,
                            check=False)  # fmt: skip
            commit = found.stdout.decode().strip() if found.returncode == 0 else ""
        out.append(RefInfo(name, oid, kind, commit))
    return out


def changes(revs: Sequence[str], cwd: str | None = None) -> Iterator[tuple[bytes, str, bytes]]:
    """(mode, blob, path) of every file version that the commits behind `revs` bring, each
    commit against its first parent (as fast-export sees them); deletions are left out."""
    args = ["log", "--raw", "-z", "--no-renames", "--no-abbrev", "--format=", "--root"]
    args += ["--diff-merges=first-parent", *revs, "--"]
    recs = stream_git(args, sep=b"\0", cwd=cwd)
    for rec in recs:
        rec = rec.lstrip(b"\n")
        if not rec.startswith(b":"):
            continue
        _, new_mode, _, new_blob, status = rec[1:].split(b" ")
        path = next(recs)
        if status != b"D" and new_mode in (b"100644", b"100755"):
            yield new_mode, new_blob.decode("ascii"), path


def tree_files(commit: str, cwd: str | None = None) -> Iterator[tuple[bytes, str, bytes]]:
    """(mode, blob, path) of every regular file of `commit`."""
    for rec in stream_git(["ls-tree", "-r", "-z", "--full-tree", commit], sep=b"\0", cwd=cwd):
        meta, _, path = rec.partition(b"\t")
        mode, kind, blob = meta.split()
        if kind == b"blob" and mode in (b"100644", b"100755"):
            yield mode, blob.decode("ascii"), path


def committer(cwd: str | None = None) -> bytes:
    """`Name <email> time zone`, as git would sign a commit made now."""
    return run_git(["var", "GIT_COMMITTER_IDENT"], cwd=cwd).stdout.strip()


def sizes(blobs: Iterable[str], cwd: str | None = None) -> dict[str, int]:
    ids = list(blobs)
    if not ids:
        return {}
    out = run_git(
        ["cat-file", "--batch-check=%(objectname) %(objectsize)"],
        input=b"".join(b.encode("ascii") + b"\n" for b in ids),
        cwd=cwd,
    ).stdout
    found = {}
    for line in out.splitlines():
        oid, _, size = line.partition(b" ")
        if size.isdigit():
            found[oid.decode()] = int(size)
    return found


def detached_head(cwd: str | None = None) -> str | None:
    """HEAD's commit when HEAD is detached; None when it names a branch (or nothing)."""
    if run_git(["symbolic-ref", "-q", "HEAD"], cwd=cwd, check=False).returncode == 0:
        return None
    out = run_git(["rev-parse", "-q", "--verify", "HEAD^{commit}"], cwd=cwd, check=False)
    return out.stdout.strip().decode("ascii") or None


def make_tag(text: bytes, cwd: str | None = None) -> str:
    return run_git(["mktag"], input=text, cwd=cwd).stdout.strip().decode("ascii")


def cat_object(kind: str, oid: str, cwd: str | None = None) -> bytes:
    return run_git(["cat-file", kind, oid], cwd=cwd).stdout


def transaction(lines: Iterable[str], cwd: str | None = None) -> None:
    """One `git update-ref --stdin` transaction: every line applies, or none."""
    body = "".join(line + "\n" for line in lines)
    if not body:
        return
    text = "start\n" + body + "prepare\ncommit\n"
    run_git(["update-ref", "--stdin"], input=text.encode(), cwd=cwd)
