"""Which paths changed, by git's own diff machinery, as raw records: two trees (`diff-tree`), a
tree and the index (`diff-index --cached`), a tree and the worktree (`diff-index`).

Plumbing rather than `git diff`: its output does not depend on the user's `diff.*` config, and
it never writes the index (porcelain `git diff` refreshes it and may write it back). Our filter
is disabled (run.py), so git does not clean worktree files here: a file whose stat data differs
from its index entry comes back with the null id, which means "look at the worktree" (see
diff-index(1)). The caller decides what pointer such a file would get. `--no-renames`: pairing
renames is ours to do by oid, and git's similarity scores mean nothing for pointers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import GitError
from .run import run_git, split_z

#: Modes of regular files, the only ones a pointer can be (not links, not submodules).
REGULAR = (0o100644, 0o100755)


@dataclass(frozen=True)
class RawChange:
    status: str  # git's letter: A, D, M, T (type change), U (unmerged), X
    path: bytes  # relative to the top of the worktree
    old_mode: int
    new_mode: int
    old_blob: str  # the null id when there is no old side
    new_blob: str  # the null id when there is no new side, or it is in the worktree

    @property
    def old_is_file(self) -> bool:
        return self.old_mode in REGULAR

    @property
    def new_is_file(self) -> bool:
        return self.new_mode in REGULAR


def is_null(blob: str) -> bool:
    return not blob.strip("0")


def diff_trees(
    old: str, new: str, pathspecs: Sequence[str] = (), cwd: str | None = None
) -> list[RawChange]:
    """What changed from tree-ish `old` to tree-ish `new` (object ids: resolve names first)."""
    return _raw(["diff-tree", "-r", old, new], pathspecs, cwd)


def diff_index(
    old: str, cached: bool, pathspecs: Sequence[str] = (), cwd: str | None = None
) -> list[RawChange]:
    """What changed from tree-ish `old` to the index (`cached`) or to the worktree."""
    return _raw(["diff-index", *(["--cached"] if cached else []), old], pathspecs, cwd)


def _raw(args: list[str], pathspecs: Sequence[str], cwd: str | None) -> list[RawChange]:
    # pathspecs are taken relative to `cwd`, as the user typed them; paths come back top-relative
    out = run_git(
        [args[0], "-z", "--raw", "--no-renames", "--ignore-submodules", *args[1:], "--",
         *pathspecs],
        cwd=cwd,
    ).stdout  # fmt: skip
    return parse_raw(out)


def parse_raw(out: bytes) -> list[RawChange]:
    """Parse `--raw -z --no-renames` output: `:old_mode new_mode old new X\\0path\\0` each."""
    recs = split_z(out)
    changes = []
    for meta, path in zip(recs[0::2], recs[1::2]):
        fields = meta.decode("ascii").lstrip(":").split(" ")
        if len(fields) != 5:
            raise GitError(f"unexpected `git diff --raw` record {meta!r}", "report this as a bug")
        old_mode, new_mode, old_blob, new_blob, status = fields
        changes.append(
            RawChange(status[:1], path, int(old_mode, 8), int(new_mode, 8), old_blob, new_blob)
        )
    return changes


def empty_tree(cwd: str | None = None) -> str:
    """The id of the empty tree in this repository's hash (SHA-1 or SHA-256): the "before" of
    a repository with no commit yet."""
    out = run_git(["hash-object", "-t", "tree", "--stdin"], input=b"", cwd=cwd).stdout
    return out.decode("ascii").strip()


def merge_base(a: str, b: str, cwd: str | None = None) -> str | None:
    proc = run_git(["merge-base", "--end-of-options", a, b], cwd=cwd, check=False)
    sha = proc.stdout.decode("ascii", "replace").strip()
    return sha or None
