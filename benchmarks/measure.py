"""Run one benchmark step and measure it: wall time, the peak RSS of its whole process tree, and
which process reached how much.

- Wall time: `time.perf_counter` around spawn and reap.
- Peak RSS of the tree, exact: every command runs under GNU time (`/usr/bin/time -f %M`), which
  reports its child's `ru_maxrss` from wait4: on Linux the maximum over the child and every
  descendant it (transitively) waited for, i.e. "no process of this step went above X" (what
  `getrusage(RUSAGE_CHILDREN)` gives in a one-step wrapper). Why not `os.wait4` here directly:
  Python spawns with vfork, and exec then charges the parent's RSS (this harness, 35+ MiB) to
  the child's maxrss; a tiny launcher avoids that. Without /usr/bin/time, wait4 it is, and the
  numbers have the harness's RSS as a floor.
- Per process: a thread walks the step's process tree in /proc every `poll` seconds and keeps
  each process's `VmHWM` (its own high-water mark) by name. A process that lives shorter than one
  poll may be missed; the exact numbers come from the next item.
- Per invocation of `git-data` / `git-lfs`, exact: the PATH shims written by `write_bin_dir` run
  the real program under GNU time, which appends "<max RSS KiB>\t<command>" to $BENCH_RSS_LOG.
  That is the maximum over the program and the children it waited for (e.g. a `git` it ran).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

GNU_TIME = "/usr/bin/time"


@dataclass
class Cmd:
    argv: list[str]
    cwd: Path
    stdout_null: bool = False  # for `cat` floors: the bytes go nowhere
    stdout: Path | None = None  # keep stdout in this file instead of the log


@dataclass
class CmdResult:
    argv: list[str]
    wall: float
    maxrss_kib: int
    returncode: int


@dataclass
class StepResult:
    wall: float = 0.0
    maxrss_kib: int = 0
    commands: list[CmdResult] = field(default_factory=list)
    procs: dict[str, int] = field(default_factory=dict)  # process label -> VmHWM KiB (polled)
    shim: list[tuple[int, str]] = field(default_factory=list)  # exact (KiB, command) per shim run

    def to_json(self) -> dict[str, object]:
        return {
            "wall_s": round(self.wall, 4),
            "maxrss_kib": self.maxrss_kib,
            "commands": [
                {"argv": c.argv, "wall_s": round(c.wall, 4), "maxrss_kib": c.maxrss_kib}
                for c in self.commands
            ],
            "procs_hwm_kib": self.procs,
            "shim_maxrss_kib": [{"kib": k, "cmd": c} for k, c in self.shim],
        }


class StepFailed(Exception):
    pass


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        text = _read(f"/proc/{pid}/task/{tid}/children")
        if text:
            out.extend(int(x) for x in text.split())
    return out


def _label(pid: int, name: str) -> str:
    raw = _read(f"/proc/{pid}/cmdline") or ""
    args = [a for a in raw.split("\0") if a]
    if args and os.path.basename(args[0]).startswith("python") and len(args) > 1:
        args = args[1:]  # a Python console script: show the script, not the interpreter
    if not args:
        return name
    # The program and its subcommand(s): "git add", "git-data hook pre-push", "dvc push".
    words = [a for a in args[1:] if not a.startswith("-")][:2]
    if len(words) == 2 and ("/" in words[1] or len(words[1]) > 20):
        words = words[:1]
    return " ".join([os.path.basename(args[0]), *words])


class Poller(threading.Thread):
    """Samples VmHWM of every process below `root` until stopped."""

    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.stop_event = threading.Event()
        self.hwm: dict[str, int] = {}
        self._labels: dict[tuple[int, str], str] = {}

    def run(self) -> None:
        while True:
            self.sample()
            if self.stop_event.wait(self.interval):
                return

    def sample(self) -> None:
        todo = [self.root]
        while todo:
            pid = todo.pop()
            status = _read(f"/proc/{pid}/status")
            if status is None:
                continue
            name, hwm = "", 0
            for line in status.splitlines():
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
            # Skip GNU time (ours, not the program measured) and sub-MiB blips such as this
            # harness's own child between fork and exec.
            if hwm >= 1024 and name != "time":
                key = (pid, name)
                label = self._labels.get(key)
                if label is None:
                    label = self._labels[key] = _label(pid, name)
                if hwm > self.hwm.get(label, 0):
                    self.hwm[label] = hwm
            todo.extend(_children(pid))


def run_cmd(
    cmd: Cmd, env: dict[str, str], log, poll: float, timeout: float, procs: dict[str, int]
) -> CmdResult:
    log.write(f"$ (cd {cmd.cwd} && {' '.join(cmd.argv)})\n".encode())
    log.flush()
    if cmd.stdout_null:
        out = subprocess.DEVNULL
    elif cmd.stdout is not None:
        out = open(cmd.stdout, "wb")  # noqa: SIM115 - closed below
    else:
        out = log
    rss_file = None
    argv = cmd.argv
    if os.access(GNU_TIME, os.X_OK):
        rss_file = Path(log.name).with_suffix(".maxrss")
        argv = [GNU_TIME, "-q", "-f", "%M", "-o", str(rss_file), *cmd.argv]
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(
            argv,
            cwd=cmd.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=log,
            start_new_session=True,  # so a timeout can kill the whole tree
        )
    finally:
        if cmd.stdout is not None and out is not log:
            out.close()
    poller = Poller(p.pid, poll) if poll > 0 else None
    if poller is not None:
        poller.start()
    timer = threading.Timer(timeout, lambda: _kill_group(p.pid))
    timer.start()
    try:
        _, status, usage = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if poller is not None:
        poller.stop_event.set()
        poller.join()
        for label, kib in poller.hwm.items():
            procs[label] = max(procs.get(label, 0), kib)
    maxrss = usage.ru_maxrss
    if rss_file is not None:
        try:
            maxrss = int(rss_file.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            pass  # killed before GNU time wrote it: keep the (inflated) wait4 number
    return CmdResult(cmd.argv, wall, maxrss, p.returncode)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def run_step(
    cmds: Sequence[Cmd],
    env: dict[str, str],
    log_path: Path,
    poll: float = 0.025,
    timeout: float = 3600.0,
) -> StepResult:
    """Run `cmds` one after the other; wall times add up, peak RSS is the maximum."""
    res = StepResult()
    shim_log = env.get("BENCH_RSS_LOG")
    if shim_log:
        Path(shim_log).write_bytes(b"")
    with open(log_path, "ab") as log:
        for cmd in cmds:
            r = run_cmd(cmd, env, log, poll, timeout, res.procs)
            res.commands.append(r)
            res.wall += r.wall
            res.maxrss_kib = max(res.maxrss_kib, r.maxrss_kib)
            if r.returncode != 0:
                log.flush()
                raise StepFailed(
                    f"`{' '.join(cmd.argv)}` exited with {r.returncode}: {_tail(log_path)}"
                )
    if shim_log:
        res.shim = parse_shim_log(Path(shim_log))
    return res


def _tail(path: Path, lines: int = 6) -> str:
    text = path.read_text(errors="replace").splitlines()
    return " | ".join(line.strip() for line in text[-lines:])


def parse_shim_log(path: Path) -> list[tuple[int, str]]:
    out = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        kib, sep, cmd = line.partition("\t")
        if sep and kib.isdigit():
            out.append((int(kib), cmd))
    return out


SHIM = """#!/bin/sh
# gitdata benchmark shim: runs the real {name} under GNU time, which appends
# "<peak RSS KiB of its process tree><TAB><command>" to $BENCH_RSS_LOG.
{profile}exec {time} -q -a -o "${{BENCH_RSS_LOG:-/dev/null}}" -f '%M\t%C' {real} "$@"
"""
#: With --profile, git-data runs under py-spy (whose exit status is 0 whatever the program's).
#: py-spy prints to stdout, which for `filter-process` is git's protocol pipe: so py-spy's stdout
#: goes to stderr, the real stdout waits on fd 3, and a one-line launcher puts it back on fd 1
#: before it runs the console script.
PROFILE = """if [ -n "$BENCH_PROFILE_DIR" ] && [ -n "$BENCH_PYSPY" ]; then
  sub=$1; [ "$1" = hook ] && sub="hook-$2"
  sub=$(printf %s "$sub" | tr -c 'a-zA-Z0-9-' _)
  mkdir -p "$BENCH_PROFILE_DIR"
  exec 3>&1 1>&2
  exec {time} -q -a -o "${{BENCH_RSS_LOG:-/dev/null}}" -f '%M\\t%C' "$BENCH_PYSPY" record \\
    -r 250 --idle -f raw -o "$BENCH_PROFILE_DIR/{name}.$sub.$$.txt" -- {python} -c \\
    'import os, runpy, sys; os.dup2(3, 1); os.close(3); sys.argv = sys.argv[1:]; \\
