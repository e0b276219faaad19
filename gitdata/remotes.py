"""Adding and removing data remotes: in `.gitdata.toml` (shared, committed) or in the
repository's git config (`--local`, this clone only).

The file is parsed and validated as config.py reads it, changed as a document and written back
with tomli-w, never by string formatting, then read back through the same validation before it
replaces the old one (atomically, so a crash leaves the old file or the new, never half).
tomli-w does not keep comments: the caller is told when some were lost.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass

import tomli_w

from . import config
from .errors import ConfigError
from .git import config as git_config

_COMMENT_RE = re.compile(r"(^|\s)#", re.M)


@dataclass
class ConfigFile:
    """`.gitdata.toml` at the top of a work tree, as a validated document."""

    path: str
    doc: dict[str, object]
    had_comments: bool = False

    @classmethod
    def load(cls, toplevel: str) -> ConfigFile:
        path = os.path.join(toplevel, config.CONFIG_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return cls(path, {})
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(
                f"cannot read {config.CONFIG_FILE}: {e}", f"fix {config.CONFIG_FILE}"
            ) from e
        return cls(path, config.parse_config_file(text), bool(_COMMENT_RE.search(text)))

    @property
    def remotes(self) -> dict[str, dict[str, str]]:
        return self.doc.setdefault("remote", {})  # type: ignore[return-value]

    def save(self) -> None:
        text = tomli_w.dumps(self.doc)
        config.parse_config_file(text)  # what we write, we can read
        d = os.path.dirname(self.path)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".gitdata.toml.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            umask = os.umask(0o022)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a committed file is 0644
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise


def check_remote(name: str, url: str, endpoint_url: str | None) -> None:
    """The checks `.gitdata.toml` and git config get, for values given on the command line."""
    config.check_remote_name(name)
    config.check_url(url, f"data remote '{name}'")
    if endpoint_url is not None:
        config.check_endpoint_url(endpoint_url, f"data remote '{name}': --endpoint-url")


def add_to_file(
    cf: ConfigFile,
    name: str,
    url: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    make_default: bool = False,
) -> None:
    if name in cf.remotes:
        raise ConfigError(
            f"data remote '{name}' already exists in {config.CONFIG_FILE}",
            f"remove it first: git data remote remove {name}",
        )
    table = {"url": url}
    if endpoint_url:
        table["endpoint_url"] = endpoint_url
    if region:
        table["region"] = region
    cf.remotes[name] = table
    if make_default:
        cf.doc["default"] = name


def remove_from_file(cf: ConfigFile, name: str) -> None:
    del cf.remotes[name]
    if not cf.remotes:
        del cf.doc["remote"]
    if cf.doc.get("default") == name:
        del cf.doc["default"]


def local_has(cfg: git_config.GitConfig, name: str) -> bool:
    prefix = f"data.remote.{name}."
    return any(k.startswith(prefix) for k in cfg)


def add_to_git_config(
    cwd: str | None,
    name: str,
    url: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    make_default: bool = False,
) -> None:
    values = {"url": url, "endpointUrl": endpoint_url, "region": region}
    for var, value in values.items():
        if value:
            git_config.set_value(f"data.remote.{name}.{var}", value, "local", cwd)
    if make_default:
        git_config.set_value("data.default", name, "local", cwd)


def remove_from_git_config(cwd: str | None, name: str, default: str | None) -> None:
    git_config.remove_section(f"data.remote.{name}", "local", cwd)
    if default == name:
        git_config.unset_value("data.default", "local", cwd)
