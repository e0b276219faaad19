"""What a DVC project records: the outs of its `.dvc` files and `dvc.lock`, and its remotes.

A `.dvc` file (DVC 2 and 3 alike) is YAML with a list `outs` of `{md5, size, path, hash?,
nfiles?, cache?}`; `hash: md5` marks DVC 3's plain md5, its absence DVC 2's (which hashed text
files with CRLF turned into LF). An md5 ending in `.dir` is a directory: its listing is a JSON
object in the cache. `dvc.lock` (schema 2.0) has the same outs under `stages.<name>.outs`, their
paths relative to the stage's `wdir` (dvc.yaml; default: the file's folder). `.dvc/config` is
configobj's INI: `[core] remote = NAME` and `['remote "NAME"'] url = ...`.

Every path read here is checked to stay inside the work tree before it is used.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass

from ..errors import GitDataError

_MD5 = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Out:
    """One DVC output: a file or a directory at `path` (top-relative, POSIX)."""

    path: str
    md5: str  # 32 hex digits, without `.dir`
    size: int | None
    is_dir: bool
    legacy: bool  # DVC 2's hash (no `hash: md5`): text files were hashed with CRLF as LF
    source: str  # the .dvc file or dvc.lock that records it (top-relative)

    @property
    def dvc_name(self) -> str:
        """The object's name in DVC's cache: the md5, plus `.dir` for a directory."""
        return self.md5 + (".dir" if self.is_dir else "")


def not_understood(source: str, why: str) -> GitDataError:
    return GitDataError(
        f"{source}: not a DVC file gitdata understands: {why}",
        "check the file with `dvc status`; fix it or remove it, then run the import again",
    )


def _load_yaml(top: str, rel: str) -> object:
    try:
        with open(os.path.join(top, rel), "rb") as f:
            data = f.read()
    except OSError as e:
        raise GitDataError(f"cannot read {rel}: {e.strerror}", "check the file") from e
    return parse_yaml(data, rel)


def parse_yaml(data: bytes, rel: str) -> object:
    """The YAML document `data` (the file `rel`, as the work tree or a commit holds it)."""
    import yaml  # only `migrate import --from-dvc` reads YAML

    try:
        return yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise not_understood(rel, f"not YAML ({str(e).splitlines()[0]})") from e


def _inside(base: str, path: object, source: str) -> str:
    """`path` (from `source`, relative to its folder `base`) as a top-relative POSIX path."""
    if not isinstance(path, str) or not path:
        raise not_understood(source, f"an out's path is {path!r}")
    if posixpath.isabs(path) or "://" in path or "\\" in path:
        raise not_understood(source, f"the out '{path}' is outside the repository")
    full = posixpath.normpath(posixpath.join(base, path))
    if full in (".", "") or full == ".." or full.startswith("../") or "/.git/" in f"/{full}/":
        raise not_understood(source, f"the out '{path}' is outside the work tree")
    return full


def _out(entry: object, base: str, source: str) -> Out | None:
    """The Out of one entry of an `outs` list; None for one DVC does not cache (its file is in
    Git already)."""
    if not isinstance(entry, dict):
        raise not_understood(source, "an entry of `outs` is not a mapping")
    path = _inside(base, entry.get("path"), source)
    if entry.get("cache", True) is False:
        return None
    if "files" in entry or entry.get("cloud"):
        raise not_understood(source, f"'{path}' is on a version-aware remote (not supported)")
    md5 = entry.get("md5")
    if md5 is None:
        raise not_understood(source, f"'{path}' has no md5 (run `dvc commit` first)")
    md5 = str(md5)  # a YAML number is never a valid md5 (it lost its digits' form)
    is_dir = md5.endswith(".dir")
    md5 = md5[:-4] if is_dir else md5
    if not _MD5.fullmatch(md5):
        raise not_understood(source, f"'{path}' has the md5 {entry.get('md5')!r}")
    size = entry.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise not_understood(source, f"'{path}' has the size {size!r}")
    legacy = entry.get("hash") != "md5"
    return Out(path, md5, size, is_dir, legacy, source)


def read_dvc_file(top: str, rel: str) -> list[Out]:
    return dvc_file_outs(_load_yaml(top, rel), rel)


def dvc_file_outs(doc: object, rel: str) -> list[Out]:
    """The cached outs of the `.dvc` file `rel` whose YAML document is `doc`."""
    if not isinstance(doc, dict) or not isinstance(doc.get("outs", []), list):
        raise not_understood(rel, "no list of outs")
    base = posixpath.dirname(rel)
    wdir = doc.get("wdir")
    if isinstance(wdir, str):
        base = _inside(base, posixpath.join(wdir, "x"), rel).rpartition("/")[0]
    return [o for o in (_out(e, base, rel) for e in doc.get("outs") or []) if o is not None]


def read_lock_file(top: str, rel: str) -> list[Out]:
    """The cached outs of every stage in `dvc.lock` (`rel`)."""
    yaml_file = posixpath.join(posixpath.dirname(rel), "dvc.yaml")
    wdirs = {}
    if os.path.isfile(os.path.join(top, yaml_file)):
        wdirs = stage_wdirs(_load_yaml(top, yaml_file))
    return lock_file_outs(_load_yaml(top, rel), rel, wdirs)


def lock_file_outs(doc: object, rel: str, wdirs: dict[str, str]) -> list[Out]:
    """The cached outs of the `dvc.lock` file `rel` (its YAML document `doc`), given the
    `wdir` of the stages of the `dvc.yaml` beside it."""
    if not isinstance(doc, dict) or not isinstance(doc.get("stages", {}), dict):
        raise not_understood(rel, "no mapping of stages")
    base = posixpath.dirname(rel)
    found: list[Out] = []
    for name, stage in (doc.get("stages") or {}).items():
        if not isinstance(stage, dict) or not isinstance(stage.get("outs", []), list):
            raise not_understood(rel, f"the stage '{name}' is not a mapping with a list of outs")
        wdir = wdirs.get(str(name).split("@", 1)[0], ".")
        sbase = _inside(base, posixpath.join(wdir, "x"), rel).rpartition("/")[0]
        for e in stage.get("outs") or []:
            o = _out(e, sbase, rel)
            if o is not None:
                found.append(o)
    return found


def stage_wdirs(doc: object) -> dict[str, str]:
    """{stage: wdir} for the stages of a `dvc.yaml` document that set one."""
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict):
        return {}
    return {
        str(n): s["wdir"]
        for n, s in stages.items()
        if isinstance(s, dict) and isinstance(s.get("wdir"), str)
    }


def read_outs(top: str, files: list[str]) -> list[Out]:
    """The outs recorded by `files` (top-relative `.dvc` files and `dvc.lock` files); two
    records of one path must agree."""
    outs: dict[str, Out] = {}
    for rel in files:
        found = read_lock_file(top, rel) if posixpath.basename(rel) == "dvc.lock" else None
        for o in found if found is not None else read_dvc_file(top, rel):
            seen = outs.get(o.path)
            if seen is not None and seen.dvc_name != o.dvc_name:
                raise not_understood(
                    rel, f"'{o.path}' is recorded differently in {seen.source} (run `dvc status`)"
                )
            outs.setdefault(o.path, o)
    paths = sorted(outs)
    for a, b in zip(paths, paths[1:]):
        if b.startswith(a + "/"):
            raise not_understood(outs[b].source, f"'{b}' lies inside the out '{a}'")
    return [outs[p] for p in paths]


# --- .dvc/config ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DvcRemote:
    name: str
    url: str  # an absolute path for a local remote
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None


def dvc_root(top: str, rel: str) -> str:
    """The folder of the DVC project that `rel` (a `.dvc` or `dvc.lock` file) belongs to: the
    nearest one above it with a `.dvc` directory (`dvc init --subdir`), else the top."""
    d = posixpath.dirname(rel)
    while d:
        if os.path.isdir(os.path.join(top, d, ".dvc")):
            return os.path.join(top, d)
        d = posixpath.dirname(d)
    return top


def read_config(top: str) -> tuple[dict[str, dict[str, str]], str]:
    """(sections, the .dvc directory) of `.dvc/config` overlaid with `.dvc/config.local`."""
    dvc_dir = os.path.join(top, ".dvc")
    sections: dict[str, dict[str, str]] = {}
    for name in ("config", "config.local"):
        try:
            with open(os.path.join(dvc_dir, name), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        current: dict[str, str] | None = None
        for line in lines:
            s = line.strip()
            if not s or s.startswith(("#", ";")):
                continue
            if s.startswith("[") and s.endswith("]"):
                key = s[1:-1].strip().strip("'\"")
                key = re.sub(r"\s+", " ", key.replace('"', "").replace("'", ""))
                current = sections.setdefault(key, {})
            elif current is not None and "=" in s:
                k, _, v = s.partition("=")
                current[k.strip().lower()] = v.strip().strip("'\"")
    return sections, dvc_dir


def cache_dir(top: str) -> str:
    """DVC's cache directory: `[cache] dir` (relative to `.dvc/`), else `.dvc/cache`."""
    sections, dvc_dir = read_config(top)
    d = sections.get("cache", {}).get("dir")
    return os.path.normpath(os.path.join(dvc_dir, os.path.expanduser(d))) if d else (
        os.path.join(dvc_dir, "cache"))  # fmt: skip


