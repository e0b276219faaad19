"""One revision of another repository, fetched into a temporary bare repository: its commit, all
its trees and its blobs of at most SIZE_CUTOFF bytes (so every pointer), and nothing else.

`git data get` and `git data ls` read a repository this way instead of cloning it
(docs/commands.md, "git data get"). The fetch is `git fetch --depth 1 --filter=blob:limit=1025`
from a remote named `origin`: with a named remote, git 2.32 records it as the promisor of a
partial repository, so the blobs left out can be fetched later by id, in one batch
(fetch_blobs). A server that does not allow filters (`uploadpack.allowFilter`, off by default,
and so for local paths) sends every blob of that one commit instead: git says so in a warning
and goes on, and nothing is missing then.

Nothing here may read a missing blob by accident: in a partial repository, `git cat-file -s` or
`git ls-tree -l` on one fetches it, a connection per blob. So sizes come from the objects that
are present (`cat-file --batch-all-objects`), and blobs that are not are fetched in one go.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Callable

from ..errors import GitDataError, GitError
from ..pointer import SIZE_CUTOFF
from .run import git_command, run_git, split_z

#: `blob:limit=N` leaves out blobs of N bytes and more: pointers always come.
FILTER = f"blob:limit={SIZE_CUTOFF + 1}"

#: Variables that would make git look at another repository than the temporary one (a hook
#: that runs `git data get` has GIT_DIR set, for one): git's own local_repo_env, less the
#: user's `git -c` settings, which are wanted.
_REPO_ENV = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_GRAFT_FILE", "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE", "GIT_PREFIX", "GIT_SHALLOW_FILE", "GIT_NAMESPACE",
    "GIT_IMPLICIT_WORK_TREE", "GIT_QUARANTINE_PATH",
)  # fmt: skip

# A revision is given to `git fetch` as a refspec: only a name git can look up on the other
# side (a branch, a tag, a ref, a full commit id), never an option, a `src:dst` pair or a
# revision expression the other side cannot evaluate (`main~2`, `v1^{tree}`).
_BAD_REV = re.compile(r"^[-+]|[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|\.lock$|/$|^$")


class UnknownRevision(GitDataError):
    """The repository has no such revision (or will not give it)."""


class Unreachable(GitDataError):
    """The repository cannot be read: a wrong URL, no access, no network."""


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # "100644", "100755", "120000", "160000"
    blob: str  # the object id (a commit's for a submodule)
    path: bytes  # from the top of the repository, as git stores it


def check_rev(rev: str) -> None:
    if _BAD_REV.search(rev):
        raise UnknownRevision(
            f"'{rev}' is not a branch, tag or commit id",
            "name a branch, a tag or a full commit id: the revision is looked up on the other "
            "side, which does not evaluate expressions such as main~2",
        )


def clean_env() -> None:
    """Forget the repository this process runs in: every git command that follows works on the
    temporary repository named by its `cwd`."""
    for var in _REPO_ENV:
        os.environ.pop(var, None)


class ShallowRepo:
    def __init__(self, git_dir: str) -> None:
        self.git_dir = git_dir
        self.redact: Callable[[str], str] = lambda text: text

    @classmethod
    def fetch(
        cls,
        url: str,
        rev: str | None,
        git_dir: str,
        display: str,
        redact: Callable[[str], str],
        upload_pack: str | None = None,
    ) -> tuple[ShallowRepo, str]:
        """Fetch revision `rev` (None: the other side's HEAD) of `url` into a new bare repository
        at `git_dir`; return it and the commit. `display` is the URL as messages show it;
        `redact` masks credentials in git's messages; `upload_pack`, the command to run on the
        other side (for a local path: the same git, allowed to filter)."""
        if rev is not None:
            check_rev(rev)
        run_git(["init", "--quiet", "--bare", git_dir])
        repo = cls(git_dir)
        repo.redact = redact
        proc = repo._git(["remote", "add", "--", "origin", url], check=False)
        if proc.returncode != 0:
            raise Unreachable(
                f"cannot read the repository {display}: "
                f"{redact(_first_fatal(proc.stderr.decode('utf-8', 'replace')))}",
                "check the URL",
            )
        if upload_pack:
            repo._git(["config", "remote.origin.uploadpack", upload_pack])
        proc = repo._git(
            [
                "fetch", "--depth", "1", f"--filter={FILTER}", "--no-tags",
                "--no-recurse-submodules", "--no-auto-gc", "--no-progress", "origin",
                rev or "HEAD",
            ],
            check=False,
        )  # fmt: skip
        err = redact(proc.stderr.decode("utf-8", "replace"))
        if proc.returncode != 0:
            if rev is None and "couldn't find remote ref HEAD" in err:
                raise UnknownRevision(
                    f"{display} has no HEAD: it has no commit, or its HEAD names a missing branch",
                    "name a branch or a tag of it with --rev (`git ls-remote URL` lists them)",
                )
            if "couldn't find remote ref" in err or "not our ref" in err:
                raise UnknownRevision(
                    f"{display} has no revision '{rev}'",
                    "name a branch, a tag or a full commit id of it (`git ls-remote URL` lists "
                    "its branches and tags)",
                )
            raise Unreachable(
                f"cannot read the repository {display}: {_first_fatal(err)}",
                "check the URL, and that `git ls-remote URL` works from here",
            )
        proc = repo._git(["rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}"], check=False)
        commit = proc.stdout.decode("ascii", "replace").strip()
        if proc.returncode != 0 or not commit:
            raise UnknownRevision(
                f"{display}: '{rev or 'HEAD'}' is not a commit",
                "name a branch, a tag or a commit id",
            )
        return repo, commit

    def tree(self, commit: str) -> list[TreeEntry]:
        """Every file of `commit` (blobs, symbolic links, submodules), sorted as git sorts them;
        no blob is read."""
        out = self._git(["ls-tree", "-r", "-z", "--full-tree", commit]).stdout
        entries = []
        for rec in split_z(out):
            meta, _, path = rec.partition(b"\t")
            mode, _kind, oid = meta.decode("ascii").split()
            entries.append(TreeEntry(mode, oid, path))
        return entries

    def sizes(self) -> dict[str, int]:
        """{blob id: size} of the blobs present here (the others are left out by the filter)."""
        out = self._git(
            ["cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectname) "
             "%(objectsize)"]
        ).stdout  # fmt: skip
        found = {}
        for line in out.decode("ascii", "replace").splitlines():
            kind, oid, size = line.split()
            if kind == "blob":
                found[oid] = int(size)
        return found

    def fetch_blobs(self, blobs: Iterable[str], display: str) -> None:
        """Fetch the blobs the filter left out, in one request (what git's own lazy fetch runs
        for one blob at a time)."""
        ids = sorted(set(blobs))
        if not ids:
            return
        proc = self._git(
            ["-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", "--no-tags",
             "--no-write-fetch-head", "--recurse-submodules=no", "--no-auto-gc", "--no-progress",
             "--filter=blob:none", "origin", "--stdin"],
            input="".join(f"{i}\n" for i in ids).encode(),
            check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            why = self.redact(_first_fatal(proc.stderr.decode("utf-8", "replace")))
            raise Unreachable(
                f"cannot fetch {len(ids)} file(s) stored in Git from {display}: {why}",
                "check that `git ls-remote URL` works from here, and try again",
            )

    def read_blobs(self, blobs: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """(blob id, content) of present blobs, through one `git cat-file --batch`."""
        from .scan import cat_blobs

        for oid, _, data in cat_blobs(((b, None) for b in blobs), (), self.git_dir):
            assert data is not None
            yield oid, data

    def write_blob(self, blob: str, fout: int) -> None:
        """Stream one present blob into the open file descriptor `fout` (a blob too big to hold
        in memory)."""
        args = ["cat-file", "blob", blob]
        proc = subprocess.run(
            git_command(args),
            cwd=self.git_dir,
            stdin=subprocess.DEVNULL,
            stdout=fout,
            stderr=subprocess.PIPE,
        )
        if proc.returncode != 0:
            raise GitError(
                f"`git {' '.join(args)}` failed: {_first_fatal(proc.stderr.decode())}",
                "run the command again",
            )

    def _git(
        self, args: list[str], input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return run_git(args, cwd=self.git_dir, input=input, check=check)


def _first_fatal(stderr: str) -> str:
    """git's first `fatal:` line (the one that says why; later ones repeat the consequence,
    "Could not read from remote repository."), else its last line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("fatal:", "error:")):
            return ln
    return lines[-1] if lines else "no message"
