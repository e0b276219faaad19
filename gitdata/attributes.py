"""`.gitattributes` lines for data files: `PATTERN filter=data diff=data merge=data -text`."""

from __future__ import annotations

import os

from .fsutil import replace_file

ATTRS = "filter=data diff=data merge=data -text"
FILE = ".gitattributes"


def escape(pattern: str) -> str:
    """gitattributes splits on whitespace and treats a leading '#' as a comment (git-lfs
    escapes the same way)."""
    pattern = pattern.replace(" ", "[[:space:]]")
    return "\\" + pattern if pattern.startswith("#") else pattern


def unescape(pattern: str) -> str:
    pattern = pattern.replace("[[:space:]]", " ")
    return pattern[1:] if pattern.startswith("\\#") else pattern


def _split(line: str) -> tuple[str, list[str]] | None:
    s = line.strip()
    if not s or s.startswith("#"):
        return None
    parts = s.split()
    return parts[0], parts[1:]


def read(top: str) -> list[str]:
    try:
        with open(os.path.join(top, FILE), encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def write(top: str, lines: list[str]) -> None:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    replace_file(os.path.join(top, FILE), data)


def tracked(top: str) -> list[str]:
    """Patterns with filter=data in the top-level .gitattributes, as the user wrote them."""
    out = []
    for line in read(top):
        parsed = _split(line)
        if parsed and "filter=data" in parsed[1]:
            out.append(unescape(parsed[0]))
    return out


def track(top: str, patterns: list[str]) -> tuple[list[str], list[str]]:
    """Add patterns; return (added, already tracked)."""
    lines = read(top)
    have = set(tracked(top))
    added, already = [], []
    for p in patterns:
        if p in have:
            already.append(p)
            continue
        lines.append(f"{escape(p)} {ATTRS}")
        have.add(p)
        added.append(p)
    if added:
        write(top, lines)
    return added, already


def untrack(top: str, patterns: list[str]) -> list[str]:
    """Remove the filter=data lines of these patterns; return the patterns removed."""
    wanted = set(patterns)
    kept, removed = [], []
    for line in read(top):
        parsed = _split(line)
        if parsed and "filter=data" in parsed[1] and unescape(parsed[0]) in wanted:
            removed.append(unescape(parsed[0]))
            continue
        kept.append(line)
    if removed:
        write(top, kept)
    return removed
