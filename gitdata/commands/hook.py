from __future__ import annotations

import sys

from .. import hooks
from ..context import Context
from ..errors import UsageError

USAGE = """usage: git data hook pre-push REMOTE URL

Run by the pre-push shim that `git data install` puts into the repository's hooks directory:
runs the user's own hook (pre-push.legacy) first with the same arguments and standard input,
then uploads the bytes of every data file the pushed commits bring and the store lacks. Git
passes the arguments and the refs on standard input; it is not meant to be run by hand.
The names post-checkout, post-merge, post-commit and post-rewrite are still answered for shims
that earlier versions installed (they write big files left as pointers)."""


def hook(name: str, args: list[str]) -> int:
    """Run by the shims in the hooks directory: the user's own hook first, then ours."""
    if name in ("-h", "--help") or args[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if name not in hooks.HOOKS + hooks.OBSOLETE:
        raise UsageError(f"unknown hook '{name}'", f"known hooks: {', '.join(hooks.HOOKS)}")
    ctx = Context()
    stdin = sys.stdin.buffer.read() if name in ("pre-push", "post-rewrite") else b""
    status = hooks.run_legacy(ctx.paths.hooks_dir, name, args, stdin)
    if name == "pre-push":
        if status != 0:
            return status  # the user's hook stopped the push
        if len(args) < 2:
            raise UsageError("pre-push needs the remote name and URL", "git runs this hook itself")
        from .. import sync  # the scanner and the stores: only when there is work

        sync.pre_push(ctx, args[0], args[1], stdin.decode("utf-8", "replace").splitlines())
        return 0
    from .. import worktree

    return worktree.finish(ctx) or status
