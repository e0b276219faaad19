from __future__ import annotations

import os
import sys

from .. import hooks, output
from ..context import Context
from ..errors import UsageError
from ..filters import PENDING_FILE


def hook(name: str, args: list[str]) -> int:
    """Run by the shims in the hooks directory: the user's own hook first, then ours."""
    if name not in hooks.HOOKS:
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
    return materialize_pending(ctx) or status


def materialize_pending(ctx: Context) -> int:
    """Write the big files that smudge left as pointers (see filters.record_pending)."""
    pending = os.path.join(ctx.paths.worktree_data_dir, PENDING_FILE)
    taken = f"{pending}.{os.getpid()}"
    try:
        os.rename(pending, taken)
    except FileNotFoundError:
        return 0
    try:
        with open(taken, "rb") as f:
            paths = {p for p in f.read().split(b"\0") if p}
    finally:
        os.unlink(taken)
    if ctx.settings.skip_smudge or ctx.paths.toplevel is None:
        return 0
    from .. import sync

    files = sync.pointer_files(ctx, only=paths)
    result = sync.materialize(ctx, files)
    if result.unavailable:
        output.error(
            f"{len(result.unavailable)} file(s) are still pointers: their bytes could not be had",
            "run `git data pull` once the store has them",
        )
        return 1
    return 0
