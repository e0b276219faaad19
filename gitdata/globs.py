"""Path globs with gitattributes/wildmatch rules, for `--include` and `--exclude`.

A pattern without a slash matches a name at any depth (`*.bin`); one with a slash is anchored at
the top (`data/*.bin`, `/models`); `*` and `?` stop at '/', `**` crosses directories. As with
git-lfs's fetch filters, a pattern that matches a directory matches everything below it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def _translate(pat: str) -> str:
    out = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pat.find("]", i + 2 if pat[i + 1 : i + 2] in ("!", "^") else i + 1)
            if j < 0:
                out.append(re.escape(c))
                i += 1
                continue
            body = pat[i + 1 : j]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pat[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def compile_glob(pattern: str, below: bool = True) -> re.Pattern[str]:
    """`below`: a match of a directory matches what is below it too (False: files only, as
    gitattributes matches)."""
    pat = pattern.rstrip("/")
    tail = "(?:/.*)?" if below else ""
    if "/" in pat:
        body = _translate(pat.lstrip("/"))
        return re.compile(body + tail)
    return re.compile("(?:.*/)?" + _translate(pat) + tail)


class PathFilter:
    """--include / --exclude: a path passes when it matches some include (or there is none)
    and no exclude."""

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = [compile_glob(p) for p in include]
        self.exclude = [compile_glob(p) for p in exclude]

    def match(self, path: bytes | str) -> bool:
        p = path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path
        if self.include and not any(r.fullmatch(p) for r in self.include):
            return False
        return not any(r.fullmatch(p) for r in self.exclude)
