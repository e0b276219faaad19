"""The documentation that ships inside the package: `docs/` (Markdown), read for `git data help`.

`gitdata/docs` is a symbolic link to the repository's `docs/`, so there is one copy of every
page: setuptools copies the files behind the link into wheels and sdists (`pip install .`), and
an editable install reads `docs/` through the link. `docs/commands.md` is the command reference;
each command is a section headed `## git data NAME` (a sub-command, `### git data remote add`).

Only the Markdown that the pages use is understood: headings, paragraphs, `-` lists, fenced
code, tables, inline code, bold and links. `text()` renders it for a terminal, `roff()` as a
man page (`git data help --man`, which install.sh installs as git-data(1) for `git help data`).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from importlib import resources

COMMANDS = "commands"
PREFIX = "git data "

_HEADING = re.compile(r"(#{1,6}) +(.*?) *#* *$")
_FENCE = re.compile(r"^(```|~~~)")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"(`+)(.+?)\1")


def page_names() -> list[str]:
    """The pages in `docs/`, without `.md`."""
    root = resources.files("gitdata") / "docs"
    names = [p.name[:-3] for p in root.iterdir() if p.name.endswith(".md")]
    return sorted(n for n in names if n != "README")


def read(name: str) -> str:
    """The Markdown of `docs/<name>.md`; FileNotFoundError if there is no such page."""
    return (resources.files("gitdata") / "docs" / f"{name}.md").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Heading:
    level: int
    title: str  # as written, inline Markdown included
    line: int  # index into the page's lines


def headings(markdown: str) -> list[Heading]:
    """Every ATX heading outside fenced code and comments."""
    out = []
    fenced = False
    for i, line in enumerate(_strip_comments(markdown).split("\n")):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else _HEADING.fullmatch(line)
        if m:
            out.append(Heading(len(m.group(1)), m.group(2), i))
    return out


def command_name(title: str) -> str | None:
    """`remote add` for a heading `git data remote add` (backticks allowed); else None."""
    plain = title.strip("`").strip()
    return plain[len(PREFIX) :] if plain.startswith(PREFIX) else None


def command_sections(markdown: str) -> dict[str, str]:
    """Command name -> the Markdown of its section, sub-sections included."""
    lines = _strip_comments(markdown).split("\n")
    hs = headings(markdown)
    out = {}
    for n, h in enumerate(hs):
        name = command_name(h.title)
        if name is None:
            continue
        end = next((x.line for x in hs[n + 1 :] if x.level <= h.level), len(lines))
        out[name] = "\n".join(lines[h.line : end]).rstrip() + "\n"
    return out


def preamble(markdown: str) -> str:
    """What comes before the first command section."""
    lines = _strip_comments(markdown).split("\n")
    first = next((h.line for h in headings(markdown) if command_name(h.title)), len(lines))
    return "\n".join(lines[:first]).rstrip() + "\n"


def _strip_comments(markdown: str) -> str:
    # keep the line count: a comment's lines become empty lines
    return _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), markdown)


# --- rendering --------------------------------------------------------------------------------


def _inline_text(s: str, page: str = "") -> str:
    def link(m: re.Match[str]) -> str:
        # a link to another page of docs/ says how to read it here
        target = m.group(2).split("#", 1)[0]
        if target.endswith(".md") and "/" not in target and target[:-3] not in ("", page):
            return f"{m.group(1)} (git data help {target[:-3]})"
        return m.group(1)

    s = _LINK.sub(link, s)
    s = _BOLD.sub(r"\1", s)
    return _CODE.sub(lambda m: m.group(2).strip(), s)


def _blocks(markdown: str) -> list[tuple[str, str, str]]:
    """The page as (kind, indent, text): `code` lines, `heading`s (the indent is the level's
    `#`s), `table` rows, `blank` lines, and whole `para`graphs and list `item`s with their lines
    joined, so that inline code and links may run across line breaks as Markdown allows."""
    out: list[tuple[str, str, str]] = []
    fenced = False
    for line in _strip_comments(markdown).split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            out.append(("fence", "", ""))
            continue
        if fenced:
            out.append(("code", "", line))
            continue
        m = _HEADING.fullmatch(line)
        item = _ITEM.fullmatch(line)
        last = out[-1][0] if out else ""
        if m:
            out.append(("heading", m.group(1), m.group(2)))
        elif not line.strip():
            out.append(("blank", "", ""))
        elif line.startswith("|"):
            if not _TABLE_RULE.fullmatch(line):
                out.append(("table", "", line))
        elif item:
            out.append(("item", item.group(1), item.group(2)))
        elif last in ("para", "item"):
            kind, indent, text = out[-1]
            out[-1] = (kind, indent, f"{text} {line.strip()}")
        else:
            out.append(("para", "", line.strip()))
    return out


def text(markdown: str, page: str = "", width: int = 80) -> str:
    """Markdown for a terminal: no markup, paragraphs and list items wrapped to `width`, code
    indented by four spaces. `page` is the page's name, for links to other pages."""
    out: list[str] = []
    for kind, indent, line in _blocks(markdown):
        if kind == "code":
            out.append("    " + line if line else "")
        elif kind == "heading":
            out += ["", _inline_text(line, page), ""]
        elif kind == "blank":
            out.append("")
        elif kind == "table":
            out.append(_inline_text(line, page))
        elif kind in ("para", "item"):
            first = indent + "- " if kind == "item" else ""
            out += textwrap.wrap(
                _inline_text(line, page),
                width,
                initial_indent=first,
                subsequent_indent=" " * len(first),
                break_on_hyphens=False,
                break_long_words=False,
            )
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n") + "\n"


