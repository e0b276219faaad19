"""The tools compared, each as the commands a user would type for one benchmark step.

Every trial runs in a fresh repository with its own HOME, so `git data install` and
`git lfs install` write the filter into that HOME's global git config and nothing else is seen
(GIT_CONFIG_NOSYSTEM=1 hides /etc/gitconfig, where Debian's git-lfs package registers itself).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from measure import Cmd

HERE = Path(__file__).resolve().parent
DVC_VENV = HERE / ".dvc-venv"


@dataclass
class Trial:
    """One tool, one workload, one run: its directories and environment."""

    root: Path
    home: Path
    work: Path
    remote: Path  # a bare repository on the same file system as the worktree
    dvc_store: Path
    xfs_remote: Path | None  # the same, on another file system (cross-file-system push)
    xfs_dvc_store: Path | None
    env: dict[str, str]
    log: Path


def _git(*args: str, cwd: Path) -> Cmd:
    return Cmd(["git", *args], cwd)


class Tool:
    name = ""
    #: Workloads this tool takes part in.
    workloads = frozenset({"W1", "W2", "W3"})
    #: Whether `git status` on a checkout is measured (a filter-based tool).
    filter_based = False
    #: Whether a clone of the bare repository on the other file system reads from the store
    #: there (W3's fetch; DVC's clone knows only its default remote).
    fetch_other_fs = True

    def problem(self) -> str | None:
        """Why this tool cannot run here, or None."""
        return None

    def version(self) -> str:
        return ""

    def programs(self) -> dict[str, str]:
        """Programs to put first on PATH (name -> real path), shimmed to record their RSS."""
        return {}

    def home_setup(self, t: Trial) -> list[Cmd]:
        return []

    def track(self, t: Trial, target: str) -> list[Cmd]:
        return []

    def add(self, t: Trial, target: str) -> list[Cmd]:
        return [_git("add", "-A", cwd=t.work)]

    def commit(self, t: Trial, message: str) -> list[Cmd]:
        return [_git("commit", "-q", "-m", message, cwd=t.work)]

    def xfs_setup(self, t: Trial) -> list[Cmd]:
        assert t.xfs_remote is not None
        return [
            _git("init", "-q", "--bare", str(t.xfs_remote), cwd=t.root),
            _git("remote", "add", "xfs", str(t.xfs_remote), cwd=t.work),
        ]

    def push(self, t: Trial, remote: str = "origin") -> list[Cmd]:
        return [_git("push", "-q", remote, "main", cwd=t.work)]

    def clone(self, t: Trial, dest: Path, source: Path | None = None) -> list[Cmd]:
        return [_git("clone", "-q", str(source or t.remote), str(dest), cwd=t.root)]

    def fetch(self, t: Trial, clone: Path) -> list[Cmd]:
        """Bring the new commit and its data into `clone`, which has the previous one."""
        return [_git("pull", "-q", "--ff-only", cwd=clone)]

    def store(self, t: Trial, remote: str = "origin") -> Path:
        """Where this tool's pushed bytes live."""
        raise NotImplementedError

    def cache(self, work: Path) -> Path:
        raise NotImplementedError


class GitData(Tool):
    name = "gitdata"
    workloads = frozenset({"W1", "W2", "W3", "W4"})
    filter_based = True

    def __init__(self, exe: Path) -> None:
        self.exe = exe

    def problem(self) -> str | None:
        return None if os.access(self.exe, os.X_OK) else f"{self.exe} is not executable"

    def version(self) -> str:
        v = _output([str(self.exe), "--version"])
        src = gitdata_source(self.exe)
        return f"{v} ({self.exe}; source {src})"

    def programs(self) -> dict[str, str]:
        return {"git-data": str(self.exe)}

    def home_setup(self, t: Trial) -> list[Cmd]:
        return [_git("data", "install", cwd=t.home)]

    def track(self, t: Trial, target: str) -> list[Cmd]:
        return [_git("data", "track", "*.bin", cwd=t.work)]

    def store(self, t: Trial, remote: str = "origin") -> Path:
        bare = t.remote if remote == "origin" else t.xfs_remote
        assert bare is not None
        return bare / "data" / "objects"

    def cache(self, work: Path) -> Path:
        return work / ".git" / "data" / "objects"


