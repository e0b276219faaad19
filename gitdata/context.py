"""One repository as gitdata sees it: paths, settings, cache. Everything is computed on first use
and at most once per process, so that a filter process pays only for what it touches."""

from __future__ import annotations

import os
from functools import cached_property

from . import config
from .cache import Cache
from .errors import GitDataError
from .git import config as git_config
from .git.paths import RepoPaths, repo_paths
from .statcache import StatCache


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
            try:
                with open(os.path.join(top, name), encoding="utf-8") as f:
                    text = f.read()
            except FileNotFoundError:
                pass
            except (OSError, UnicodeDecodeError) as e:
                raise GitDataError(f"cannot read {name}: {e}", f"fix or remove {name}") from e
        if text is None:
            blob = git_config.read_head_file(name, cwd=self.cwd)
            if blob is None:
                return None
            text = blob.decode("utf-8", "replace")
            name = f"HEAD:{name}"
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
        """SPEC "Local cache": `<common dir>/data/objects`, or `git config data.cachedir`
        (a relative one is taken from the top of the work tree)."""
        cachedir = git_config.last(self.git_config, "data.cachedir")
        if not cachedir:
            return Cache(os.path.join(self.paths.data_dir, "objects"))
        base = self.paths.toplevel or self.paths.git_dir
        return Cache(os.path.normpath(os.path.join(base, os.path.expanduser(cachedir))))

    @cached_property
    def stat_cache(self) -> StatCache:
        return StatCache(os.path.join(self.paths.data_dir, "stat"))
