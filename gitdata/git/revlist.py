"""Which blobs small enough to be pointers a set of revisions reaches, by git's own rules.

`git rev-list --objects` decides, with the options git's own commands use: `A ^B` is what a
push of A adds to a remote that has B, `--all --reflog --indexed-objects` is what `git gc` keeps
(every worktree's HEAD, refs, reflogs and index, split and sparse indexes included). The filter
leaves only blobs of at most SIZE_CUTOFF bytes, so the walk runs in C, reads no big blob and
prints only candidates; `git cat-file --batch` then reads those (Scanner). Each object is
listed once, under the first path git meets it at.

Measured on 10,000 commits and 20,000 pointers: libgit2's reads of the 40,000 trees alone took
longer than this whole walk. (Issue 4 asked for a walk with pygit2 *and* the speed of
`git rev-list --objects --all`; the second needs the walk to be git's.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from ..errors import GitError
from ..pointer import SIZE_CUTOFF
from .run import stream_git

#: Omit every object but blobs, and blobs of more than SIZE_CUTOFF bytes (`blob:limit=N` omits
#: sizes of N and up). `--filter-provided-objects` applies it to objects named directly too
#: (index entries, a tag of a blob). Needs git 2.32.
FILTER = (
    f"--filter=combine:blob:limit={SIZE_CUTOFF + 1}+object:type=blob",
    "--filter-provided-objects",
)


def small_blobs(
    options: Sequence[str], revs: Iterable[str] = (), cwd: str | None = None
) -> Iterator[tuple[str, bytes]]:
    """(blob id, path) for every small blob `git rev-list --objects <options> <revs>` reaches.
    Revisions go through stdin (`^X` excludes X), so there may be any number of them."""
    lines = stream_git(
        ["rev-list", "--objects", *FILTER, *options, "--stdin"],
        input_lines=(r.encode() for r in revs),
        cwd=cwd,
    )
    try:
        for line in lines:
            # "<id> <path>"; an object named directly (a tag of a blob) has no path. The filter
            # leaves no commit or tree here, and the reader checks each object's type anyway.
            sha, _, path = line.partition(b" ")
            yield sha.decode("ascii"), path
    except GitError as e:
        m = _MISSING.search(e.message)
        if m is None:
            raise GitError(f"cannot walk the history: {e.message.split(': ', 1)[-1]}",
                           FSCK_HINT) from None  # fmt: skip
        raise missing_object(m.group(3), m.group(2) or "object") from None


def missing_object(oid: str, kind: str = "object") -> GitError:
    return GitError(
        f"{kind} {oid} is missing from the repository",
        FSCK_HINT + "; a partial or shallow clone must fetch it first",
    )


_MISSING = re.compile(r"(bad|missing) (?:(commit|tree|blob) )?object ([0-9a-f]{40,64})")
FSCK_HINT = "`git fsck` tells what is damaged"
