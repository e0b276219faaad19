"""One repository as gitdata sees it: paths, settings, cache. Everything is computed on first use
and at most once per process, so that a filter process pays only for what it touches."""

from __future__ import annotations

import os
import stat
from functools import cached_property

from . import config
from .cache import Cache, cache_root
from .errors import ConfigError
from .git import config as git_config
from .git.paths import RepoPaths, repo_paths
from .statcache import StatCache

#: A `.gitdata.toml` is a few lines; anything bigger is not one.
MAX_CONFIG_SIZE = 1 << 20


def read_worktree_config(path: str, name: str) -> str | None:
    """The text of the worktree's `.gitdata.toml`, or None when there is none.

    The file comes from the repository, so it is opened as git opens an in-tree
    `.gitattributes` (2.32+): never through a symlink (a committed `.gitdata.toml -> /dev/zero`
    would never end), only a regular file, and only a small one.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as e:
        if os.path.islink(path):
            raise symlink_error(name) from e
        raise ConfigError(f"cannot read {name}: {e.strerror}", f"fix or remove {name}") from e
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise not_a_file_error(name)
        data = f.read(MAX_CONFIG_SIZE + 1)
    return config_text(data, name)


def symlink_error(name: str) -> ConfigError:
    return ConfigError(
        f"{name} is a symbolic link; gitdata reads it only as a regular file",
        f"replace the link by the file itself, or remove {name}",
    )


def not_a_file_error(name: str) -> ConfigError:
    return ConfigError(f"{name} is not a regular file", f"remove {name}")


def too_big_error(name: str) -> ConfigError:
    return ConfigError(f"{name} is larger than 1 MiB", f"fix or remove {name}")


def config_text(data: bytes, name: str) -> str:
    """`.gitdata.toml`'s bytes as text, under the same rules wherever they come from (the
    worktree, HEAD, another repository's commit)."""
    if len(data) > MAX_CONFIG_SIZE:
        raise too_big_error(name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{name}: not UTF-8 ({e.reason})", f"fix or remove {name}") from e


class Context:
    def __init__(self, cwd: str | None = None) -> None:
        self.cwd = cwd

    @cached_property
    def paths(self) -> RepoPaths:
        return repo_paths(self.cwd)

    @cached_property
    def git_config(self) -> git_config.GitConfig:
        return git_config.read_config(self.cwd)

    @cached_property
    def config_doc(self) -> dict[str, object] | None:
        """`.gitdata.toml` from the worktree, else from HEAD (during a clone's checkout)."""
        name = config.CONFIG_FILE
        text: str | None = None
        top = self.paths.toplevel
        if top is not None:
            text = read_worktree_config(os.path.join(top, name), name)
        if text is None:
            found = git_config.read_head_file(name, MAX_CONFIG_SIZE, cwd=self.cwd)
            if found is None:
                return None
            name = f"HEAD:{name}"
            if found[1] is None:
                raise too_big_error(name)
            text = config_text(found[1], name)
        return config.parse_config_file(text, name)

    @cached_property
    def settings(self) -> config.Settings:
        return config.merge(
            file_doc=self.config_doc,
            git_config=self.git_config,
            environ=os.environ,
        )

    @cached_property
    def cache(self) -> Cache:
        """`<common dir>/data/objects`, or `git config data.cachedir` (a relative one is taken
        from the top of the work tree): docs/formats.md, "Local cache"."""
        cachedir = git_config.last(self.git_config, "data.cachedir")
        base = self.paths.toplevel or self.paths.git_dir
        return Cache(cache_root(self.paths.data_dir, base, cachedir))

    @cached_property
    def quote_path(self) -> bool:
        """`core.quotePath` (default true): whether paths printed for people escape bytes of
        0x80 and up, as git's own output does (names.quote)."""
        value = git_config.last(self.git_config, "core.quotepath")
        return (value or "true").lower() not in ("false", "no", "off", "0")

    @cached_property
    def stat_cache(self) -> StatCache:
        return StatCache(os.path.join(self.paths.data_dir, "stat"))
