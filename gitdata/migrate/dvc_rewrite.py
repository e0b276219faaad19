"""`git data migrate import --from-dvc --rewrite`: every commit of the history as if its DVC
outs had been data files all along (docs/migrating.md, "From DVC").

The engine is the plain rewrite's (rewrite.rewrite_with: fast-export --no-data | this |
fast-import under the work refs, then one ref transaction), with a stream that rewrites whole
commits instead of single file versions, since a `.dvc` file becomes files at other paths.

For each commit the stream keeps the DVC-relevant files of its tree (`.dvc`, `dvc.lock`,
`dvc.yaml`, `.gitignore` files and the top `.gitattributes`: dvc_history.kind), updated from
its first parent's by the commit's `M`/`D` lines, exactly as fast-export diffs. From them it
derives what the new tree has at DVC's places: the pointers at the outs' paths (a directory
out through its listing), each `.gitignore` without DVC's lines for those outs, the top
`.gitattributes` with a line per out, and the `.dvc` files only when --exclude kept some of
their outs. The new commit gets the difference between its derivation and its first parent's
(`D` for what went, `M` with the pointer inline for what came or changed), then the commit's
other file commands as they were. A commit that touches none of these files is passed on as
it is, beyond its marks.
"""

from __future__ import annotations

import posixpath
import re
from typing import IO

from .. import hooks, output
from ..context import Context
from ..errors import GitDataError, UsageError
from ..git import config as git_config
from ..git.history import BlobReader
from . import dvc, dvc_files, dvc_history, plan, rewrite, safety
from .dvc_history import Objects, kind, text
from .dvc_objects import Sources
from .selection import Selection

#: path -> (mode, blob id) of the DVC-relevant files of a commit's tree.
State = dict[bytes, tuple[bytes, str]]
#: path -> (mode, blob id or content) of what the new tree has at DVC's places.
Derived = dict[bytes, tuple[bytes, "str | bytes"]]
_UNESCAPE = re.compile(r"\\(.)")