runpy.run_path(sys.argv[0], run_name="__main__")' {real} "$@"
fi
"""


def _python_of(script: str) -> str | None:
    """The interpreter of a Python console script (its shebang), or None."""
    try:
        with open(script, "rb") as f:
            first = f.readline(500).decode(errors="replace").strip()
    except OSError:
        return None
    if first.startswith("#!") and "python" in os.path.basename(first[2:].split()[0]):
        return first[2:].split()[0]
    return None


def write_bin_dir(bindir: Path, programs: dict[str, str], shim: bool) -> None:
    """Put `name -> real path` first on PATH: as a measuring shim, or as a plain symlink."""
    bindir.mkdir(parents=True, exist_ok=True)
    use_shim = shim and os.access(GNU_TIME, os.X_OK)
    for name, real in programs.items():
        p = bindir / name
        if p.exists() or p.is_symlink():
            p.unlink()
        if use_shim:
            real_q = _sh_quote(real)
            python = _python_of(real) if name == "git-data" else None
            profile = ""
            if python:
                profile = PROFILE.format(
                    name=name, time=GNU_TIME, real=real_q, python=_sh_quote(python)
                )
            p.write_text(SHIM.format(name=name, time=GNU_TIME, real=real_q, profile=profile))
            p.chmod(0o755)
        else:
            p.symlink_to(real)


def _sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


#: The syscalls that move bytes out of a file, and which fd argument is the source (0-based).
READ_CALLS = {
    "read": 0,
    "pread64": 0,
    "readv": 0,
    "preadv": 0,
    "preadv2": 0,
    "copy_file_range": 0,
    "splice": 0,
    "sendfile": 1,
}
_FD = re.compile(r"\d+<([^>]*)>")
_RET = re.compile(r"= (\d+)\s*$")


def traced(cmds: list[Cmd], out_prefix: Path) -> list[Cmd]:
    """`cmds` run under `strace -f`, which writes every read-like syscall (with its file's path)
    to `<out_prefix>.<pid>`: see `bytes_read_under`. Slows the step down: its time is inflated."""
    calls = ",".join(READ_CALLS)
    trace = ["strace", "-f", "-ff", "-qq", "-y", "-s", "0", "-e", f"trace={calls}"]
    trace += ["-e", "signal=none"]
    return [
        Cmd([*trace, "-o", f"{out_prefix}-{i}", *c.argv], c.cwd, c.stdout_null, c.stdout)
        for i, c in enumerate(cmds)
    ]


def bytes_read_under(out_prefix: Path, root: Path) -> int:
    """Bytes that the processes traced by `traced` read from files under `root` (a mmap would
    escape this count; none of the tools maps its store)."""
    under = str(root).rstrip("/") + "/"
    total = 0
    for log in out_prefix.parent.glob(out_prefix.name + "-*"):
        for line in log.read_text(errors="replace").splitlines():
            name = line.split("(", 1)[0]
            which = READ_CALLS.get(name)
            ret = _RET.search(line)
            if which is None or ret is None:
                continue
            fds = _FD.findall(line[: line.find(", ", len(name)) + 1 if which == 0 else None])
            if len(fds) > which and fds[which].startswith(under):
                total += int(ret.group(1))
    return total