def remote(top: str, name: str | None = None) -> DvcRemote | None:
    """The DVC remote `name`, or the default one (`[core] remote`); None when there is none."""
    sections, dvc_dir = read_config(top)
    name = name or sections.get("core", {}).get("remote")
    if not name:
        return None
    sec = sections.get(f"remote {name}")
    if sec is None or not sec.get("url"):
        raise GitDataError(
            f"there is no DVC remote '{name}' in .dvc/config",
            "list them with `dvc remote list`",
        )
    url = sec["url"]
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" not in url:
        url = os.path.normpath(os.path.join(dvc_dir, os.path.expanduser(url)))
    return DvcRemote(name, url, sec.get("endpointurl"), sec.get("region"), sec.get("profile"))


def remote_for_url(top: str, url: str) -> DvcRemote:
    """The remote `--dvc-remote` names: a DVC remote's name, or a URL or directory (with the
    settings of the DVC remote that has this URL, if any)."""
    sections, _ = read_config(top)
    if f"remote {url}" in sections:
        found = remote(top, url)
        assert found is not None
        return found
    for key in sections:
        if key.startswith("remote "):
            r = remote(top, key[len("remote ") :])
            if r is not None and r.url.rstrip("/") == url.rstrip("/"):
                return r
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" not in url:
        url = os.path.abspath(url)
    return DvcRemote("dvc", url)
