"""The one way gitdata runs the git binary.

Every call disables the `data` filter driver unless the caller asks for it: a git command run
from inside our filter or a hook must never start gitdata again (git-lfs does the same with
`-c filter.lfs.*=`). `required=false` is part of it: with `required=true` and no command, git
dies on any tracked file instead of passing it through.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence

from ..errors import GitError

NO_FILTER = (
    "-c",
    "filter.data.process=",
    "-c",
    "filter.data.clean=",
    "-c",
    "filter.data.smudge=",
    "-c",
    "filter.data.required=false",
)


def git_command(args: Sequence[str], *, filters: bool = False) -> list[str]:
    return ["git", *(() if filters else NO_FILTER), *args]


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    filters: bool = False,
    env: Mapping[str, str] | None = None,
    ok_codes: Iterable[int] = (0,),
) -> subprocess.CompletedProcess[bytes]:
    """Run git, capture stdout and stderr as bytes; raise GitError on an unexpected status."""
    cmd = git_command(args, filters=filters)
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            env=full_env,
        )
    except FileNotFoundError as e:
        raise GitError("git is not installed or not on PATH", "install git 2.32 or newer") from e
    if check and proc.returncode not in tuple(ok_codes):
        raise GitError(
            f"`git {' '.join(args)}` failed: {first_line(proc.stderr)}",
            "run the command above by hand to see git's full message",
        )
    return proc


def stream_git(
    args: Sequence[str],
    *,
    input_lines: Iterable[bytes] = (),
    sep: bytes = b"\n",
    cwd: str | os.PathLike[str] | None = None,
    hint: str = "run the command above by hand to see git's full message",
) -> Iterator[bytes]:
    """Run git and yield its output record by record (split on `sep`) as it comes, for outputs
    too big to hold: a history walk, a tree of a million files. `input_lines` (each without its
    newline) are written to stdin first: only for commands that read all of stdin before they
    write (rev-list --stdin), or the pipes could fill both ways."""
    proc = subprocess.Popen(
        git_command(args),
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        proc.stdin.write(b"".join(line + b"\n" for line in input_lines))
        proc.stdin.close()
    except BrokenPipeError:
        pass  # it died on its arguments: the status below says why
    rest = b""
    while True:
        chunk = proc.stdout.read(1 << 16)
        if not chunk:
            break
        records = (rest + chunk).split(sep)
        rest = records.pop()
        yield from records
    if rest:
        yield rest
    err = proc.stderr.read()
    if proc.wait() != 0:
        raise GitError(f"`git {' '.join(args)}` failed: {first_line(err)}", hint)


def split_z(data: bytes) -> list[bytes]:
    """Split NUL-terminated output (`-z`) into its records."""
    if not data:
        return []
    parts = data.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


def first_line(stderr: bytes) -> str:
    lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return "no message"
    # git prints hints before the fatal line; the last "fatal:"/"error:" line says what happened.
    for ln in reversed(lines):
        if ln.startswith(("fatal:", "error:")):
            return ln
    return lines[-1]
