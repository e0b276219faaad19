"""The documentation is the project's own and stays true: the command reference matches the
parsers, every message is in the troubleshooting page, every link resolves inside the
repository, the README stays a front door, and `git data help` works from a regular install."""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gitdata import cli, reference

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
COMMANDS_MD = (DOCS / "commands.md").read_text(encoding="utf-8")
TROUBLESHOOTING_MD = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")

# Documented in docs/commands.md ahead of the code, which is on its way from another branch.
# When that branch is merged, delete its entries here: the test then holds the reference and the
# parser to each other again (and fails while an entry names something the parser has).
PENDING_COMMANDS: set[str] = set()
PENDING_OPTIONS: set[tuple[str, str]] = set()

#: Options every command has, documented once under "Conventions".
EVERYWHERE = {"-h", "--help"}


# --- the command reference against the parsers --------------------------------------------------


def parser_commands() -> dict[str, argparse.ArgumentParser]:
    """Every command and sub-command of the real parser: `push`, `remote add`, …"""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found[f"{prefix}{name}"] = sub
                    walk(sub, f"{prefix}{name} ")

    walk(cli.build_parser(), "")
    return found


def parser_entries(parser: argparse.ArgumentParser) -> set[str]:
    """Its options (every spelling) and its arguments (by metavar), as the reference names them."""
    out = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue  # documented as sub-command sections
        if action.option_strings:
            out |= set(action.option_strings) - EVERYWHERE
        else:
            out.add(str(action.metavar or action.dest.upper()))
    return out


def own_text(section: str) -> str:
    """A command's section without its sub-sections (`remote` without `remote add`)."""
    lines = section.split("\n")
    for i, line in enumerate(lines[1:], 1):
        if re.match(r"#{1,6} ", line):
            return "\n".join(lines[:i])
    return section


_ENTRY = re.compile(r"^- ((?:`[^`]+`(?:, )?)+)", re.M)


def documented_entries(section: str) -> set[str]:
    """The options and arguments a section documents: list items that start with them in code,
    `- `--grace DURATION`: …`, `- `-o OUT`, `--out OUT`: …`, `- `REF…`: …`."""
    out = set()
    for m in _ENTRY.finditer(own_text(section)):
        for span in re.findall(r"`([^`]+)`", m.group(1)):
            word = span.split()[0].rstrip("…").rstrip(".")
            if word.startswith("-") or re.fullmatch(r"[A-Z][A-Z_]*|%[A-Z]", word):
                out.add(word)
    return out


def test_every_command_is_documented_and_nothing_else():
    documented = set(reference.command_sections(COMMANDS_MD))
    real = set(parser_commands())
    assert not (PENDING_COMMANDS & real), (
        f"{sorted(PENDING_COMMANDS & real)} exist now: remove them from PENDING_COMMANDS"
    )
    assert real - documented == set(), "commands without a section in docs/commands.md"
    assert documented - real - PENDING_COMMANDS == set(), "documented commands that do not exist"
    assert PENDING_COMMANDS <= documented


@pytest.mark.parametrize("name", sorted(parser_commands()))
def test_every_option_and_argument_is_documented(name):
    section = reference.command_sections(COMMANDS_MD)[name]
    documented = documented_entries(section)
    real = parser_entries(parser_commands()[name])
    pending = {opt for cmd, opt in PENDING_OPTIONS if cmd == name}
    assert not (pending & real), f"{sorted(pending & real)} exist now: remove from PENDING_OPTIONS"
    assert real - documented == set(), f"not documented in '## git data {name}'"
    assert documented - real - pending == set(), f"documented for {name}, but no such option"


def test_a_synopsis_heads_every_command():
    for name, section in reference.command_sections(COMMANDS_MD).items():
        assert re.search(rf"```\ngit(?: |-)data {re.escape(name)}\b", section) or name.startswith(
            "remote "
        ), f"'## git data {name}' has no synopsis block"


def test_every_json_output_is_shown():
    for name, parser in parser_commands().items():
        if "--json" in parser_entries(parser):
            assert "```json" in reference.command_sections(COMMANDS_MD)[name], name


def test_guides_and_commands_have_different_names():
    # `git data help NAME` looks for a command first: a guide named like one would be unreachable
    assert not set(reference.page_names()) & set(parser_commands()) - {reference.COMMANDS}


def test_help_names_every_guide():
    section = reference.command_sections(COMMANDS_MD)["help"]
    named = set(re.findall(r"`([a-z0-9-]+)`", section.split("`COMMAND`", 1)[1].split("\n- ", 1)[0]))
    assert named == set(reference.page_names()) - {reference.COMMANDS}


