"""The history rewrite engine: `git fast-export --no-data | (this) | git fast-import`.

fast-export names every file version by its blob id, so no file's bytes cross the pipe; a
`Converter` decides, file version by file version, what replaces it (a small new content such
as a pointer, or the id of a blob written beforehand) and what the top-level `.gitattributes`
of each commit becomes. fast-import writes the new commits under `refs/gitdata/migrate-work/`;
nothing the user sees moves until `finish` runs one ref transaction (docs/migrating.md, "How
the rewrite works"). Annotated tags are not streamed: `finish` re-creates them with `git mktag`
from the original object, so that they keep their tagger and message byte for byte (a tag of
a tag: the inner one first).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from ..context import Context
from ..errors import GitError
from ..fsutil import replace_file
from ..git import history
from ..git.history import BlobReader, RefInfo

WORK = "refs/gitdata/migrate-work/"
BACKUP = "refs/gitdata/migrate-backup/"
ATTRIBUTES = b".gitattributes"
#: Test hook: the name of a point at which the process kills itself (tests/migrate).
KILL_VAR = "GIT_DATA_TEST_MIGRATE_KILL_AT"


def kill_point(name: str) -> None:
    if os.environ.get(KILL_VAR) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class Converter(Protocol):
    def convert(self, path: bytes, mode: bytes, blob: str) -> bytes | str | None:
        """What replaces this file version: new content (bytes), an existing blob's id (str),
        or None to keep it."""
        ...

    def attributes(self, content: bytes | None) -> bytes | None:
        """The top-level `.gitattributes` of a commit, given what it was (None: no such file);
        None: no such file."""
        ...


@dataclass
class Result:
    commit_map: dict[str, str] = field(default_factory=dict)  # old -> new, changed ones only
    updates: list[tuple[str, str, str]] = field(default_factory=list)  # (ref, old, new)


def migrate_dir(ctx: Context) -> str:
    return os.path.join(ctx.paths.data_dir, "migrate")


def pending_checkout(ctx: Context) -> str:
    """A file that says: refs moved, the worktree still shows the old history."""
    return os.path.join(migrate_dir(ctx), "checkout-pending")


def clear_work_refs(cwd: str | None) -> None:
    """What a killed run left under refs/gitdata/migrate-work/ goes."""
    left = history.list_refs([WORK], cwd)
    history.transaction((f"delete {r.name} {r.oid}" for r in left), cwd)


def rewrite(ctx: Context, refs: Sequence[RefInfo], conv: Converter, reader: BlobReader) -> Result:
    """Write the rewritten history of `refs` (commits only under the work refs); return the
    commit map and the ref updates `finish` will make. `reader` reads `.gitattributes` blobs
    (the converter's own, so that one cat-file process serves both)."""
    return rewrite_with(ctx, refs, lambda src, dst: Stream(src, dst, conv, reader))


def rewrite_with(
    ctx: Context, refs: Sequence[RefInfo], stream: Callable[[IO[bytes], IO[bytes]], Stream]
) -> Result:
    """`rewrite` with a stream of another kind (a Stream that rewrites whole commits: DVC)."""
    cwd = ctx.cwd
    work = migrate_dir(ctx)
    os.makedirs(work, exist_ok=True)
    clear_work_refs(cwd)
    old_marks, new_marks = os.path.join(work, "old.marks"), os.path.join(work, "new.marks")
    exp = history.fast_export(sorted({r.name for r in refs}), old_marks, cwd)
    imp = history.fast_import(new_marks, cwd)
    assert exp.stdout and imp.stdin
    try:
        stream(exp.stdout, imp.stdin).run()
    except BrokenPipeError:  # fast-import died: its status says why
        history.kill(exp)
        history.finish(imp, "fast-import")
        raise GitError("`git fast-import` stopped reading", history.HINT) from None
    except BaseException:
        history.kill(exp)
        history.kill(imp)
        raise
    history.finish(exp, "fast-export")
    history.finish(imp, "fast-import")
    kill_point("after-import")
    old, new = history.read_marks(old_marks), history.read_marks(new_marks)
    result = Result({old[m]: new[m] for m in old if m in new and old[m] != new[m]})
    for r in refs:
        target = _new_target(r, result.commit_map, cwd)
        if target != r.oid:
            result.updates.append((r.name, r.oid, target))
    return result


def _new_target(r: RefInfo, commit_map: dict[str, str], cwd: str | None) -> str:
    if r.kind == "commit":
        return commit_map.get(r.oid, r.oid)
    if r.kind != "tag" or r.peeled not in commit_map:
        return r.oid
    return _retag(r.oid, commit_map, cwd)


def _retag(tag: str, commit_map: dict[str, str], cwd: str | None) -> str:
    """The annotated tag `tag` made again to name the rewritten commit, through the tags it
    names first (a tag of a tag); `tag` itself when nothing it leads to changed."""
    text = history.cat_object("tag", tag, cwd)
    first, _, rest = text.partition(b"\n")
    target = first.removeprefix(b"object ").decode("ascii")
    kind = rest.partition(b"\n")[0]
    if kind == b"type commit":
        new = commit_map.get(target, target)
    elif kind == b"type tag":
        new = _retag(target, commit_map, cwd)
    else:
        new = target
    if new == target:
        return tag
    return history.make_tag(_strip_signature(b"object " + new.encode() + b"\n" + rest), cwd)


_SIGNATURE = re.compile(rb"^-----BEGIN (PGP|SSH) SIGNATURE-----\n", re.M)


def _strip_signature(text: bytes) -> bytes:
    m = _SIGNATURE.search(text)
    return text[: m.start()] if m else text


def commit_on_top(
    ctx: Context,
    ref: RefInfo,
    conv: Converter,
    reader: BlobReader,
    files: Sequence[tuple[bytes, str, bytes]],
    message: bytes,
    extra: Sequence[bytes] = (),
) -> Result:
    """`--no-rewrite`: one new commit on `ref` with the converted versions of `files` (its
    tree's (mode, blob, path)) and the new `.gitattributes`; `extra`, more file commands
    (`inline_file`, `delete_file`) for a source whose files move (DVC)."""
    out = [b"commit " + WORK.encode() + ref.name.removeprefix("refs/").encode() + b"\n"]
    msg = message
    out.append(b"mark :1\ncommitter %s\ndata %d\n%s\nfrom %s\n" % (
        history.committer(ctx.cwd), len(msg), msg, ref.peeled.encode()))  # fmt: skip
    attrs = None
    for mode, blob, path in files:
        if path == ATTRIBUTES:
            attrs = reader.read_all(blob)
            continue
        new = conv.convert(path, mode, blob)
        if isinstance(new, bytes):
            out.append(inline_file(mode, path, new))
        elif isinstance(new, str):
            out.append(b"M %s %s %s\n" % (mode, new.encode("ascii"), quote_path(path)))
    out += extra
    new_attrs = conv.attributes(attrs)
    if new_attrs is not None and new_attrs != attrs:
        out.append(b"M 100644 inline .gitattributes\ndata %d\n%s\n" % (len(new_attrs), new_attrs))
    out.append(b"\n")
    work = migrate_dir(ctx)
    os.makedirs(work, exist_ok=True)
    clear_work_refs(ctx.cwd)
    marks = os.path.join(work, "new.marks")
    imp = history.fast_import(marks, ctx.cwd)
    assert imp.stdin
    try:
        imp.stdin.write(b"".join(out))
    except BrokenPipeError:
        pass
    history.finish(imp, "fast-import")
    new = history.read_marks(marks)[":1"]
    return Result({}, [(ref.name, ref.oid, new)])


def inline_file(mode: bytes, path: bytes, data: bytes) -> bytes:
    """The fast-import command that writes `data` at `path` (small content: a pointer)."""
    return b"M %s inline %s\ndata %d\n%s\n" % (mode, quote_path(path), len(data), data)


def delete_file(path: bytes) -> bytes:
    return b"D %s\n" % quote_path(path)


def quote_path(path: bytes) -> bytes:
    """A path for fast-import, always C-quoted."""
    out = bytearray(b'"')
    for b in path:
        if b in (0x22, 0x5C):
            out += b"\\" + bytes([b])
        elif b < 0x20 or b >= 0x7F:
            out += b"\\%03o" % b
        else:
            out.append(b)
    return bytes(out + b'"')


def finish(ctx: Context, result: Result, backup: bool = True) -> list[str]:
    """Move every ref in one transaction: the rewritten ones to their new commits, the old tips
    to refs/gitdata/migrate-backup/, the work refs away; then append the commit map. Returns
    the backup refs written."""
    cwd = ctx.cwd
    taken = {r.name for r in history.list_refs([BACKUP], cwd)}
    lines, backups = [], []
    for ref, old, new in result.updates:
        name = BACKUP + ref.removeprefix("refs/")
        if name in taken:  # an earlier migrate's: keep it, and this one beside it
            name += f"-{int(time.time())}"
        lines.append(f"update {ref} {new} {old}")
        if backup:
            backups.append(name)
            lines.append(f"create {name} {old}")
    head = history.detached_head(cwd)
    if head in result.commit_map:
        lines += ["option no-deref", f"update HEAD {result.commit_map[head]} {head}"]
    lines += [f"delete {r.name} {r.oid}" for r in history.list_refs([WORK], cwd)]
    # killed after the transaction, the next run (recover) appends the commit map and checks
    # the new HEAD out before anything else; killed before it, the work refs say so
    pending = pending_checkout(ctx)
    mapped = "".join(f"{o} {n}\n" for o, n in result.commit_map.items())
    replace_file(pending + ".map", mapped.encode("ascii"))
    replace_file(pending, b"")
    try:
        history.transaction(lines, cwd)
    except BaseException:
        _unlink(pending, pending + ".map")
        raise
    kill_point("after-refs")
    recover(ctx)
    return backups


def recover(ctx: Context) -> bool:
    """Finish what a run killed after its ref transaction left: append its commit map; say
    whether its checkout is still to do. What a run killed before it left is dropped."""
    pending = pending_checkout(ctx)
    if not os.path.exists(pending):
        return False
    if history.list_refs([WORK], ctx.cwd):  # the transaction did not happen
        _unlink(pending, pending + ".map")
        return False
    if os.path.exists(pending + ".map"):
        with open(pending + ".map", "rb") as src:
            mapped = src.read()
        with open(os.path.join(migrate_dir(ctx), "commit-map"), "ab") as f:
            f.write(mapped)
        os.unlink(pending + ".map")
    return True


def _unlink(*paths: str) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class Stream:
    """One pass over fast-export's output, written on to fast-import as it is read."""

    def __init__(self, src: IO[bytes], dst: IO[bytes], conv: Converter, reader: BlobReader) -> None:
        self.src, self.dst, self.conv, self.reader = src, dst, conv, reader

    def run(self) -> None:
        src, dst = self.src, self.dst
        while True:
            line = src.readline()
            if not line:
                break
            if line.startswith(b"commit "):
                self._commit(line[7:])
            elif line.startswith(b"reset "):
                dst.write(b"reset " + work_ref(line[6:]))
            elif line.startswith(b"tag "):
                self._skip_tag()
            elif line.startswith(b"data "):
                self._copy_data(line)
            elif line != b"\n":  # the optional LF after a command: after a dropped tag, a stray
                dst.write(line)
        dst.flush()

    def _copy_data(self, line: bytes, write: bool = True) -> None:
        n = int(line[5:])
        data = self.src.read(n)
        if write:
            self.dst.write(line + data)

    def _skip_tag(self) -> None:
        while True:
            line = self.src.readline()
            if line.startswith(b"data ") or not line:
                self._copy_data(line, write=False)
                return

    def _commit(self, ref: bytes) -> None:
        src, dst = self.src, self.dst
        dst.write(b"commit " + work_ref(ref))
        has_parent = attrs_seen = False
        while True:
            line = src.readline()
            if not line or line == b"\n":
                break
            if line.startswith(b"data "):
                self._copy_data(line)
            elif line.startswith((b"from ", b"merge ")):
                has_parent = True
                dst.write(line)
            elif line.startswith(b"M "):
                attrs_seen |= self._modify(line)
            elif line.startswith(b"D ") and unquote_path(line[2:-1]) == ATTRIBUTES:
                attrs_seen = True
                self._write_attributes(None, line)
            else:
                dst.write(line)
        if not has_parent and not attrs_seen:
            self._write_attributes(None, None)
        dst.write(b"\n")

    def _modify(self, line: bytes) -> bool:
        mode, blob, quoted = line[2:-1].split(b" ", 2)
        path = unquote_path(quoted)
        if path == ATTRIBUTES and mode in (b"100644", b"100755"):
            self._write_attributes(self.reader.read_all(blob.decode("ascii")), line)
            return True
        if mode not in (b"100644", b"100755"):
            self.dst.write(line)
            return False
        new = self.conv.convert(path, mode, blob.decode("ascii"))
        if new is None:
            self.dst.write(line)
        elif isinstance(new, str):
            self.dst.write(b"M %s %s %s\n" % (mode, new.encode("ascii"), quoted))
        else:
            self.dst.write(b"M %s inline %s\ndata %d\n%s\n" % (mode, quoted, len(new), new))
        return False

    def _write_attributes(self, content: bytes | None, original: bytes | None) -> None:
        new = self.conv.attributes(content)
        if new is None:
            if content is not None or original is not None:
                self.dst.write(b"D .gitattributes\n")
        elif new == content and original is not None:
            self.dst.write(original)
        else:
            self.dst.write(b"M 100644 inline .gitattributes\ndata %d\n%s\n" % (len(new), new))


def work_ref(ref: bytes) -> bytes:
    """refs/heads/main -> refs/gitdata/migrate-work/heads/main (the line's LF kept)."""
    name = ref.removeprefix(b"refs/")
    return WORK.encode() + name


_ESCAPES = {b"n": b"\n", b"t": b"\t", b'"': b'"', b"\\": b"\\", b"a": b"\a", b"b": b"\b"}
_ESCAPES.update({b"f": b"\f", b"r": b"\r", b"v": b"\v"})


def unquote_path(token: bytes) -> bytes:
    """A path as fast-export writes it: as is, or C-quoted in double quotes."""
    if not token.startswith(b'"'):
        return token
    body, out, i = token[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i : i + 1]
        if c != b"\\":
            out += c
            i += 1
        elif body[i + 1 : i + 2].isdigit():
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
        else:
            out += _ESCAPES.get(body[i + 1 : i + 2], body[i + 1 : i + 2])
            i += 2
    return bytes(out)
