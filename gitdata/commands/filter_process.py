from __future__ import annotations

import sys

from .. import hooks, output
from ..context import Context
from ..filters import FilterHandler
from ..git.filter_protocol import FilterServer
from ..git.pktline import ProtocolError


def filter_process(skip_smudge: bool = False) -> int:
    """The long-running filter git starts once per command (filter.data.process)."""
    ctx = Context()
    ensure_hooks(ctx)
    stdin = open(0, "rb", buffering=1 << 20, closefd=False)
    stdout = open(1, "wb", buffering=1 << 20, closefd=False)
    sys.stdout = sys.stderr  # stdout belongs to the protocol: a stray print must not corrupt it
    server = FilterServer(stdin, stdout, FilterHandler(ctx, skip_smudge))
    try:
        server.serve()
    except ProtocolError as e:
        output.error(f"filter protocol: {e}", "this is a bug in git or gitdata; please report it")
        return 1
    except BrokenPipeError:
        return 0
    return 0


def ensure_hooks(ctx: Context) -> None:
    """A clone gets its hooks the first time the filter runs in it (SPEC "Hooks")."""
    try:
        paths = ctx.paths
        if not paths.bare and hooks.missing(paths.hooks_dir):
            hooks.install(paths.hooks_dir, quiet=True)
    except Exception as e:  # noqa: BLE001 - never fail a checkout over a hook
        output.warn(f"could not install the hooks: {e}")
