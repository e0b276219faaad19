"""Settings: `.gitdata.toml` + `git config data.*` + environment, merged into one frozen value.

The merge is pure (text and dicts in, Settings out) so that every rule of
docs/configuration.md is testable without a repository. Nothing read from `.gitdata.toml`
(committed, so written by anyone with push access) can set credentials, the cache location or a
command: the file knows only `default` and `remote.<name>.{url,endpoint_url,region,chunked}`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import storage
from .errors import ConfigError

CONFIG_FILE = ".gitdata.toml"
DEFAULT_BIG_FILE_THRESHOLD = 64 << 20
DEFAULT_TRANSFERS = 8

_FILE_REMOTE_KEYS = {
    "url": "url",
    "endpoint_url": "endpoint_url",
    "region": "region",
    "chunked": "chunked",
}
# git config variable (as git lowercases it) -> RemoteConfig field
_GIT_REMOTE_KEYS = {
    "url": "url",
    "endpointurl": "endpoint_url",
    "region": "region",
    "profile": "profile",
    "chunked": "chunked",
}
#: values of `chunked` (docs/chunked-store.md, 7.4); built in: auto (a new store starts chunked)
CHUNKED_VALUES = ("true", "false", "auto")
DEFAULT_CHUNKED = "auto"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_USERINFO_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def redact_url(url: str) -> str:
    """`url` as messages show it: a `user:password@` part (where tokens hide, as in
    `https://TOKEN@host/repo.git`) becomes `***@`, as git's own messages do."""
    return _USERINFO_RE.sub(r"\1***@", url)


def mask_userinfo(text: str, url: str) -> str:
    """`text` (say, a parser's complaint about `url`) with `url`'s userinfo masked."""
    m = _USERINFO_RE.match(url)
    userinfo = url[len(m.group(1)) : m.end() - 1] if m else ""
    return text.replace(userinfo, "***") if userinfo else text


@dataclass(frozen=True)
class RemoteConfig:
    """A data remote: where a Git remote's bytes live."""

    name: str
    url: str
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None  # git config only: credentials never come from the repository
    chunked: str | None = None  # "true", "false", "auto"; None: data.chunked decides
    sources: tuple[str, ...] = ()  # where its keys came from, for `git data env`


@dataclass(frozen=True)
class Settings:
    remotes: Mapping[str, RemoteConfig] = field(default_factory=dict)
    default_remote: str | None = None
    git_remotes: Mapping[str, str] = field(default_factory=dict)  # Git remote name -> URL
    big_file_threshold: int = DEFAULT_BIG_FILE_THRESHOLD
    transfers: int = DEFAULT_TRANSFERS
    skip_smudge: bool = False
    config_file: str = CONFIG_FILE  # where the shared file was read from, for messages
    chunked: str | None = None  # data.chunked: for remotes that say nothing; None: unset

    def chunked_for(self, remote: str) -> tuple[str, str]:
        """The `chunked` setting of data remote `remote` ("" for none) and where it comes from."""
        rc = self.remotes.get(remote)
        if rc is not None and rc.chunked is not None:
            return rc.chunked, f"remote.{remote}.chunked"
        if self.chunked is not None:
            return self.chunked, "data.chunked"
        return DEFAULT_CHUNKED, "built-in default"


