from __future__ import annotations

import os
import sys

from .. import hooks, output
from ..context import Context
from ..errors import GitDataError
from ..filter_handler import FilterHandler
from ..git.filter_protocol import FilterServer
from ..git.pktline import ProtocolError

PIPE_SIZE = 1 << 20


def filter_process(skip_smudge: bool = False) -> int:
    """The long-running filter git starts once per command (filter.data.process)."""
    ctx = Context()
    ensure_hooks(ctx)
    for fd in (0, 1):
        _grow_pipe(fd)
    stdin = open(0, "rb", buffering=1 << 20, closefd=False)
    stdout = open(1, "wb", buffering=1 << 20, closefd=False)
    sys.stdout = sys.stderr  # stdout belongs to the protocol: a stray print must not corrupt it
    handler = FilterHandler(ctx, skip_smudge)
    server = FilterServer(stdin, stdout, handler)
    try:
        server.serve()
    except ProtocolError as e:
        output.error(f"filter protocol: {e}", "this is a bug in git or gitdata; please report it")
        return 1
    except BrokenPipeError:
        pass
    try:
        handler.finish()
    except GitDataError as e:
        output.error(e.message, e.hint)
        return 1
    finally:
        handler.close()
    # git's command waits for this process to end. Leave without the interpreter's teardown
    # (after a clone of 2,000 small files from S3 on a loaded machine: 0.5 s, where this takes
    # 0.03 s): every answer is flushed, every download done (handler.close), and the local
    # index's last transactions are committed to its WAL, which the next process reads as is.
    try:
        stdout.flush()
        sys.stderr.flush()
    except OSError:  # git is gone (BrokenPipeError above)
        pass
    os._exit(0)


def _grow_pipe(fd: int) -> None:
    """Let git write (and read) 1 MiB ahead instead of the default 64 KiB: fewer context
    switches between git and us on every big file. Linux only; a failure changes nothing."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass


def ensure_hooks(ctx: Context) -> None:
    """A clone gets its hooks the first time the filter runs in it (docs/formats.md, "Hooks")."""
    try:
        paths = ctx.paths
        if not paths.bare and hooks.missing(paths.hooks_dir):
            hooks.install_in(paths, quiet=True)
    except Exception as e:  # noqa: BLE001 - never fail a checkout over a hook
        output.warn(f"could not install the hooks: {e}")
