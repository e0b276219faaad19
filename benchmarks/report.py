"""Turn the raw measurements into the Markdown report: medians, ratios, targets (issue 5)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

MiB_KIB = 1024

STEPS = {
    "W1": [
        "track",
        "add",
        "commit",
        "push",
        "push (other fs)",
        "clone",
        "status (fresh clone)",
        "status racy #1",
        "status racy #2",
        "status touch #1",
        "status touch #2",
    ],
    "W2": ["track", "add", "commit", "push", "push (other fs)", "clone"],
    "W3": ["add", "commit", "push", "push (other fs)", "fetch (strace)", "clone"],
}
#: Rows that move all the bytes once, where `cp` of the same bytes is the floor.
FLOOR_STEPS = {"add", "push", "push (other fs)", "clone"}
MAIN_TOOLS = ("gitdata", "whole", "chunked", "lfs", "dvc")
TITLES = {"whole": "gitdata whole", "chunked": "gitdata chunked"}

#: (workload, step) -> [(versus, limit)]: gitdata time / versus time <= limit, or for "rss"
#: the step's peak RSS (any process) <= limit MiB. From issue 5.
TARGETS: dict[tuple[str, str], list[tuple[str, float]]] = {
    ("W1", "add"): [("lfs", 0.25), ("dvc", 0.4), ("cp", 4.0)],
    ("W2", "add"): [("lfs", 0.7)],
    ("W1", "push"): [("lfs", 1.0)],
    ("W2", "push"): [("lfs", 1.0)],
    ("W3", "push"): [("lfs", 1.0)],
    ("W1", "push (other fs)"): [("lfs", 0.7)],
    ("W2", "push (other fs)"): [("lfs", 0.7)],
    ("W1", "clone"): [("lfs", 0.5), ("rss", 200)],
    ("W2", "clone"): [("lfs", 0.8)],
}
GITDATA_RSS_LIMIT_MIB = 100


@dataclass
class Cell:
    walls: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    verify: list[str] = field(default_factory=list)
    recs: list[dict] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.walls) if self.walls else None

    @property
    def rss_mib(self) -> float | None:
        return max(self.rss) / MiB_KIB if self.rss else None

    def procs(self) -> dict[str, int]:
        """Process label -> highest VmHWM (KiB) over the runs."""
        out: dict[str, int] = {}
        for r in self.recs:
            for label, kib in r.get("procs_hwm_kib", {}).items():
                out[label] = max(out.get(label, 0), kib)
        return out

    def shim_max(self, program: str) -> int:
        return max(
            (
                s["kib"]
                for r in self.recs
                for s in r.get("shim_maxrss_kib", [])
                if program in s["cmd"]
            ),
            default=0,
        )


def aggregate(results: list[dict]) -> dict[tuple[str, str, str], Cell]:
    cells: dict[tuple[str, str, str], Cell] = {}
    for r in results:
        c = cells.setdefault((r["workload"], r["step"], r["tool"]), Cell())
        if not r.get("ok"):
            c.errors.append(r.get("error", "failed"))
            continue
        c.walls.append(r["wall_s"])
        c.rss.append(r["maxrss_kib"])
        c.recs.append(r)
        c.verify.extend(r.get("verify_errors") or [])
    return cells


def kind(label: str) -> str:
    prog = label.split(" ", 1)[0]
    if prog in ("git-data", "git-lfs", "dvc"):
        return prog
    return "git" if prog.startswith("git") else "other"


def header(meta: dict) -> str:
    m, s = meta["machine"], meta["sizes"]
    load = ", ".join(f"{x:.1f}" for x in m["loadavg_at_start"])
    w1_mib = s["W1_bytes"] / (1 << 20)
    lines = [
        "# gitdata benchmark (issue 5)",
        "",
        f"- command: `{meta['command']}`",
        f"- started {meta['started']}; {m['cpu']}, {m['cores']} cores, {m['memory']}, "
        f"Linux {m['kernel']}, load average at start {load}",
        f"- workspace: {meta['workspace']}",
    ]
    lines += [f"- {name}: {v}" for name, v in meta["versions"].items()]
    lines += [
        f"- workloads ({meta['generator']} bytes): W1 one {w1_mib:.0f} MiB file; "
        f"W2 {s['W2_files']} files of {s['W2_file_bytes'] >> 10} KiB in {s['W2_dirs']} folders; "
        f"W3 W1 with {s['W3_patch_bytes'] >> 20} MiB overwritten in the middle, as a second "
        f"commit; W4 `git add` of {s['W4_files']} one-byte tracked files",
        f"- {meta['runs']} run(s), tools alternated (the order rotates every run); times are "
        "medians of wall time, [min-max] over the runs; RSS is the highest peak RSS of any "
        "single process of the step over the runs (GNU time around every command)",
    ]
    lines += [f"- note: {n}" for n in meta["notes"]]
    return "\n".join(lines)


def _fmt_cell(c: Cell | None) -> str:
    if c is None:
        return ""
    if c.median is None:
        return "FAILED"
    mark = " (!)" if c.verify else ""
    spread = f" [{_num(min(c.walls))}-{_num(max(c.walls))}]" if len(c.walls) > 1 else ""
    return f"{c.median:.2f} s{spread}, {c.rss_mib:.0f} MiB{mark}"


def _num(x: float) -> str:
    return f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def _ratio(a: Cell | None, b: Cell | None) -> float | None:
    if a is None or b is None or a.median is None or not b.median:
        return None
    return a.median / b.median


def _floor(cells: dict, wl: str, step: str) -> Cell | None:
    if step not in FLOOR_STEPS:
        return None
    return cells.get(("W2" if wl == "W2" else "W1", "cp", "cp"))


def main_table(cells: dict, tools: list[str]) -> tuple[list[str], list[str]]:
    shown = [t for t in MAIN_TOOLS if t in tools]
    has_cp = "cp" in tools
    head = ["workload", "step", *(TITLES.get(t, t) for t in shown)]
    if has_cp:
        head.append("cp (floor)")
    ratios = [t for t in ("lfs", "dvc", "cp") if (t in shown or (t == "cp" and has_cp))]
    if "gitdata" in shown:
        head += [f"gitdata/{t}" for t in ratios] + ["targets"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    misses: list[str] = []
    for wl, steps in STEPS.items():
        for step in steps:
            present = {t: cells.get((wl, step, t)) for t in shown}
            if not any(present.values()):
                continue
            floor = _floor(cells, wl, step) if has_cp else None
            row = [wl, step, *(_fmt_cell(present[t]) for t in shown)]
            if has_cp:
                row.append(f"{floor.median:.2f} s" if floor and floor.median else "")
            if "gitdata" in shown:
                gd = present["gitdata"]
                vs = {t: present.get(t) for t in ("lfs", "dvc")}
                vs["cp"] = floor
                for t in ratios:
                    q = _ratio(gd, vs.get(t))
                    row.append(f"{q:.2f}x" if q is not None else "")
                verdicts = []
                for versus, limit in TARGETS.get((wl, step), []):
                    if versus == "rss":
                        got = gd.rss_mib if gd else None
                        text = f"peak RSS <= {limit:.0f} MiB"
                        shown_got = f"{got:.0f} MiB" if got is not None else "?"
                    else:
                        got = _ratio(gd, vs.get(versus))
                        text = f"<= {limit}x {versus}"
                        shown_got = f"{got:.2f}x" if got is not None else "?"
                    if got is None:
                        verdicts.append(f"{text}: n/a")
                        continue
                    ok = got <= limit
                    verdicts.append(f"{text}: {'PASS' if ok else 'FAIL'}")
                    if not ok:
                        misses.append(f"{wl} {step}: {text}, measured {shown_got}")
                row.append("; ".join(verdicts))
            rows.append("| " + " | ".join(row) + " |")
    return rows, misses


def rss_table(cells: dict, tools: list[str]) -> tuple[list[str], list[str]]:
    """Which process reached the peak, and gitdata's own processes against the 100 MiB target."""
    shown = [t for t in MAIN_TOOLS if t in tools]
    head = ["workload", "step", *(f"{TITLES.get(t, t)}: largest process" for t in shown)]
    if "gitdata" in shown:
        head += ["git-data, polled / shim tree", f"git-data < {GITDATA_RSS_LIMIT_MIB} MiB"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    misses = []
    for wl, steps in [*STEPS.items(), ("W4", ["add"])]:
        for step in steps:
            present = {t: cells.get((wl, step, t)) for t in shown}
            if not any(present.values()):
                continue
            row = [wl, step]
            for t in shown:
                c = present[t]
                procs = c.procs() if c else {}
                if procs:
                    label, kib = max(procs.items(), key=lambda kv: kv[1])
                    row.append(f"{label} {kib / MiB_KIB:.0f} MiB")
                else:
                    row.append("")
            if "gitdata" in shown:
                c = present["gitdata"]
                procs = c.procs() if c else {}
                own = max((k for label, k in procs.items() if kind(label) == "git-data"), default=0)
                shim = c.shim_max("git-data") if c else 0
                row.append(f"{own / MiB_KIB:.0f} / {shim / MiB_KIB:.0f} MiB" if c else "")
                ok = own / MiB_KIB < GITDATA_RSS_LIMIT_MIB
                row.append("PASS" if ok else "FAIL")
                if not ok:
                    worst = max(
                        (kv for kv in procs.items() if kind(kv[0]) == "git-data"),
                        key=lambda kv: kv[1],
                    )
                    misses.append(
                        f"{wl} {step}: `{worst[0]}` peaked at {worst[1] / MiB_KIB:.0f} MiB "
                        f"(target < {GITDATA_RSS_LIMIT_MIB} MiB)"
                    )
            rows.append("| " + " | ".join(row) + " |")
    return rows, misses


#: W3 targets of issue 12 for the chunked store: (record field, what) <= 8 MiB, stretch 2 MiB
W3_LIMIT, W3_STRETCH = 8 << 20, 2 << 20


def w3_table(cells: dict, tools: list[str]) -> tuple[list[str], list[str]]:
    """What the second version cost: store, push, fetch into a clone that has v1, cache; the
    chunked store's figures marked against issue 12's targets (the cache's are not targets)."""
    rows = [
        "| tool | store: new bytes | new objects | new disk blocks | push: bytes written | "
        "fetch: bytes read from the store | cache: new bytes | clone's cache: new bytes | "
        "targets (<= 8 MiB; stretch 2 MiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    misses: list[str] = []
    for t in MAIN_TOOLS:
        c = cells.get(("W3", "push", t))
        if not c or not c.recs:
            continue
        r = c.recs[-1]
        f = cells.get(("W3", "fetch (strace)", t))
        fr = f.recs[-1] if f and f.recs else {}
        x = cells.get(("W3", "push (other fs)", t))
        xr = x.recs[-1] if x and x.recs else r  # a push that cannot hard-link, when there is one
        vals = {  # the store too: on one file system big files are hard-linked whole (no blocks)
            "store": xr.get("store_new_bytes"),
            "push": xr.get("store_new_written"),
            "fetch": fr.get("fetch_store_bytes"),
        }
        verdicts = []
        for what, v in vals.items():
            if v is None:
                verdicts.append(f"{what}: n/a")
                continue
            ok, stretch = v <= W3_LIMIT, v <= W3_STRETCH
            verdicts.append(f"{what}: {'PASS' if ok else 'FAIL'}{' (stretch)' if stretch else ''}")
            if t in ("gitdata", "chunked") and not ok:
                misses.append(f"W3 {what}: <= 8 MiB, measured {_mib(v)}")
        rows.append(
            f"| {TITLES.get(t, t)} | {_mib(vals['store'])}{_where(xr)} | {r['store_new_files']} | "
            f"{_mib(r.get('store_new_disk'))} | {_mib(vals['push'])}{_where(xr)} | "
            f"{_mib(vals['fetch'])}{_where(fr)} | "
            f"{_mib(r.get('cache_new_bytes'))} | {_mib(fr.get('cache_new_bytes'))} | "
            f"{'; '.join(verdicts)} |"
        )
    return (rows if len(rows) > 2 else []), misses


def _where(rec: dict) -> str:
    if rec.get("step") == "push (other fs)" or rec.get("fetch_from") == "other fs":
        return " (other fs)"
    return " (same fs)" if rec else ""


def _mib(v: object) -> str:
    if not isinstance(v, int):
        return ""
    return f"{v / (1 << 20):.2f} MiB" if v < 100 << 20 else f"{v / (1 << 20):.0f} MiB"


def w4_table(cells: dict) -> list[str]:
    base = cells.get(("W4", "add", "git"))
    rows = [
        "| tool | `git add` | per file | filter cost per file (minus no filter) | peak RSS |",
        "|---|---|---|---|---|",
    ]
    any_row = False
    for t, title in (("gitdata", "gitdata"), ("lfs", "git-lfs"), ("git", "no filter")):
        c = cells.get(("W4", "add", t))
        if c is None:
            continue
        any_row = True
        if c.median is None:
            rows.append(f"| {title} | FAILED | | | |")
            continue
        n = c.recs[0]["files"]
        per = c.median / n * 1e6
        extra = ""
        if base is not None and base.median is not None and t != "git":
            extra = f"{(c.median - base.median) / n * 1e6:.0f} µs"
        rows.append(
            f"| {title} | {c.median:.2f} s | {per:.0f} µs | {extra} | {c.rss_mib:.0f} MiB |"
        )
    return rows if any_row else []


def problems(cells: dict) -> list[str]:
    out = []
    for (wl, step, tool), c in sorted(cells.items()):
        for e in c.errors:
            out.append(f"- {tool} {wl} {step} failed: {e[:400]}")
        for v in sorted(set(c.verify)):
            out.append(f"- {tool} {wl} {step} (!): {v}")
        for r in c.recs:
            if step.startswith("status") and step.endswith("#2") and r.get("porcelain"):
                out.append(f"- {tool} {wl} {step}: not clean: {r['porcelain'].strip()[:200]!r}")
    return out


def body(results: list[dict], tools: list[str]) -> str:
    cells = aggregate(results)
    out: list[str] = []
    rows, misses = main_table(cells, tools)
    if len(rows) > 2:
        out += ["", "## Time and peak RSS per step", "", *rows]
        out += [
            "",
            "Cells: median wall time [min-max], peak RSS of the step's largest process. cp "
            "(floor): `cp` of the same bytes on the same file system (W3: of the whole file). "
            "(!) = the bytes were not all there afterwards (see Problems).",
        ]
    w4 = w4_table(cells)
    if w4:
        out += ["", "## W4: per-file cost of the filter", "", *w4]
    w3, w3_misses = w3_table(cells, tools)
    if w3:
        out += ["", "## W3: what the second version cost", "", *w3]
        out += [
            "",
            "New disk blocks count each inode once: a store that hard-links the cache's object "
            "(gitdata on one file system) needs no new blocks. Push: bytes of the new store "
            "files that are not links to the cache. Fetch: `git pull` (DVC: + `dvc pull`) into a "
            "clone that has v1: the bytes its processes read from the store's files "
            "(strace). Targets (issue 12) are marked for every tool, missed ones listed for "
            "gitdata and gitdata chunked only; the cache may keep the whole new version. Store, "
            "push and fetch use the bare repository on the other file system (`--xfs-dir`) where "
            "there is one, since a store on the same one is hard-linked (DVC: its default "
            "remote, same fs).",
        ]
    rss, rss_misses = rss_table(cells, tools)
    out += ["", "## Peak RSS: which process", "", *rss]
    out += [
        "",
        "Largest process: the highest VmHWM sampled in /proc every 25 ms. git-data polled: the "
        "largest git-data process; shim tree: exact peak of a git-data invocation and the "
        "children it waited for (GNU time around it), which includes git processes it ran.",
    ]
    cp = cells.get(("W1", "cat", "cp")), cells.get(("W2", "cat", "cp"))
    floors = [
        f"{wl} `cat` to /dev/null {c.median:.2f} s"
        for wl, c in zip(("W1", "W2"), cp)
        if c is not None and c.median is not None
    ]
    if floors:
        out += ["", "Read floor: " + "; ".join(floors) + "."]
    all_misses = misses + rss_misses + w3_misses
    out += ["", "## Targets missed by gitdata", ""]
    out += [f"- {m}" for m in all_misses] or ["- none"]
    probs = problems(cells)
    if probs:
        out += ["", "## Problems", "", *probs]
    return "\n".join(out)