# --- every message in the troubleshooting page --------------------------------------------------

#: Calls whose first argument is a message for people.
MESSAGE_CALLS = {
    "GitDataError", "UsageError", "GitError", "ConfigError", "StoreError", "ObjectMissing",
    "IntegrityError", "StoreWide", "ProtocolError", "error", "error_list", "warn",
    "CorruptPack", "CorruptManifest", "UnsupportedStore", "ChunkerUnavailable",
    "LocalIndexError",
}  # fmt: skip


def _pattern(node: ast.expr) -> str | None:
    """A regex for the text `node` builds: literal parts as they are, anything computed as a
    placeholder. None when the whole message is computed elsewhere (a variable)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(
            re.escape(v.value) if isinstance(v, ast.Constant) else ".+?" for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _pattern(node.left), _pattern(node.right)
        if left is None and right is None:
            return None
        return (left or ".*?") + (right or ".*?")
    if isinstance(node, ast.IfExp):
        a, b = _pattern(node.body), _pattern(node.orelse)
        return f"(?:{a or '.*?'}|{b or '.*?'})"
    return None


def messages() -> list[tuple[str, str]]:
    """(where, pattern) for every message gitdata can print."""
    found = []
    for path in sorted((ROOT / "gitdata").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in MESSAGE_CALLS:
                continue
            if name in ("error", "error_list", "warn") and not (
                isinstance(func, ast.Name) or getattr(func.value, "id", "") == "output"
            ):
                continue  # some other object's error()
            pattern = _pattern(node.args[0])
            if pattern is not None and pattern.strip(".+?*()|"):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", pattern))
    return found


def test_every_message_is_in_troubleshooting():
    found = messages()
    assert len(found) > 80  # the walk finds them
    missing = [w for w, p in found if not re.search(p, TROUBLESHOOTING_MD)]
    assert missing == [], "messages not in docs/troubleshooting.md (add them there)"


def test_the_hook_shim_message_is_in_troubleshooting():
    from gitdata import hooks

    line = re.search(r'echo >&2 "git-data: error: (.*)"', hooks.render("pre-push"))
    assert line and line.group(1) in TROUBLESHOOTING_MD


# --- links ---------------------------------------------------------------------------------------

_FENCED = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_INLINE_CODE = re.compile(r"(`+).+?\1", re.S)
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")


def prose(markdown: str) -> str:
    """The page without code, where nothing is a link."""
    return _INLINE_CODE.sub("", _FENCED.sub("", markdown))


def slug(title: str) -> str:
    """GitHub's anchor for a heading: its text, lowercased, without punctuation but `-` and
    `_`, spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for h in reference.headings(markdown):
        base = slug(h.title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(page):
    text = page.read_text(encoding="utf-8")
    body = prose(text)
    assert not re.search(r"(?i)\b(?:https?|ftp)://", body), "no link may leave the repository"
    assert not re.search(r"\]\[[^\]]*\]|^\s*\[[^\]]+\]:\s", body, re.M), "reference-style link"
    for target in _LINK.findall(body):
        assert target, f"empty link in {page.name}"
        assert not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I), f"{target}: leaves the repo"
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.name}: {target}: no such file"
        assert dest == ROOT or ROOT in dest.parents, f"{page.name}: {target}: outside the repo"
        assert "SPEC" not in path
        if anchor:
            assert dest.suffix == ".md", f"{page.name}: {target}: an anchor in a non-page"
            assert anchor in anchors(dest.read_text(encoding="utf-8")), (
                f"{page.name}: {target}: no heading #{anchor} in {dest.name}"
            )