class Deriver:
    """What the new tree holds at DVC's places, for a state; memoized by blob."""

    def __init__(self, objs: Objects, sel: Selection, reader: BlobReader) -> None:
        self.objs, self.sel, self.reader = objs, sel, reader
        self.outs: dict[tuple[bytes, str, str], list[dvc_files.Out]] = {}
        self.files: dict[tuple[str, str], list[tuple[bytes, bytes, bytes]]] = {}
        self.texts: dict[str, bytes] = {}
        self.converted: set[bytes] = set()

    def _read(self, blob: str) -> bytes:
        if blob not in self.texts:
            self.texts[blob] = self.reader.read_all(blob)
        return self.texts[blob]

    def _outs(self, path: bytes, blob: str, yaml_blob: str) -> list[dvc_files.Out]:
        key = (path, blob, yaml_blob)
        if key not in self.outs:
            wdirs = {}
            if yaml_blob:
                yaml_doc = dvc_files.parse_yaml(self._read(yaml_blob), text(path))
                wdirs = dvc_files.stage_wdirs(yaml_doc)
            self.outs[key] = dvc_history.outs_of(path, self._read(blob), wdirs)
        return self.outs[key]

    def _files(self, o: dvc_files.Out) -> list[tuple[bytes, bytes, bytes]]:
        """(path, mode, content) of the data files of the out `o`."""
        key = (o.path, o.dvc_name)
        if key in self.files:
            return self.files[key]
        entries = [(o.path, o.md5, False)]
        if o.is_dir:
            listing = self.objs.listings.get(o.md5)
            if listing is None:
                raise _not_gathered(o.path)
            entries = [(f"{o.path}/{w.path}", w.md5, w.executable) for w in listing]
        found = []
        for path, md5, executable in entries:
            p = self.objs.pointer(md5)
            if p is None:
                raise _not_gathered(path)
            mode = b"100755" if executable else b"100644"
            # an empty file stays empty, as `git add` keeps it (clean passes it through)
            found.append(
                (path.encode("utf-8", "surrogateescape"), mode, p.encode() if p.size else b"")
            )
        self.files[key] = found
        return found

    def derive(self, state: State) -> Derived:
        d: Derived = {}
        yamls = {posixpath.dirname(text(p)): b for p, (_, b) in state.items() if kind(p) == "yaml"}
        outs: list[dvc_files.Out] = []
        for path, (mode, blob) in sorted(state.items()):
            k = kind(path)
            if k == "dvc" or k == "lock":
                yaml_blob = yamls.get(posixpath.dirname(text(path)), "") if k == "lock" else ""
                all_outs = self._outs(path, blob, yaml_blob)
                chosen = [o for o in all_outs if self.sel.paths.match(o.path)]
                outs += chosen
                if k == "dvc" and len(chosen) != len(all_outs):
                    d[path] = (mode, blob)
        for o in outs:
            for path, mode, content in self._files(o):
                d[path] = (mode, content)
                self.converted.add(path)
        ignores: dict[str, set[str]] = {}
        for o in outs:
            folder, _, name = o.path.rpartition("/")
            ignores.setdefault(posixpath.join(folder, ".gitignore"), set()).add("/" + name)
        for path, (mode, blob) in state.items():
            if kind(path) == "ignore":
                new = self._ignore(blob, ignores.get(text(path), set()))
                if new is not None:
                    d[path] = (mode, new)
        attrs = state.get(b".gitattributes")
        old = self._read(attrs[1]) if attrs else None
        lines = []
        for o in outs:
            pattern, rest = plan.attribute_lines(Selection(), [o.path.encode()])[0].split(" ", 1)
            lines.append(f"{pattern}/** {rest}" if o.is_dir else f"{pattern} {rest}")
        new_attrs = plan.merge_attributes(old, sorted(set(lines)), from_lfs=False)
        if new_attrs is not None:
            d[b".gitattributes"] = (
                b"100644",
                attrs[1] if attrs and new_attrs == old else new_attrs,
            )
        return d

    def _ignore(self, blob: str, entries: set[str]) -> str | bytes | None:
        """A `.gitignore` without DVC's lines for `entries`: its blob when nothing changes, None
        when nothing is left."""
        if not entries:
            return blob
        lines = self._read(blob).decode("utf-8", "surrogateescape").splitlines()
        # DVC escapes `\[]!*#?` with a backslash (pathspec's escape): compare unescaped
        kept = [ln for ln in lines if _UNESCAPE.sub(r"\1", ln.strip()).rstrip("/") not in entries]
        if len(kept) == len(lines):
            return blob
        content = "".join(ln + "\n" for ln in kept)
        return content.encode("utf-8", "surrogateescape") if content.strip() else None


def _not_gathered(path: str) -> GitDataError:
    return GitDataError(
        f"'{path}': a DVC out the first pass did not see (a dvc.yaml wdir?)",
        "run the import without --include/--exclude, or report this",
    )