def parse_config_file(text: str, name: str = CONFIG_FILE) -> dict[str, object]:
    """Parse and validate `.gitdata.toml`; every mistake names the file and the key."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{name}: not valid TOML: {e}", f"fix the syntax of {name}") from e
    for key, value in doc.items():
        if key == "default":
            _expect_str(value, name, "default")
        elif key == "remote":
            if not isinstance(value, dict):
                raise _wrong_type(name, "remote", "a table of [remote.<name>] tables")
            for rname, table in value.items():
                _check_name(rname, name, f"remote.{rname}")
                if not isinstance(table, dict):
                    raise _wrong_type(name, f"remote.{rname}", "a table")
                for k, v in table.items():
                    path = f"remote.{rname}.{k}"
                    if k not in _FILE_REMOTE_KEYS:
                        hint = (
                            f"credentials never go in {name}: use "
                            f"`git config data.remote.{rname}.profile NAME` or AWS_PROFILE"
                            if k in ("profile", "aws_access_key_id", "aws_secret_access_key")
                            else f"known keys: {', '.join(sorted(_FILE_REMOTE_KEYS))}"
                        )
                        raise ConfigError(f"{name}: unknown key '{path}'", hint)
                    if k == "chunked":
                        if not (isinstance(v, bool) or v == "auto"):
                            raise _wrong_type(name, path, 'true, false or "auto"')
                    else:
                        _expect_str(v, name, path)
                if "url" not in table:
                    raise ConfigError(
                        f"{name}: [remote.{rname}] has no 'url'",
                        f'add url = "s3://bucket/prefix" (or a directory) under [remote.{rname}]',
                    )
                check_url(table["url"], f"{name}: remote.{rname}.url")
                if "endpoint_url" in table:
                    check_endpoint_url(
                        table["endpoint_url"], f"{name}: remote.{rname}.endpoint_url"
                    )
        else:
            raise ConfigError(
                f"{name}: unknown key '{key}'", "known keys: default, [remote.<name>]"
            )
    return doc


def merge(
    *,
    file_doc: Mapping[str, object] | None,
    git_config: Mapping[str, list[str]],
    environ: Mapping[str, str],
    file_name: str = CONFIG_FILE,
) -> Settings:
    """Combine the shared file, per-user git config and the environment (docs/configuration.md)."""

    def get(key: str) -> str | None:
        values = git_config.get(key)
        return values[-1] if values else None

    fields: dict[str, dict[str, str]] = {}
    sources: dict[str, list[str]] = {}
    file_remotes = (file_doc or {}).get("remote") or {}
    assert isinstance(file_remotes, dict)
    for rname, table in file_remotes.items():
        fields[rname] = {
            k: (str(v).lower() if isinstance(v, bool) else v) for k, v in table.items()
        }
        sources.setdefault(rname, []).append(file_name)
    for key, values in git_config.items():
        if not key.startswith("data.remote."):
            continue
        sub, _, var = key[len("data.remote.") :].rpartition(".")
        if not sub or var not in _GIT_REMOTE_KEYS:
            continue
        fields.setdefault(sub, {})[_GIT_REMOTE_KEYS[var]] = values[-1]
        if "git config" not in sources.setdefault(sub, []):
            sources[sub].append("git config")

    remotes: dict[str, RemoteConfig] = {}
    for rname, f in fields.items():
        if "url" not in f:
            # git config sets only, say, a profile for a remote the file does not define
            raise ConfigError(
                f"data remote '{rname}' has no url",
                f"set one: git data remote add {rname} s3://bucket/prefix",
            )
        if "git config" in sources[rname] and get(f"data.remote.{rname}.url"):
            check_url(f["url"], f"git config data.remote.{rname}.url")
        if "git config" in sources[rname] and get(f"data.remote.{rname}.endpointurl"):
            check_endpoint_url(f["endpoint_url"], f"git config data.remote.{rname}.endpointUrl")
        remotes[rname] = RemoteConfig(
            name=rname,
            url=f["url"],
            endpoint_url=f.get("endpoint_url") or None,
            region=f.get("region") or None,
            profile=f.get("profile") or None,
            chunked=_chunked(f.get("chunked"), f"data.remote.{rname}.chunked"),
            sources=tuple(sources[rname]),
        )

    default = get("data.default")
    if default is None and file_doc is not None:
        d = file_doc.get("default")
        default = d if isinstance(d, str) else None

    git_remotes = {}
    for key, values in git_config.items():
        if key.startswith("remote.") and key.endswith(".url"):
            git_remotes[key[len("remote.") : -len(".url")]] = values[-1]

    return Settings(
        remotes=remotes,
        default_remote=default or None,
        git_remotes=git_remotes,
        big_file_threshold=parse_size(
            get("data.bigfilethreshold"), DEFAULT_BIG_FILE_THRESHOLD, "data.bigFileThreshold"
        ),
        transfers=_parse_int(get("data.transfers"), DEFAULT_TRANSFERS, "data.transfers"),
        # GIT_DATA_SKIP_SMUDGE=1, or `git data install --skip-smudge`
        skip_smudge=environ.get("GIT_DATA_SKIP_SMUDGE", "") not in ("", "0", "false")
        or "--skip-smudge" in (get("filter.data.process") or ""),
        config_file=file_name,
        chunked=_chunked(get("data.chunked"), "data.chunked"),
    )


def _chunked(text: str | None, key: str) -> str | None:
    """A `chunked` value: true/false as git spells booleans, or auto."""
    if text is None:
        return None
    t = text.strip().lower()
    if t in ("true", "yes", "on", "1"):
        return "true"
    if t in ("false", "no", "off", "0"):
        return "false"
    if t == "auto":
        return t
    raise ConfigError(f"{key} must be true, false or auto, not '{text}'", f"fix {key}")


def check_url(url: str, where: str) -> None:
    """Raise unless `url` names a store kind we have (docs/formats.md, "Stores")."""
    if url.startswith("s3://"):
        try:
            storage.parse_s3_url(url)
        except ValueError as e:
            raise ConfigError(
                f"{where}: '{redact_url(url)}' is not a valid S3 URL: {mask_userinfo(str(e), url)}",
                "write s3://bucket[/prefix]",
            ) from e
        return
    if url.startswith("file://"):
        if not url[len("file://") :].startswith("/"):
            raise ConfigError(
                f"{where}: '{redact_url(url)}' is not absolute", "write file:///abs/path"
            )
        return
    if url.startswith("/"):
        return
    scheme = url.split("://", 1)[0] if "://" in url else None
    raise ConfigError(
        f"{where}: unknown store URL '{redact_url(url)}'"
        + (f" (scheme '{scheme}://' is not supported)" if scheme else ""),
        "use s3://bucket[/prefix], /abs/path or file:///abs/path",
    )


def check_endpoint_url(url: str, where: str) -> None:
    try:
        storage.check_endpoint_url(url)
    except ValueError as e:
        raise ConfigError(
            f"{where}: '{redact_url(url)}' is not valid: {mask_userinfo(str(e), url)}",
            "write the service's address, e.g. https://s3.example.com or http://127.0.0.1:9000",
        ) from e


_SIZE_RE = re.compile(r"\s*(\d+)\s*([kmg]?)\s*", re.I)


def parse_size(text: str | None, default: int, key: str) -> int:
    """git's integer syntax: a number with an optional k, m or g suffix (1024-based)."""
    if text is None or text == "":
        return default
    m = _SIZE_RE.fullmatch(text)
    if not m:
        raise ConfigError(
            f"git config {key}: '{text}' is not a size",
            f"use a number like 64m: git config {key} 64m",
        )
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def _parse_int(text: str | None, default: int, key: str) -> int:
    if text is None or text == "":
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(
            f"git config {key}: '{text}' is not a positive number",
            f"use a number like 8: git config {key} 8",
        )
    return int(text)


def _expect_str(value: object, name: str, path: str) -> None:
    if not isinstance(value, str):
        raise _wrong_type(name, path, "a string")


def _wrong_type(name: str, path: str, expected: str) -> ConfigError:
    return ConfigError(f"{name}: '{path}' must be {expected}", f"fix '{path}' in {name}")


def check_remote_name(rname: str) -> None:
    """A data remote's name becomes a TOML key and a git config subsection."""
    if not _NAME_RE.fullmatch(rname):
        raise ConfigError(
            f"'{rname}' is not a valid data remote name",
            "use letters, digits, '.', '_' and '-', starting with a letter or digit",
        )


def _check_name(rname: str, name: str, path: str) -> None:
    if not _NAME_RE.fullmatch(rname):
        raise ConfigError(
            f"{name}: '{path}' is not a valid remote name",
            "use letters, digits, '.', '_' and '-'",
        )
