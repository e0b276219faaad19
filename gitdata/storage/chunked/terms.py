"""The terms of a file being pushed (docs/chunked-store.md, 4.5 step 4): while its packs are
still open, each chunk is a pending term naming this push's pack (a Slot) or a stored pack or
whole object; once every pack is closed, consecutive terms whose frames are contiguous merge
into one, and the frames its delta frames need as bases add base-only terms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .format.manifest import Term
from .packer import PackWriter


@dataclass
class Slot:
    """A pack of this push: being written (`pid` None), or closed and uploaded (`writer` None;
    its index entries are in the local index, not kept here)."""

    writer: PackWriter | None
    pid: bytes | None = None


# a term while packs are open: (slot or pack id or oid, is whole, offset, length, output)
Pending = tuple[object, bool, int, int, int]


def source_of(src: object) -> bytes:
    if isinstance(src, Slot):
        assert src.pid is not None
        return src.pid
    assert isinstance(src, bytes)
    return src


def merge_terms(pending: list[Pending], bases: Sequence[Pending] = ()) -> tuple[Term, ...]:
    """Output terms in file order, merged where frames are contiguous; then base-only terms
    for the delta bases no output term holds (4.5 step 4)."""
    terms: list[Term] = []
    held: set[tuple[bytes, int]] = set()
    for src, whole, off, length, output in pending:
        source = source_of(src)
        held.add((source, off))
        last = terms[-1] if terms else None
        if (
            last is not None and last.whole == whole and last.source == source
            and last.offset + last.length == off
        ):  # fmt: skip
            terms[-1] = last._replace(length=last.length + length, output=last.output + output)
        else:
            terms.append(Term(whole, source, off, length, output))
    extra: list[Term] = []
    for source, off, length in sorted({(source_of(b[0]), b[2], b[3]) for b in bases}):
        if (source, off) in held:
            continue
        last = extra[-1] if extra else None
        if last is not None and last.source == source and last.offset + last.length == off:
            extra[-1] = last._replace(length=last.length + length)
        elif last is None or last.source != source or last.offset + last.length < off:
            extra.append(Term(False, source, off, length, 0, True))
    return tuple(terms + extra)