class GitDataWhole(GitData):
    """gitdata with whole objects only (`git config data.chunked false`): the layout every
    store had before the chunked store became the default, for comparison."""

    name = "whole"
    workloads = frozenset({"W1", "W2", "W3"})

    def home_setup(self, t: Trial) -> list[Cmd]:
        return [
            *super().home_setup(t),
            _git("config", "--global", "data.chunked", "false", cwd=t.home),
        ]


class GitDataChunked(GitData):
    """gitdata with the chunked store (`git config data.chunked true`; docs/chunked-store.md)."""

    name = "chunked"
    workloads = frozenset({"W1", "W3", "W5", "W6", "W7"})

    def home_setup(self, t: Trial) -> list[Cmd]:
        return [
            *super().home_setup(t),
            _git("config", "--global", "data.chunked", "true", cwd=t.home),
        ]


class GitLfs(Tool):
    name = "lfs"
    workloads = frozenset({"W1", "W2", "W3", "W4"})
    filter_based = True

    def __init__(self) -> None:
        self.exe = shutil.which("git-lfs")

    def problem(self) -> str | None:
        if self.exe:
            return None
        return "git-lfs is not installed (and `apt-get install -y git-lfs` did not install it)"

    def version(self) -> str:
        return _output(["git-lfs", "version"])

    def programs(self) -> dict[str, str]:
        return {"git-lfs": self.exe} if self.exe else {}

    def home_setup(self, t: Trial) -> list[Cmd]:
        return [_git("lfs", "install", cwd=t.home)]

    def track(self, t: Trial, target: str) -> list[Cmd]:
        return [_git("lfs", "track", "*.bin", cwd=t.work)]

    def store(self, t: Trial, remote: str = "origin") -> Path:
        bare = t.remote if remote == "origin" else t.xfs_remote
        assert bare is not None
        return bare / "lfs" / "objects"

    def cache(self, work: Path) -> Path:
        return work / ".git" / "lfs" / "objects"


class Dvc(Tool):
    name = "dvc"
    fetch_other_fs = False

    def __init__(self, install: bool = True) -> None:
        self.exe = str(DVC_VENV / "bin" / "dvc")
        self.install_note = ""
        if install and not os.access(self.exe, os.X_OK):
            self.install_note = install_dvc()

    def problem(self) -> str | None:
        if os.access(self.exe, os.X_OK):
            return None
        return f"DVC could not be installed into {DVC_VENV}: {self.install_note or 'not found'}"

    def version(self) -> str:
        return "dvc " + _output([self.exe, "--version"])

    def _dvc(self, *args: str, cwd: Path) -> Cmd:
        return Cmd([self.exe, *args], cwd)

    def home_setup(self, t: Trial) -> list[Cmd]:
        site = t.home / "dvc-site-cache"  # not /var/tmp/dvc, shared by every run
        return [
            self._dvc("config", "--global", "core.analytics", "false", cwd=t.home),
            self._dvc("config", "--global", "core.check_update", "false", cwd=t.home),
            self._dvc("config", "--global", "core.site_cache_dir", str(site), cwd=t.home),
        ]

    def track(self, t: Trial, target: str) -> list[Cmd]:
        return [
            self._dvc("init", "-q", cwd=t.work),
            self._dvc("remote", "add", "-d", "store", str(t.dvc_store), cwd=t.work),
        ]

    def add(self, t: Trial, target: str) -> list[Cmd]:
        return [self._dvc("add", "-q", target, cwd=t.work), _git("add", "-A", cwd=t.work)]

    def xfs_setup(self, t: Trial) -> list[Cmd]:
        assert t.xfs_dvc_store is not None
        return [
            *super().xfs_setup(t),
            self._dvc("remote", "add", "xfs", str(t.xfs_dvc_store), cwd=t.work),
        ]

    def push(self, t: Trial, remote: str = "origin") -> list[Cmd]:
        dvc_remote = ["-r", "xfs"] if remote == "xfs" else []
        return [self._dvc("push", "-q", *dvc_remote, cwd=t.work), *super().push(t, remote)]

    def clone(self, t: Trial, dest: Path, source: Path | None = None) -> list[Cmd]:
        return [*super().clone(t, dest, source), self._dvc("pull", "-q", cwd=dest)]

    def fetch(self, t: Trial, clone: Path) -> list[Cmd]:
        return [*super().fetch(t, clone), self._dvc("pull", "-q", cwd=clone)]

    def store(self, t: Trial, remote: str = "origin") -> Path:
        store = t.dvc_store if remote == "origin" else t.xfs_dvc_store
        assert store is not None
        return store

    def cache(self, work: Path) -> Path:
        return work / ".dvc" / "cache"


