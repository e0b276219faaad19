"""Recording in git's index file the stat data of files gitdata wrote itself.

A big file reaches the worktree from a hook (git buffers a smudge filter's whole output), after
git recorded the stat data of the pointer it checked out there; until the index learns the new
file's, git calls the file modified. `git update-index` learns them by reading the whole file
back through the clean filter: a second pass over every byte (1.5 s of a 1 GiB clone here). We
already know the filter's answer: the caller wrote the file from the object the entry's pointer
names, and the stat cache ties these stat data to that object. So, as git does after its own
checkout, the stat data go into the entry directly: under `index.lock`, changing nothing but
the stat fields of entries, so that the file keeps its layout and every extension stays valid
(cache tree, untracked cache, fsmonitor, end-of-index offsets); then a new checksum.

An index this does not read (a split index, a version other than 2-4, a checksum that does not
match) is left to `update-index`, as before: callers fall back to it for what is not recorded.

Racy git: git trusts an entry's stat data only if the file's mtime is older than the index
file's own (read-cache.c, `is_racy_timestamp`); a git built without USE_NSEC (Debian's)
compares whole seconds. Writing the index makes its mtime newer, which would make git trust
entries it could not trust in the index we read: as git does when it writes an index, we zero
the size of those (git then compares their content), counting in whole seconds, which covers
nanoseconds too. The files we record must be older than the new index by a whole second for
such a git, or it compares their content once: the caller dates what it writes to the last
nanosecond of the second before (worktree.write_worktree_file).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from collections.abc import Iterator, Mapping

_HEADER = struct.Struct(">4sII")
_WORD = struct.Struct(">I")
_TIMES = struct.Struct(">IIIIII")  # ctime s, ns; mtime s, ns; dev; ino
_OWNER = struct.Struct(">III")  # uid, gid, size (after the mode word)
_MTIME_AT, _MODE_AT, _OWNER_AT, _SIZE_AT, _OID_AT = 8, 24, 28, 36, 40
_EXTENDED = 0x4000  # flags: a second flags word follows (version 3 and later)
_STAGE = 0x3000  # flags: the merge stage
_NAME_MASK = 0xFFF
_SKIP = 0x4000  # second flags word: skip-worktree, the file is not in the worktree
_REGULAR, _GITLINK, _DIRECTORY = 0o100000, 0o160000, 0o040000


def record_stat(index: str, files: Mapping[bytes, tuple[str, os.stat_result]]) -> set[bytes] | None:
    """Write into the index file `index` the stat data of `files`: top-relative path -> (the
    blob, in hex, that its stage-0 entry must stage; the file's stat). Returns the paths
    recorded (those whose entry stages that blob, and none when the index is of a kind this
    does not read); None when another git command holds the index lock."""
    lock = index + ".lock"
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return None
    except OSError:
        return set()  # a read-only repository, say: update-index says what is wrong
    renamed = False
    try:
        with open(fd, "wb") as out:
            with open(index, "rb") as f:
                before = os.fstat(f.fileno())
                data = bytearray(f.read())
            done = _patch(data, files, before.st_mtime_ns)
            if not done:
                return done
            os.fchmod(out.fileno(), before.st_mode & 0o777)
            out.write(data)
        os.rename(lock, index)
        renamed = True
        return done
    except OSError:
        return set()  # no index yet, a full disk: the same
    finally:
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)


def _patch(
    data: bytearray, files: Mapping[bytes, tuple[str, os.stat_result]], index_mtime_ns: int
) -> set[bytes]:
    """Record `files` in the index bytes `data`, smudge the entries the new index time would
    make look clean, renew the checksum. Returns the paths recorded (none: leave it alone)."""
    if not files:
        return set()
    hash_len = len(next(iter(files.values()))[0]) // 2
    body, trailer = bytes(data[:-hash_len]), bytes(data[-hash_len:])
    digest = hashlib.sha1 if hash_len == 20 else hashlib.sha256
    if len(data) < _HEADER.size + hash_len or (any(trailer) and digest(body).digest() != trailer):
        return set()
    done: set[bytes] = set()
    racy = index_mtime_ns // 10**9
    try:
        for at, path, mtime, mode, flags, flags2 in _entries(body, hash_len):
            kind = mode & 0o170000
            want = files.get(path)
            if want is not None and kind == _REGULAR and not flags & _STAGE and not flags2 & _SKIP:
                if body[at + _OID_AT : at + _OID_AT + hash_len].hex() == want[0]:
                    _record(data, at, want[1])
                    done.add(path)
                    continue
            if mtime >= racy and kind not in (_GITLINK, _DIRECTORY):  # git ignores their stat
                _WORD.pack_into(data, at + _SIZE_AT, 0)  # racy: git must look at its content
    except (ValueError, IndexError, struct.error):
        return set()  # not an index this reads
    if done and any(trailer):
        with memoryview(data) as view:  # no copy of the index to hash it
            new = digest(view[:-hash_len]).digest()
        data[-hash_len:] = new
    return done


def _record(data: bytearray, at: int, st: os.stat_result) -> None:
    """The stat data of the entry at `at`, as git's `fill_stat_data` keeps them (32 bits each);
    the mode word stays the entry's."""
    times = (*divmod(st.st_ctime_ns, 10**9), *divmod(st.st_mtime_ns, 10**9))  # not the floats
    _TIMES.pack_into(data, at, *(v & 0xFFFFFFFF for v in (*times, st.st_dev, st.st_ino)))
    _OWNER.pack_into(
        data, at + _OWNER_AT, *(v & 0xFFFFFFFF for v in (st.st_uid, st.st_gid, st.st_size))
    )


def _entries(body: bytes, hash_len: int) -> Iterator[tuple[int, bytes, int, int, int, int]]:
    """(offset, path, mtime in seconds, mode, flags, second flags word) of every entry of an
    index of version 2, 3 or 4; ValueError for anything else, or a split index (its entries
    live in another file)."""
    sig, version, count = _HEADER.unpack_from(body)
    if sig != b"DIRC" or version not in (2, 3, 4):
        raise ValueError("not an index this reads")
    at = _HEADER.size
    path = b""
    fixed = _OID_AT + hash_len + 2
    head = struct.Struct(f">{_MTIME_AT}xI{_MODE_AT - _MTIME_AT - 4}xI{fixed - _MODE_AT - 6}xH")
    for _ in range(count):
        mtime, mode, flags = head.unpack_from(body, at)
        name = at + fixed
        flags2 = 0
        if flags & _EXTENDED:
            if version < 3:
                raise ValueError("extended flags in a version 2 index")
            flags2 = struct.unpack_from(">H", body, name)[0]
            name += 2
        if version == 4:
            strip, name = _varint(body, name)
            end = body.index(b"\0", name)
            if strip > len(path):
                raise ValueError("bad path compression")
            path = path[: len(path) - strip] + body[name:end]
            nxt = end + 1
        else:
            size = flags & _NAME_MASK
            end = body.index(b"\0", name) if size == _NAME_MASK else name + size
            path = body[name:end]
            nxt = at + ((end - at + 8) & ~7)
        if nxt > len(body):
            raise ValueError("truncated index")
        yield at, path, mtime, mode, flags, flags2
        at = nxt
    while at + 8 <= len(body):  # extensions: refuse a split index
        sig, size = struct.unpack_from(">4sI", body, at)
        if sig == b"link":
            raise ValueError("split index")
        at += 8 + size
    if at != len(body):
        raise ValueError("truncated extensions")


def _varint(buf: bytes, at: int) -> tuple[int, int]:
    """git's offset varint (varint.c): the value and where the bytes after it start."""
    c = buf[at]
    at += 1
    val = c & 127
    while c & 128:
        c = buf[at]
        at += 1
        val = ((val + 1) << 7) + (c & 127)
    return val, at
