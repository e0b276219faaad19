"""Every branch and tag of a Git remote, fetched fresh, for store gc.

Remote-tracking refs will not do: they are as old as the last fetch, and a refspec may track a
single branch and no tags. So the remote's refs/heads/* and refs/tags/* are fetched into a
namespace of our own for the duration of the gc, then deleted; the objects stay until git's own
gc prunes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from .run import run_git

NAMESPACE = "refs/gitdata/gc/"


@contextmanager
def fetched_refs(remote: str, cwd: str | None = None) -> Iterator[dict[str, str]]:
    """{ref name on the remote: object id} for every branch and tag of `remote`."""
    ns = NAMESPACE + re.sub(r"[^A-Za-z0-9._-]", "_", remote) + "/"
    _delete(ns, cwd)  # a previous run that was interrupted
    try:
        run_git(
            [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--no-recurse-submodules",
                "--no-auto-gc",
                remote,
                f"+refs/heads/*:{ns}heads/*",
                f"+refs/tags/*:{ns}tags/*",
            ],
            cwd=cwd,
        )
        refs = {"refs/" + name[len(ns) :]: sha for name, sha in _list(ns, cwd).items()}
        yield refs
    finally:
        _delete(ns, cwd)


def _list(prefix: str, cwd: str | None) -> dict[str, str]:
    out = run_git(["for-each-ref", "--format=%(objectname) %(refname)", prefix], cwd=cwd).stdout
    refs = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition(" ")
        refs[name] = sha
    return refs


def _delete(prefix: str, cwd: str | None) -> None:
    names = _list(prefix, cwd)
    if names:
        script = "".join(f"delete {name}\n" for name in names)
        run_git(["update-ref", "--stdin"], cwd=cwd, input=script.encode("utf-8", "surrogateescape"))
