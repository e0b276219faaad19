"""`--profile`: every git-data invocation runs under `py-spy record --format raw --idle`, one file
per invocation under <profile dir>/<workload>-<step>-r<run>/; this module sums them up.

Raw py-spy output is one collapsed stack per line, "frame;frame;...;frame COUNT", each frame
"function (file:line)". Samples include idle threads (blocked in read/wait), so a process that
mostly waits for git shows it: wall time, not only CPU time; a thread pool's idle workers count
too, so percentages are of thread-time.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

FRAME_LINE = re.compile(r":\d+\)$")
RATE = 250  # samples per second, as the shim asks py-spy


IMPORTS = "(imports: python startup)"


def _frame(f: str) -> str | None:
    """Aggregate by function, not line; imports as one; None for the launcher's frames."""
    f = FRAME_LINE.sub(")", f.strip())
    if "(<frozen runpy>)" in f or f == "<module> (<string>)":
        return None  # the shim's `python -c "runpy.run_path(git-data)"`
    if "<frozen importlib" in f or "<frozen site>" in f:
        return IMPORTS
    return f


def _ours(frame: str) -> bool:
    """Frames worth listing as inclusive time: gitdata's own functions, and imports."""
    return frame == IMPORTS or ("(gitdata/" in frame and not frame.startswith("main ("))


def read_raw(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """(total samples, self samples per function, inclusive samples per function)."""
    total = 0
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [g for g in (_frame(f) for f in stack.split(";") if f) if g]
        if not frames:
            continue
        total += n
        # The innermost frame, except that all of an import counts as the import.
        own[IMPORTS if IMPORTS in frames else frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    return total, own, incl


def summarize(step_dir: Path, top: int = 10) -> str:
    """Markdown: per git-data subcommand of this step, where the samples went."""
    groups: dict[str, list[Path]] = {}
    for p in sorted(step_dir.glob("git-data.*.txt")):
        sub = p.name.split(".")[1]
        groups.setdefault(sub, []).append(p)
    out = []
    for sub, files in groups.items():
        total, own, incl = 0, Counter[str](), Counter[str]()
        for p in files:
            t, o, i = read_raw(p)
            total += t
            own.update(o)
            incl.update(i)
        if not total:
            continue
        out.append(
            f"- `git-data {sub.replace('-', ' ', 1) if sub.startswith('hook-') else sub}`: "
            f"{len(files)} invocation(s), {total / RATE:.2f} thread-seconds sampled"
        )
        own_top = own.most_common(top)
        out.append("  - self: " + "; ".join(_pct(f, n, total) for f, n in own_top))
        deep = [(f, n) for f, n in incl.most_common() if _ours(f)][:top]
        out.append("  - inclusive: " + "; ".join(_pct(f, n, total) for f, n in deep))
    return "\n".join(out)


def _pct(frame: str, n: int, total: int) -> str:
    return f"{100 * n / total:.0f}% `{frame}`"


def summarize_all(profile_dir: Path) -> str:
    parts = []
    for d in sorted(p for p in profile_dir.iterdir() if p.is_dir()):
        text = summarize(d)
        if text:
            parts += [f"### {d.name}", "", text, ""]
    summary = "\n".join(parts)
    (profile_dir / "summary.md").write_text(summary)
    return summary
