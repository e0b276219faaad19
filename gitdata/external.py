"""Another gitdata repository, read without cloning it: `git data get` and `git data ls`
(docs/commands.md, "git data get").

One revision of it is fetched into a temporary bare repository (git/shallow.py: its commit, its
trees and its small blobs, so every pointer); its files are listed from there; its store is the
one a clone of it would download from (resolve.for_repository), chosen from its `.gitdata.toml`
at that revision, read under the same rules as a worktree's, and the user's own git config. The
repository this command runs in, if any, is not touched: not its cache, not its config.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from . import config, resolve
from .config import mask_userinfo, redact_url
from .context import (
    MAX_CONFIG_SIZE,
    config_text,
    not_a_file_error,
    symlink_error,
    too_big_error,
)
from .errors import GitDataError
from .git import config as git_config
from .git.shallow import ShallowRepo, TreeEntry, clean_env
from .names import quote
from .pointer import SIZE_CUTOFF, Pointer, parse

#: For a local path, git runs upload-pack itself: let it filter (`uploadpack.allowFilter` is off
#: by default, and a repository on disk is rarely configured as a server), so that big files
#: stored in Git itself are fetched only when needed, as from a hosting service.
LOCAL_UPLOAD_PACK = (
    "git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true upload-pack"
)

KINDS = {"100644": "file", "100755": "file", "120000": "link", "160000": "submodule"}


@dataclass(frozen=True)
class Entry:
    path: bytes  # from the top of the repository
    kind: str  # "data" (a pointer), "file" (stored in Git itself), "link", "submodule"
    mode: str
    blob: str
    size: int | None  # the data file's size (its pointer's); None for a submodule
    pointer: Pointer | None = None

    @property
    def executable(self) -> bool:
        return self.mode == "100755"


class External:
    def __init__(self, url: str, rev: str | None, repo: ShallowRepo, commit: str) -> None:
        self.url = url
        self.display = redact_url(url)
        self.rev = rev
        self.repo = repo
        self.commit = commit

    @property
    def where(self) -> str:
        """The repository and revision, for messages."""
        return f"{self.display} at {self.rev or 'HEAD'} ({self.commit[:10]})"

    @property
    def name(self) -> bytes:
        """A name for the whole repository (`get URL .`): the last part of its URL, less `.git`."""
        last = self.url.rstrip("/").replace(":", "/").rsplit("/", 1)[-1]
        last = last[: -len(".git")] if last.endswith(".git") else last
        return os.fsencode(last) if last not in ("", ".", "..") else b"repository"

    @cached_property
    def tree(self) -> list[TreeEntry]:
        return self.repo.tree(self.commit)

    def entries(self, path: bytes) -> list[Entry]:
        """The files at `path` (a file, or a folder and everything below it; b"" for all), with
        their sizes: blobs the fetch left out are fetched now, in one batch."""
        chosen = [
            e for e in self.tree if not path or e.path == path or e.path.startswith(path + b"/")
        ]
        if not chosen:
            raise GitDataError(
                f"'{quote(path)}' is not in {self.where}",
                "`git data ls URL` lists its files; paths start at the top of the repository",
            )
        blobs = [e.blob for e in chosen if e.mode != "160000"]
        sizes = self._sizes(blobs)
        small = [b for b in blobs if sizes[b] <= SIZE_CUTOFF]
        pointers = {b: parse(data) for b, data in self.repo.read_blobs(dict.fromkeys(small))}
        out = []
        for e in chosen:
            kind = KINDS.get(e.mode, "file")
            p = pointers.get(e.blob) if kind == "file" else None
            if p is not None:
                out.append(Entry(e.path, "data", e.mode, e.blob, p.size, p))
            else:
                out.append(Entry(e.path, kind, e.mode, e.blob, sizes.get(e.blob)))
        return out

    def _sizes(self, blobs: list[str]) -> dict[str, int]:
        sizes = self.repo.sizes()
        missing = [b for b in blobs if b not in sizes]
        if missing:
            self.repo.fetch_blobs(missing, self.display)
            sizes = self.repo.sizes()
            lost = [b for b in missing if b not in sizes]
            if lost:
                raise GitDataError(
                    f"{self.display} did not send {len(lost)} file(s) stored in Git",
                    "try again; the repository may be damaged (`git fsck` there)",
                )
        return sizes

    def settings(self) -> config.Settings:
        """Its `.gitdata.toml` at this revision merged with the user's own git config (global,
        system, `git -c`; not the config of the repository this runs in)."""
        name = f"{self.display}:{self.commit[:10]}:{config.CONFIG_FILE}"
        found = [e for e in self.tree if e.path == config.CONFIG_FILE.encode()]
        doc = None
        if found:
            e = found[0]
            if e.mode == "120000":
                raise symlink_error(name)
            if e.mode == "160000":
                raise not_a_file_error(name)
            size = self._sizes([e.blob])[e.blob]
            if size > MAX_CONFIG_SIZE:
                raise too_big_error(name)
            ((_, data),) = self.repo.read_blobs([e.blob])
            doc = config.parse_config_file(config_text(data, name), name)
        return config.merge(
            file_doc=doc,
            git_config=git_config.read_config(self.repo.git_dir),
            environ=os.environ,
            file_name=name if found else config.CONFIG_FILE,
        )

    def store(self) -> tuple[config.Settings, resolve.Resolution]:
        s = self.settings()
        return s, resolve.for_repository(s, self.url, os.getcwd())


def repo_path(path: str) -> bytes:
    """PATH as the repository names it: from its top, `/`-separated, without `./` or a
    trailing `/`; b"" for the whole repository. The bytes of the command line are kept (a name
    that is not UTF-8 can be given as it is)."""
    parts = [p for p in os.fsencode(path).split(b"/") if p not in (b"", b".")]
    return b"/".join(parts)


def git_url(url: str) -> str:
    """The URL as git is given it from the temporary repository: a relative path made
    absolute (it is taken from where the user is, not from there)."""
    if resolve.is_local_url(url) and not url.startswith("file://"):
        return os.path.abspath(os.path.expanduser(url))
    return url


@contextmanager
def opened(url: str, rev: str | None) -> Iterator[External]:
    """Revision `rev` (default: its HEAD) of the repository at `url`, fetched into a
    temporary directory that is removed afterwards."""
    clean_env()

    def redact(text: str) -> str:
        return redact_url(mask_userinfo(text, url))

    tmp = tempfile.mkdtemp(prefix="git-data-get-")
    try:
        local = resolve.is_local_url(url)
        repo, commit = ShallowRepo.fetch(
            git_url(url),
            rev,
            os.path.join(tmp, "repo.git"),
            redact_url(url),
            redact,
            upload_pack=LOCAL_UPLOAD_PACK if local else None,
        )
        yield External(url, rev, repo, commit)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