def test_every_page_is_reachable_from_the_readme():
    reached = set()
    todo = [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in reached:
            continue
        reached.add(page)
        for target in _LINK.findall(prose(page.read_text(encoding="utf-8"))):
            path = target.partition("#")[0]
            dest = (page.parent / path).resolve() if path else page
            if dest.suffix == ".md" and dest.is_file():
                todo.append(dest)
    assert set(PAGES) - reached == set()


def test_nothing_points_outside_the_repository_for_documentation():
    """The contract users read is docs/: no page or comment sends them to a spec they lack."""
    paths = [*(ROOT / "gitdata").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *PAGES]
    for path in paths:
        if path.name == Path(__file__).name:
            continue
        text = path.read_text(encoding="utf-8")
        assert "SPEC.md" not in text, path
        if path.suffix == ".py":
            assert not re.search(r"\bSPEC\b", text), f"{path}: name the docs/ page instead"


# --- the README stays the front door -------------------------------------------------------------


def test_readme_is_short_and_shows_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    assert "./install.sh " in text and "./install.sh --test" in text
    assert "docs/README.md" in text


# --- git data help ------------------------------------------------------------------------------


def test_help_prints_the_reference_of_a_command(env):
    out = env.data("help", "push").stdout.decode()
    assert out.startswith("git data push\n")
    assert "git data push [REMOTE] [REF…] [--all] [--dry-run]" in out
    assert "--dry-run" in out and "## " not in out and "`" not in out and "TODO" not in out
    assert env.data("push", "--help").stdout.decode() == out
    assert env.data("help", "git", "data", "push").stdout.decode() == out


def test_help_of_a_sub_command_a_guide_and_the_overview(env):
    add = env.data("remote", "add", "--help").stdout.decode()
    assert add.startswith("git data remote add\n") and "--endpoint-url U" in add
    assert env.data("help", "remote", "add").stdout.decode() == add
    assert "git data remote list" in env.data("help", "remote").stdout.decode()
    guide = env.data("help", "troubleshooting").stdout.decode()
    assert "store <store>: access denied (<code>)" in guide
    overview = env.data("help").stdout.decode()
    assert "git data status" in overview and "troubleshooting" in overview
    assert "Exit codes" not in overview  # the list, not the whole page


def test_help_without_such_a_command_is_a_usage_error(env):
    p = env.data("help", "nosuch", check=False)
    assert p.returncode == 2
    assert p.stderr.decode().startswith("git-data: error: no command or guide named 'nosuch'")


def test_short_help_stays_the_usage(env):
    out = env.data("push", "-h").stdout.decode()
    assert out.startswith("usage: git data push")


def test_help_uses_the_pager_only_on_a_terminal(env):
    # not a terminal here: written straight out, even with a pager configured
    out = env.data("help", "gc", env={"GIT_PAGER": "false", "PAGER": "false"}).stdout.decode()
    assert out.startswith("git data gc\n")


def test_rendering_for_a_terminal_wraps_and_drops_markup():
    md = (
        "## git data x\n\n<!-- TODO(lead): hidden -->\nSee [the s3 page](s3.md#a) and "
        "[below](#y), **bold** `code`.\n\n- `--opt N`: a long item " + "word " * 30 + "\n"
    )
    out = reference.text(md, "commands", 60)
    assert "hidden" not in out and "**" not in out and "`" not in out
    assert "the s3 page (git data help s3)" in out and "[below]" not in out
    assert all(len(line) <= 60 for line in out.splitlines())
    assert "\n  word" in out  # list items continue under their text


def test_man_page_is_valid_roff(env, tmp_path):
    page = env.data("help", "--man").stdout.decode()
    assert page.startswith(".TH GIT\\-DATA 1")
    assert ".SH GIT DATA PUSH" in page and "\\-\\-dry\\-run" in page
    if shutil.which("groff"):
        p = subprocess.run(
            ["groff", "-man", "-Tutf8", "-ww", "-z"], input=page.encode(), capture_output=True
        )
        assert p.returncode == 0 and p.stderr == b"", p.stderr.decode()


@pytest.mark.skipif(not shutil.which("man"), reason="no man(1) here")
def test_git_help_data_shows_the_man_page(env, tmp_path):
    man1 = tmp_path / "share" / "man" / "man1"
    man1.mkdir(parents=True)
    (man1 / "git-data.1").write_bytes(env.data("help", "--man").stdout)
    p = env.git(
        "help",
        "data",
        env={
            "MANPATH": str(tmp_path / "share" / "man"),
            "MANPAGER": "cat",
            "PAGER": "cat",
            "MANWIDTH": "100",
            "GIT_PAGER": "cat",
        },
        check=False,
    )
    assert p.returncode == 0, p.stderr.decode()
    out = re.sub(r".\x08", "", p.stdout.decode())  # no overstrike
    assert "git data push [REMOTE]" in out


@pytest.mark.slow
def test_help_works_from_a_regular_install(tmp_path):
    """`pip install .` has no docs/ beside the package: the pages must be inside it."""
    wheels = tmp_path / "wheels"
    p = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    (wheel,) = wheels.glob("gitdata-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert {f"gitdata/docs/{page.name}" for page in DOCS.glob("*.md")} <= names
        z.extractall(site)
    assert not (site / "gitdata" / "docs").is_symlink()
    # -S: no site-packages, so neither the editable install nor anything but the wheel's gitdata
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import gitdata, gitdata.cli; "
        "assert gitdata.__file__.startswith(sys.argv[1]), gitdata.__file__; "
        "sys.exit(gitdata.cli.main(['help', 'push']))"
    )
    p = subprocess.run([sys.executable, "-S", "-c", code, str(site)], capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().startswith("git data push\n")
