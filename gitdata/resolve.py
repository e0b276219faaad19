"""Which store a Git remote's bytes live in (docs/configuration.md, "Which store a Git remote
uses").

For a Git remote R: data remote R (git config keys over the file's, key by key); else the default
data remote; else, when R is a local path, the embedded store `data/objects` inside R's git
directory; else an error that says how to configure one. Downloads use the current branch's
upstream remote, else `origin`, else the only remote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable
from urllib.parse import unquote

from .config import RemoteConfig, Settings, redact_url
from .context import Context
from .errors import ConfigError
from .git import config as git_config
from .storage import StoreSpec


@dataclass(frozen=True)
class Resolution:
    spec: StoreSpec
    how: str  # why this store: "data remote 'x'", "default data remote 'x'", "embedded"


def _spec(rc: RemoteConfig) -> StoreSpec:
    return StoreSpec(
        url=rc.url, endpoint_url=rc.endpoint_url, region=rc.region, profile=rc.profile, name=rc.name
    )


def for_git_remote(ctx: Context, remote: str) -> Resolution:
    """The store for Git remote `remote` (a name, or the URL git was given to push to)."""
    s = ctx.settings
    url = s.git_remotes.get(remote, remote)
    found = _choose(s, remote, url, lambda: ctx.paths.toplevel or ctx.paths.git_dir)
    if found is not None:
        return found
    # git hands the hook the URL as typed, credentials and all: never repeat them
    raise ConfigError(
        f"no data remote for Git remote '{redact_url(remote)}' ({redact_url(url)})",
        f"configure one: git data remote add {remote} s3://bucket/prefix"
        if remote in s.git_remotes
        else "configure one: git data remote add NAME s3://bucket/prefix --default",
    )


def for_repository(s: Settings, url: str, base: str) -> Resolution:
    """The store of another repository at `url`, for `git data get`: the one a clone of it
    would download from, its Git remote being `origin` (`s` merges that repository's
    .gitdata.toml with the user's git config)."""
    found = _choose(s, "origin", url, lambda: base)
    if found is not None:
        return found
    raise ConfigError(
        f"{redact_url(url)} names no store for its data files (its .gitdata.toml has no data "
        "remote 'origin' and no default)",
        "name one for this command: git -c data.remote.origin.url=s3://bucket/prefix data get …",
    )


def _choose(s: Settings, remote: str, url: str, base: Callable[[], str]) -> Resolution | None:
    """docs/configuration.md, "Which store a Git remote uses", steps 1 to 3 (`base`: the
    directory a relative path is taken from, asked for only then)."""
    if remote in s.remotes:
        return Resolution(_spec(s.remotes[remote]), f"data remote '{remote}'")
    if s.default_remote:
        if s.default_remote not in s.remotes:
            raise ConfigError(
                f"the default data remote '{s.default_remote}' is not defined",
                f"define it: git data remote add {s.default_remote} s3://bucket/prefix",
            )
        return Resolution(
            _spec(s.remotes[s.default_remote]), f"default data remote '{s.default_remote}'"
        )
    gitdir = local_git_dir(url, base()) if is_local_url(url) else None
    if gitdir is not None:
        root = os.path.join(gitdir, "data", "objects")
        how = f"embedded in Git remote '{redact_url(remote)}'"
        return Resolution(StoreSpec(url=root, name=remote), how)
    return None


def download_remote(ctx: Context) -> str | None:
    """The Git remote downloads use: upstream of the current branch, else origin, else the only."""
    s = ctx.settings
    branch = git_config.current_branch(ctx.cwd)
    if branch:
        upstream = git_config.last(ctx.git_config, f"branch.{branch}.remote")
        if upstream and upstream != ".":
            return upstream
    if "origin" in s.git_remotes:
        return "origin"
    if len(s.git_remotes) == 1:
        return next(iter(s.git_remotes))
    return None


def for_download(ctx: Context, remote: str | None = None) -> Resolution:
    remote = remote or download_remote(ctx)
    if remote is not None:
        return for_git_remote(ctx, remote)
    s = ctx.settings
    if s.default_remote and s.default_remote in s.remotes:
        return Resolution(
            _spec(s.remotes[s.default_remote]), f"default data remote '{s.default_remote}'"
        )
    raise ConfigError(
        "this repository has no Git remote and no default data remote to download from",
        "add one: git data remote add NAME s3://bucket/prefix --default",
    )


def is_local_url(url: str) -> bool:
    """git's rule (connect.c): file://, or no "://" and no ':' before the first '/'."""
    if url.startswith("file://"):
        return True
    if "://" in url:
        return False
    colon = url.find(":")
    slash = url.find("/")
    return colon < 0 or (0 <= slash < colon)


def local_git_dir(url: str, base: str) -> str | None:
    """The git directory a local remote URL names (`repo.git`, `repo/.git`), or None."""
    if not is_local_url(url):
        return None
    path = unquote(url[len("file://") :]) if url.startswith("file://") else url
    path = os.path.normpath(os.path.join(base, os.path.expanduser(path)))
    for candidate in (os.path.join(path, ".git"), path, path + ".git"):
        if os.path.isfile(candidate) and os.path.basename(candidate) == ".git":
            gitdir = _read_gitfile(candidate)
            if gitdir:
                return _common_dir(gitdir)
        if (
            os.path.isdir(candidate)
            and os.path.isfile(os.path.join(candidate, "HEAD"))
            and (
                os.path.isdir(os.path.join(candidate, "objects"))
                or os.path.isfile(os.path.join(candidate, "commondir"))
            )
        ):
            return _common_dir(candidate)
    return None


def _read_gitfile(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            line = f.readline().strip()
    except OSError:
        return None
    if not line.startswith("gitdir:"):
        return None
    target = line[len("gitdir:") :].strip()
    return os.path.normpath(os.path.join(os.path.dirname(path), target))


def _common_dir(gitdir: str) -> str:
    try:
        with open(os.path.join(gitdir, "commondir"), encoding="utf-8") as f:
            return os.path.normpath(os.path.join(gitdir, f.read().strip()))
    except OSError:
        return os.path.abspath(gitdir)
