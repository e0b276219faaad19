from __future__ import annotations

import json
from typing import Any

from .. import output, remotes
from ..config import CONFIG_FILE
from ..context import Context
from ..errors import ConfigError
from ..git import config as git_config
from ..git.paths import require_worktree


def remote(
    action: str,
    name: str | None = None,
    url: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    default: bool = False,
    local: bool = False,
    as_json: bool = False,
) -> int:
    """Manage data remotes: in .gitdata.toml (committed, for everyone), or with --local in this
    repository's git config (for you; it overrides the file key by key)."""
    ctx = Context()
    if action == "list":
        return _list(ctx, as_json)
    if action == "default" and name is None:
        print(ctx.settings.default_remote or "(none)")
        return 0
    assert name is not None
    cwd = ctx.paths.toplevel or ctx.paths.git_dir
    local_cfg = git_config.read_config(cwd, "local") if local else {}
    cf = None if local else remotes.ConfigFile.load(require_worktree(ctx.paths))
    if action == "add":
        assert url is not None
        remotes.check_remote(name, url, endpoint_url)
        if cf is None:
            if remotes.local_has(local_cfg, name):
                raise ConfigError(
                    f"data remote '{name}' already exists in this repository's git config",
                    f"remove it first: git data remote remove --local {name}",
                )
            remotes.add_to_git_config(cwd, name, url, endpoint_url, region, default)
        else:
            remotes.add_to_file(cf, name, url, endpoint_url, region, default)
    elif action == "remove":
        if cf is None:
            if not remotes.local_has(local_cfg, name):
                raise ConfigError(
                    f"no data remote '{name}' in this repository's git config",
                    "`git data remote list` shows where each remote is defined",
                )
            remotes.remove_from_git_config(cwd, name, git_config.last(local_cfg, "data.default"))
        else:
            if name not in cf.remotes:
                in_git = name in ctx.settings.remotes
                raise ConfigError(
                    f"no data remote '{name}' in {CONFIG_FILE}",
                    "it is set in git config: git data remote remove --local " + name
                    if in_git
                    else "`git data remote list` shows the data remotes",
                )
            remotes.remove_from_file(cf, name)
    elif action == "default":
        if name not in ctx.settings.remotes:
            raise ConfigError(
                f"no data remote '{name}'", f"add it first: git data remote add {name} URL"
            )
        if cf is None:
            git_config.set_value("data.default", name, "local", cwd)
        elif name not in cf.remotes:
            raise ConfigError(
                f"data remote '{name}' is not in {CONFIG_FILE}: a clone would not know it",
                f"make it your own default with --local, or add it to {CONFIG_FILE}",
            )
        else:
            cf.doc["default"] = name
    where = CONFIG_FILE if cf is not None else "this repository's git config"
    done = {
        "add": f"data remote '{name}' added to {where}",
        "remove": f"data remote '{name}' removed from {where}",
        "default": f"the default data remote is now '{name}' ({where})",
    }[action]
    if cf is not None:
        cf.save()
        if cf.had_comments:
            output.warn(f"{CONFIG_FILE} was rewritten without its comments")
        done += f"; commit {CONFIG_FILE} to share it"
    output.note(done)
    return 0


def _list(ctx: Context, as_json: bool) -> int:
    s = ctx.settings
    rows: list[dict[str, Any]] = [
        {
            "name": r.name,
            "url": r.url,
            "endpoint_url": r.endpoint_url,
            "region": r.region,
            "profile": r.profile,
            "default": r.name == s.default_remote,
            "from": list(r.sources),
        }
        for r in sorted(s.remotes.values(), key=lambda r: r.name)
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        extra = "".join(
            f" {k}={row[k]}" for k in ("endpoint_url", "region", "profile") if row[k] is not None
        )
        mark = "*" if row["default"] else " "
        print(f"{mark} {row['name']}\t{row['url']}{extra}\t({', '.join(row['from'])})")
    return 0
