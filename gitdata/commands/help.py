from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .. import __version__, reference
from ..errors import GitDataError, GitError, UsageError
from ..git.run import run_git


def help(topic: list[str] | None = None, man: bool = False) -> int:
    """Show the reference of a command (its section of docs/commands.md), a guide from docs/,
    or, with no topic, the list of both. `git data COMMAND --help` lands here too."""
    try:
        commands_md = reference.read(reference.COMMANDS)
    except OSError as e:
        raise GitDataError(
            f"the reference is not installed with gitdata ({e.strerror}: docs/commands.md)",
            "reinstall gitdata (./install.sh); the same pages are in docs/ of its repository",
        ) from e
    if man:
        sys.stdout.write(reference.roff(commands_md, __version__))
        return 0
    name = " ".join(topic or [])
    if name.startswith(reference.PREFIX):  # `git data help "git data push"`
        name = name[len(reference.PREFIX) :]
    sections = reference.command_sections(commands_md)
    width = min(max(shutil.get_terminal_size().columns - 1, 40), 100)
    if not name:
        guides = ", ".join(n for n in reference.page_names() if n != reference.COMMANDS)
        page = reference.text(
            reference.preamble(commands_md) + f"\nGuides (`git data help GUIDE`): {guides}.\n",
            reference.COMMANDS,
            width,
        )
    elif name in sections:
        page = reference.text(sections[name], reference.COMMANDS, width)
    elif name in reference.page_names():
        page = reference.text(reference.read(name), name, width)
    else:
        raise UsageError(
            f"no command or guide named '{name}'",
            "`git data help` lists the commands and guides",
        )
    show(page)
    return 0


def show(page: str) -> None:
    """Print `page`, through git's pager when stdout is a terminal (as `git help` does)."""
    if not sys.stdout.isatty():
        sys.stdout.write(page)
        return
    try:  # core.pager, GIT_PAGER, PAGER, else less: git's own choice
        pager = run_git(["var", "GIT_PAGER"]).stdout.decode().strip()
    except GitError:
        pager = os.environ.get("PAGER", "less")
    if pager in ("", "cat"):
        sys.stdout.write(page)
        return
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")  # what git sets for its pager
    env.setdefault("LV", "-c")
    sys.stdout.flush()
    try:
        subprocess.run(pager, shell=True, input=page.encode(), env=env)
    except OSError:
        sys.stdout.write(page)