class DvcStream(rewrite.Stream):
    """rewrite.Stream, whole commits at a time: see the module's docstring."""

    def __init__(self, src: IO[bytes], dst: IO[bytes], deriver: Deriver) -> None:
        super().__init__(src, dst, None, deriver.reader)  # type: ignore[arg-type]
        self.deriver = deriver
        self.states: dict[bytes, tuple[State, Derived]] = {}

    def _commit(self, ref: bytes) -> None:
        src, dst = self.src, self.dst
        dst.write(b"commit " + rewrite.work_ref(ref))
        mark = parent = b""
        files: list[tuple[bytes, bytes]] = []  # (path, the line as fast-export wrote it)
        reset = False
        while True:
            line = src.readline()
            if not line or line == b"\n":
                break
            if line.startswith(b"data "):
                self._copy_data(line)
                continue
            if line.startswith(b"mark "):
                mark = line[5:-1]
            elif line.startswith(b"from "):
                parent = line[5:-1]
            elif line.startswith(b"D ") or line.startswith((b"M 100644 ", b"M 100755 ")):
                quoted = line[2:-1].split(b" ", 2)[-1] if line[0:1] == b"M" else line[2:-1]
                files.append((rewrite.unquote_path(quoted), line))
                continue
            elif line == b"deleteall\n":
                reset, files = True, []
            dst.write(line)
        if parent and parent not in self.states:
            raise GitDataError(f"fast-export named a parent it did not stream ({parent!r})")
        state, derived = ({}, {}) if reset or not parent else self.states[parent]
        new_state, touched = dict(state), False
        for path, line in files:
            if kind(path) is not None:
                touched = True
                if line[0:1] == b"D":
                    new_state.pop(path, None)
                else:
                    mode, blob, _ = line[2:-1].split(b" ", 2)
                    new_state[path] = (mode, blob.decode("ascii"))
        new_derived = self.deriver.derive(new_state) if touched or not parent else derived
        out = [rewrite.delete_file(p) for p in derived if p not in new_derived]
        for path, (mode, value) in new_derived.items():
            if derived.get(path) == (mode, value):
                continue
            if isinstance(value, str):
                out.append(b"M %s %s %s\n" % (mode, value.encode(), rewrite.quote_path(path)))
            else:
                out.append(rewrite.inline_file(mode, path, value))
        for path, line in files:  # the rest as it was; what DVC's places hold is derived
            if path not in new_derived and kind(path) not in ("dvc", "ignore", "attributes"):
                out.append(line)
        dst.write(b"".join(out) + b"\n")
        if mark:
            self.states[mark] = (new_state, new_derived) if touched else (state, derived)


def import_history(sel: Selection, dvc_remote: str | None = None) -> int:
    """`import --from-dvc --rewrite [--everything | REF…]`."""
    if sel.above is not None:
        raise UsageError(
            "--above does not apply to --from-dvc", "select outs with --include and --exclude"
        )
    ctx = Context()
    top = safety.require_clean(ctx)
    if not git_config.last(ctx.git_config, "filter.data.process"):
        raise GitDataError(
            "the data filter is not installed", "run `git data install`, then the import again"
        )
    refs = plan.target_refs(ctx, sel)
    outs, dvc_paths = dvc_history.history_outs(ctx, refs, sel)
    if not outs and not dvc_paths:
        output.note("nothing to import: no commit of the selected history has DVC outs")
        return 0
    roots = list(dict.fromkeys(dvc_files.dvc_root(top, p) for p in sorted(dvc_paths))) or [top]
    remote = dvc.find_remote(roots, dvc_remote)
    sources = Sources(ctx.cache, [dvc_files.cache_dir(r) for r in roots], remote)
    objs = dvc_history.gather(ctx, outs, sources)
    rewrite.kill_point("dvc-gathered")
    dvc_history.check_missing(objs, remote)
    reader = BlobReader(top)
    try:
        deriver = Deriver(objs, sel, reader)
        result = rewrite.rewrite_with(ctx, refs, lambda s, d: DvcStream(s, d, deriver))
    finally:
        reader.close()
    if not result.updates:
        rewrite.clear_work_refs(ctx.cwd)
        output.note("nothing to import: the rewritten history is the history there is")
        return 0
    rewrite.finish(ctx, result)
    safety.check_out(ctx, top, sorted(deriver.converted))
    hooks.install_in(ctx.paths, quiet=True)
    n = len(objs.pointers)
    output.note(
        f"imported {n} DVC object(s) into {len(result.commit_map)} rewritten commit(s); "
        f"rewrote {', '.join(ref for ref, _, _ in result.updates)}; old tips under "
        f"{rewrite.BACKUP}, commit map in .git/data/migrate/commit-map"
    )
    dvc.advise(ctx, top, remote, False)
    return 0