class PlainGit(Tool):
    """No filter at all: the floor for W4's per-file cost."""

    name = "git"
    workloads = frozenset({"W4"})

    def version(self) -> str:
        return _output(["git", "--version"])


class Copy(Tool):
    """`cp` and `cat` of the same bytes: the floor. Run by the harness directly."""

    name = "cp"
    workloads = frozenset({"W1", "W2", "W3"})

    def version(self) -> str:
        return _output(["cp", "--version"]).splitlines()[0]


def _output(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"? ({e})"
    return (p.stdout or p.stderr).strip()


def _python_of(exe: Path) -> str | None:
    """The interpreter of the `git-data` script `exe` (its shebang)."""
    try:
        shebang = exe.read_bytes()[:300].split(b"\n", 1)[0].decode()
    except OSError:
        return None
    return shebang[2:].strip() if shebang.startswith("#!") else sys.executable


def compile_gitdata(exe: Path) -> None:
    """Write the bytecode of the gitdata package that `exe` runs, as `pip install` does for a
    regular install and a user's first run does for an editable one. Where
    PYTHONDONTWRITEBYTECODE is set (this machine's sandbox sets it), an editable install has
    none, and every git-data process compiled its modules again: ~0.1 s each, measured."""
    python = _python_of(exe)
    if python:
        code = "import compileall, gitdata, os; compileall.compile_dir(os.path.dirname(gitdata.__file__), quiet=2)"  # noqa: E501
        subprocess.run([python, "-c", code], capture_output=True)


def gitdata_source(exe: Path) -> str:
    """Where the gitdata package that `exe` runs lives, and its git commit (+dirty)."""
    python = _python_of(exe)
    if python is None:
        return "?"
    where = _output([python, "-c", "import gitdata, os; print(os.path.dirname(gitdata.__file__))"])
    if not os.path.isdir(where):
        return where
    commit = _output(["git", "-C", where, "describe", "--always", "--dirty", "--abbrev=10"])
    return f"{where} @ {commit}"


def install_dvc() -> str:
    """Create benchmarks/.dvc-venv with DVC; returns '' or why it failed (one line)."""
    python = shutil.which("python3") or sys.executable
    print(f"installing DVC into {DVC_VENV} (once) ...", file=sys.stderr, flush=True)
    for argv in (
        [python, "-m", "venv", str(DVC_VENV)],
        [str(DVC_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "dvc"],
    ):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{' '.join(argv)}: {e}"
        if p.returncode != 0:
            last = [line for line in p.stderr.splitlines() if line.strip()][-1:]
            return f"`{' '.join(argv[-3:])}` failed: {' '.join(last)}"
    return ""


def ensure_git_lfs() -> str | None:
    """Install git-lfs with apt-get when it is missing; a one-line note, or None."""
    if shutil.which("git-lfs"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "git-lfs is missing and apt-get cannot be run here"
    print("installing git-lfs (apt-get install -y git-lfs) ...", file=sys.stderr, flush=True)
    p = subprocess.run(["apt-get", "install", "-y", "git-lfs"], capture_output=True, text=True)
    if p.returncode != 0 or not shutil.which("git-lfs"):
        return "apt-get install -y git-lfs failed"
    return None
