"""Paths for people and for scripts: git stores a path as bytes, and so does gitdata.

Text output quotes a path as git does (`core.quotePath`, quote.c): a name with a control
character, a double quote, a backslash, or (unless quotePath is false) a byte of 0x80 or more is
written in double quotes with C escapes (`\\n`, `\\t`, `\\"`, `\\\\`, octal `\\303`). JSON carries
any byte path losslessly: `"path"` is the name decoded as UTF-8 (with U+FFFD where it is not),
and, only when the name is not valid UTF-8, `"path_base64"` holds its exact bytes.
"""

from __future__ import annotations

import base64

_ESCAPES = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 34: '"', 92: "\\"}


def quote(path: bytes, quote_path: bool = True) -> str:
    """`path` as `git status` would print it."""
    if not any(_needs(b, quote_path) for b in path):
        return path.decode("utf-8", "replace")
    out = ['"']
    for b in path:
        if not _needs(b, quote_path):
            out.append(chr(b))
        elif b in _ESCAPES:
            out.append("\\" + _ESCAPES[b])
        else:
            out.append(f"\\{b:03o}")
    out.append('"')
    text = "".join(out)
    if not quote_path:  # raw high bytes were kept: decode them as the UTF-8 they may be
        return text.encode("latin-1").decode("utf-8", "replace")
    return text


def _needs(b: int, quote_path: bool) -> bool:
    return b < 0x20 or b in (34, 92, 0x7F) or (quote_path and b >= 0x80)


def json_fields(path: bytes, key: str = "path") -> dict[str, str]:
    """`{key: text}`, plus `{key}_base64` when `path` is not valid UTF-8."""
    try:
        return {key: path.decode("utf-8")}
    except UnicodeDecodeError:
        return {
            key: path.decode("utf-8", "replace"),
            f"{key}_base64": base64.b64encode(path).decode("ascii"),
        }
