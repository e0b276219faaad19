"""What a migrate works on: the refs, every file version behind them, and which of those
`import` converts; the `.gitattributes` lines it writes. Shared by `info` and `import`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..attributes import ATTRS, escape, unescape
from ..context import Context
from ..errors import GitDataError, UsageError
from ..git import history
from ..git.history import RefInfo
from ..git.run import run_git
from ..git.scan import cat_blobs
from ..globs import compile_glob
from ..pointer import SIZE_CUTOFF
from ..pointer import parse as parse_pointer
from . import lfs
from .selection import Selection


def target_refs(ctx: Context, sel: Selection) -> list[RefInfo]:
    """The refs to migrate: REF…, every branch and tag, or the current branch."""
    cwd = ctx.cwd
    if sel.everything:
        refs = history.list_refs(["refs/heads/", "refs/tags/"], cwd)
    else:
        names = []
        if not sel.refs:
            out = run_git(["symbolic-ref", "-q", "HEAD"], cwd=cwd, check=False)
            if out.returncode != 0:
                raise UsageError(
                    "HEAD is detached: there is no current branch to migrate",
                    "name the branches or tags, or give --everything",
                )
            names.append(out.stdout.decode().strip())
        for rev in sel.refs:
            out = run_git(["rev-parse", "--symbolic-full-name", rev], cwd=cwd, check=False)
            name = out.stdout.decode().strip()
            if out.returncode != 0 or not name.startswith("refs/"):
                raise UsageError(
                    f"'{rev}' is not a branch or tag", "`git branch -a` and `git tag` list them"
                )
            names.append(name)
        refs = history.list_refs(names, cwd)
        found = {r.name for r in refs}
        if not found and sel.refs == ():
            raise GitDataError(
                "the current branch has no commit yet", "commit something first, or name refs"
            )
        refs = [r for r in refs if r.name in names]
    return [r for r in refs if r.peeled]


@dataclass
class History:
    """Every version of every regular file that the refs' commits bring: path -> blob -> size."""

    refs: list[RefInfo]
    versions: dict[bytes, dict[str, int]] = field(default_factory=dict)
    files: list[tuple[bytes, str, bytes]] = field(
        default_factory=list
    )  # plan.tree's (mode, blob, path)

    @property
    def tips(self) -> list[str]:
        return sorted({r.peeled for r in self.refs})


def scan(ctx: Context, refs: list[RefInfo]) -> History:
    h = History(refs)
    if not refs:
        return h
    blobs: dict[bytes, set[str]] = {}
    for _, blob, path in history.changes(h.tips, ctx.cwd):
        blobs.setdefault(path, set()).add(blob)
    size = history.sizes({b for bs in blobs.values() for b in bs}, ctx.cwd)
    h.versions = {p: {b: size.get(b, 0) for b in bs} for p, bs in blobs.items()}
    return h


def tree(ctx: Context, refs: list[RefInfo]) -> History:
    """The files of the first ref's commit only (`import --no-rewrite`)."""
    h = History(refs[:1])
    if refs:
        h.files = list(history.tree_files(refs[0].peeled, ctx.cwd))
        size = history.sizes({b for _, b, _ in h.files}, ctx.cwd)
        for _, blob, path in h.files:
            h.versions.setdefault(path, {})[blob] = size.get(blob, 0)
    return h


ATTRIBUTES = b".gitattributes"
#: Files git reads itself: never converted, wherever they are.
GIT_FILES = {b".gitattributes", b".gitignore", b".gitmodules", b".gitdata.toml", b".mailmap"}


@dataclass
class Choice:
    """What `import` converts: paths, and for each version (blob) what it holds."""

    paths: set[bytes] = field(default_factory=set)
    convert: dict[str, int] = field(default_factory=dict)  # blob -> size of its content
    lfs: dict[str, lfs.LfsPointer] = field(default_factory=dict)  # blob -> LFS pointer
    lines: list[str] = field(default_factory=list)  # `.gitattributes` lines to add

    @property
    def nbytes(self) -> int:
        return sum(self.convert.values())