_TABLE_RULE = re.compile(r"\|[\s:|-]*-[\s:|-]*\|?")
_ITEM = re.compile(r"( *)(?:[-*]|\d+\.) +(.*)")


def _escape(s: str) -> str:
    """Text for roff: backslashes and hyphens escaped (`\\-` is a hyphen-minus, as options need),
    anything beyond ASCII as a named glyph (`…` is `\\[u2026]`), which groff and mandoc read
    whatever the locale."""
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in s)


def _inline_roff(s: str) -> str:
    s = _LINK.sub(r"\1", s)
    parts = []
    pos = 0
    for m in re.finditer(r"\*\*(.+?)\*\*|(`+)(.+?)\2", s):
        inner = m.group(1) if m.group(1) is not None else m.group(3).strip()
        parts += [_escape(s[pos : m.start()]), "\\fB", _escape(inner), "\\fR"]
        pos = m.end()
    parts.append(_escape(s[pos:]))
    line = "".join(parts).strip()
    return "\\&" + line if line[:1] in (".", "'") else line


def roff(markdown: str, version: str) -> str:
    """A page as a man page: git-data(1) is docs/commands.md."""
    out = [
        f'.TH GIT\\-DATA 1 "" "gitdata {version}" "Git Manual"',
        ".nh",  # no hyphenation, left-aligned: options and paths read as typed
        ".ad l",
        ".SH NAME",
        "git\\-data \\- version large data files inside ordinary Git",
        ".SH DESCRIPTION",
    ]
    fenced = False
    for kind, indent, line in _blocks(markdown):
        if kind == "fence":
            out += [".PP", ".RS 4", ".nf"] if not fenced else [".fi", ".RE"]
            fenced = not fenced
        elif kind == "code":
            out.append("\\&" + _escape(line))
        elif kind == "heading":
            title = _inline_text(line)
            if len(indent) == 2:
                out.append(f".SH {_escape(title.upper())}")
            elif len(indent) > 2:  # level 1, the page's title, is the NAME section
                out.append(f'.SS "{_escape(title)}"')
        elif kind == "table":
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out += [".br", " \\(em ".join(_inline_roff(c) for c in cells if c)]
        elif kind == "item":
            out += [".IP \\(bu 2" if not indent else ".IP \\(en 4", _inline_roff(line)]
        elif kind == "para":
            out += [".PP", _inline_roff(line)]
    return "\n".join(out) + "\n"