def choose(ctx: Context, sel: Selection, h: History, from_lfs: bool) -> Choice:
    c = Choice()
    small: list[tuple[str, bytes]] = []
    for path, vers in h.versions.items():
        if not sel.paths.match(path) or os.path.basename(path) in GIT_FILES:
            continue
        if not from_lfs and sel.above is not None and max(vers.values()) <= sel.above:
            continue
        c.paths.add(path)
        small += [(b, path) for b, s in vers.items() if s <= SIZE_CUTOFF]
        if not from_lfs:
            c.convert.update((b, s) for b, s in vers.items() if s > SIZE_CUTOFF)
    paths_of: dict[str, list[bytes]] = {}
    for b, path in small:
        paths_of.setdefault(b, []).append(path)
    lfs_paths: set[bytes] = set()
    for blob, _, data in cat_blobs(((b, None) for b in paths_of), (), ctx.cwd):
        if data is None:
            continue
        if from_lfs:
            lp = lfs.parse(data)
            if lp is not None:
                c.lfs[blob] = lp
                c.convert[blob] = lp.size
                lfs_paths.update(paths_of[blob])
        elif parse_pointer(data) is None:
            c.convert[blob] = len(data)
    if not from_lfs:
        c.lines = attribute_lines(sel, sorted(c.paths))
    else:  # a pointer no `filter=lfs` line covers gets a line of its own
        c.lines = attribute_lines(Selection(), lfs_uncovered(ctx, h, sorted(lfs_paths)))
    return c


def lfs_uncovered(ctx: Context, h: History, paths: Sequence[bytes]) -> list[bytes]:
    """The paths among `paths` that no `filter=lfs` line of any `.gitattributes` version in
    `h` (its own folder's patterns, as git matches them) covers."""
    attrs = [(b, p) for p, vers in h.versions.items() if os.path.basename(p) == ATTRIBUTES
             for b in vers]  # fmt: skip
    patterns = []
    for _blob, path, data in cat_blobs(attrs, (), ctx.cwd):
        folder = os.path.dirname(path).decode("utf-8", "surrogateescape")
        for line in (data or b"").decode("utf-8", "surrogateescape").split("\n"):
            parts = line.split()
            if len(parts) > 1 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
                patterns.append((folder, compile_glob(unescape(parts[0]), below=False)))

    def covered(path: str) -> bool:
        for folder, rx in patterns:
            if folder and not path.startswith(folder + "/"):
                continue
            if rx.fullmatch(path[len(folder) + 1 :] if folder else path):
                return True
        return False

    return [p for p in paths if not covered(p.decode("utf-8", "surrogateescape"))]


def attribute_lines(sel: Selection, paths: Sequence[bytes]) -> list[str]:
    """The --include globs when they alone choose; else one anchored line per path."""
    if sel.include and not sel.exclude and sel.above is None:
        return [f"{escape(g)} {ATTRS}" for g in sel.include]
    return [f"/{escape(_glob_escape(p))} {ATTRS}" for p in paths]


def _glob_escape(path: bytes) -> str:
    text = path.decode("utf-8", "surrogateescape")
    return "".join("\\" + ch if ch in "\\*?[" else ch for ch in text)


def merge_attributes(content: bytes | None, lines: Sequence[str], from_lfs: bool) -> bytes | None:
    """`.gitattributes` with `lines` added where their pattern has no `filter=data` line yet,
    and (from_lfs) `filter=lfs` lines turned into `filter=data` ones; the rest kept byte for
    byte. None when there is no file and nothing to add."""
    old = (content or b"").decode("utf-8", "surrogateescape").split("\n")
    if old and old[-1] == "":
        old.pop()
    new = [lfs.swap_line(line) if from_lfs else line for line in old]
    have = {_pattern(line) for line in new if "filter=data" in line.split()[1:]}
    new += [line for line in lines if _pattern(line) not in have]
    if new == old:
        return content
    return "".join(line + "\n" for line in new).encode("utf-8", "surrogateescape")


def remove_attributes(content: bytes | None, include: Sequence[str]) -> bytes | None:
    """`.gitattributes` without its `filter=data` lines (with `include`, only theirs); None
    when nothing is left."""
    if content is None:
        return None
    old = content.decode("utf-8", "surrogateescape").split("\n")
    globs = {escape(g) for g in include}
    kept = [
        line
        for line in old
        if "filter=data" not in line.split()[1:] or (globs and _pattern(line) not in globs)
    ]
    if kept == old:
        return content
    text = "\n".join(kept)
    return text.encode("utf-8", "surrogateescape") if text.strip() else None


def _pattern(line: str) -> str:
    parts = line.split()
    return parts[0] if parts and not parts[0].startswith("#") else ""


def lfs_detected(ctx: Context, refs: list[RefInfo]) -> bool:
    """Whether the top-level `.gitattributes` of a ref's commit has `filter=lfs` lines."""
    for tip in {r.peeled for r in refs}:
        out = run_git(["cat-file", "blob", f"{tip}:.gitattributes"], cwd=ctx.cwd, check=False)
        if out.returncode == 0 and lfs.has_lfs_lines(out.stdout):
            return True
    return False


def lfs_missing(ctx: Context, c: Choice) -> list[lfs.LfsPointer]:
    common = ctx.paths.common_dir
    return sorted(
        {p for p in c.lfs.values() if not os.path.isfile(lfs.object_path(common, p.sha256))},
        key=lambda p: p.sha256,
    )
