"""W5-W7 (issue 12): realistic edits of big files, and what the new version adds to gitdata's
chunked store against the bytes that actually changed (the limit). See docs/benchmarks.md.

W5 a SQLite database (256 MiB) with 1% of its rows updated at random; W6 a CSV file (256 MiB)
with 2% rows appended; W7 a safetensors-like file (512 MiB: a JSON header and float32 tensors)
with 10% of its tensors replaced. `--quick` divides the sizes by 8. Each runs once (its bytes
do not depend on the run), with the `chunked` tool only: v1 is added, committed and pushed to a
bare repository's store on the same file system (where a new big file is hard-linked whole),
and to one on another file system (where it is chunked and compressed: the zstd figure); a clone
is made; then v2 is committed and pushed (the store's growth is what the new version adds), and
the clone fetches it (the bytes it reads from the store, under strace).

"Changed bytes", the limit, per workload: W5 the 4 KiB pages (SQLite's page size) of v2 that
differ from v1's page at the same offset; W6 the bytes appended; W7 the bytes of the replaced
tensors (the header does not change).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sizes import new_written, tree_size
from tools import Tool
from trials import Context, Runner, TrialAborted, fetch_step
from workloads import (
    changed_pages,
    csv_rows,
    digest_file,
    replace_tensors,
    safetensors,
    sqlite_db,
    sqlite_update,
)

NAMES = ("W5", "W6", "W7")
TARGET = "data.bin"
MiB = 1 << 20
LIMIT = 2.0  # issue 12: the new version adds at most 2x the changed bytes


@dataclass
class Edit:
    """W5-W7: a file, its second version, and the bytes that changed between them (the limit a
    store that keeps only what changed could reach)."""

    name: str
    what: str
    v1: Path
    v2: Path
    size: int
    changed: int
    how: str  # how `changed` is computed


#: W5-W7 at full size; --quick divides by 8
EDIT_SIZES = {"W5": 256 * MiB, "W6": 256 * MiB, "W7": 512 * MiB}


def make_edit(root: Path, name: str, size: int, seed: int) -> Edit:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    v1, v2 = d / "v1.bin", d / "v2.bin"
    if name == "W5":
        rows = sqlite_db(str(v1), size, seed)
        sqlite_update(str(v1), str(v2), rows, False, seed + 1)
        what = f"SQLite {size >> 20} MiB, 1% of {rows:,} rows updated at random"
        changed, how = changed_pages(str(v1), str(v2)), "4 KiB pages that differ"
    elif name == "W6":
        with open(v1, "wb") as f:
            f.write(b"ts,sensor,temp,pressure,humidity,state,count\n")
            row = csv_rows(f, size, seed, 0)
        shutil.copyfile(v1, v2)
        with open(v2, "ab") as f:
            csv_rows(f, size * 2 // 100, seed + 1, row)
        what = f"CSV {size >> 20} MiB, 2% rows appended"
        changed, how = v2.stat().st_size - v1.stat().st_size, "bytes appended"
    elif name == "W7":
        table = safetensors(str(v1), size, seed, "F32")
        changed = replace_tensors(str(v1), str(v2), table, seed + 1, "F32")
        what = f"safetensors-like {size >> 20} MiB (float32), 10% of {len(table)} tensors replaced"
        how = "bytes of the replaced tensors"
    else:
        raise ValueError(f"no edit workload {name}")
    return Edit(name, what, v1, v2, v2.stat().st_size, changed, how)


def generate(data: Path, names: list[str], quick: bool, seed: int) -> list[Edit]:
    edits = []
    for name in names:
        t0 = time.perf_counter()
        size = EDIT_SIZES[name] // (8 if quick else 1)
        try:
            e = make_edit(data / "edits", name, size, seed)
        except ImportError as err:  # W7 needs numpy
            print(f"{name}: skipped, {err} (.venv/bin/pip install -e '.[bench]')", file=sys.stderr)
            continue
        edits.append(e)
        print(
            f"{name} generated in {time.perf_counter() - t0:.1f} s: {e.what}; "
            f"{e.changed / (1 << 20):.2f} MiB changed ({e.how})",
            file=sys.stderr,
            flush=True,
        )
    return edits


def describe(edits: list[Edit]) -> list[dict[str, object]]:
    return [
        {"name": e.name, "what": e.what, "size": e.size, "changed": e.changed, "how": e.how}
        for e in edits
    ]


def edit_trial(ctx: Context, tool: Tool, e: Edit) -> None:
    r = Runner(ctx, tool, 0, f"{e.name}-{tool.name}")
    t = r.t
    try:
        r.init_repos()
        shutil.copyfile(e.v1, t.work / TARGET)
        r.untimed([*tool.track(t, TARGET), *tool.add(t, TARGET), *tool.commit(t, "v1")])
        store = tool.store(t)
        before = tree_size(store)
        rec = r.step(e.name, "push v1", tool.push(t))
        rec["store_new_bytes"] = tree_size(store).bytes - before.bytes
        if t.xfs_remote is not None:
            r.untimed(tool.xfs_setup(t))
            rec = r.step(e.name, "push v1 (other fs)", tool.push(t, "xfs"))
            rec["store_new_bytes"] = tree_size(tool.store(t, "xfs")).bytes
        clone = t.root / "clone"
        r.untimed(tool.clone(t, clone))
        shutil.copyfile(e.v2, t.work / TARGET)
        r.untimed([*tool.add(t, TARGET), *tool.commit(t, "v2")])
        before = tree_size(store)
        rec = r.step(e.name, "push v2", tool.push(t))
        after = tree_size(store)
        rec["store_new_bytes"] = after.bytes - before.bytes
        rec["store_new_written"] = new_written(before, after, tree_size(tool.cache(t.work)))
        rec["changed"] = e.changed
        if t.xfs_remote is not None:  # where v1 went as packs: delta frames can find bases
            xfs = tool.store(t, "xfs")
            before = tree_size(xfs)
            rec = r.step(e.name, "push v2 (other fs)", tool.push(t, "xfs"))
            rec["store_new_bytes"] = tree_size(xfs).bytes - before.bytes
        fetch_step(r, e.name, clone, {TARGET: digest_file(e.v2)})
    except TrialAborted as err:
        print(f"    {tool.name}: {e.name} stopped after a failure in {err}", file=sys.stderr)
    finally:
        r.cleanup()


def run_edits(ctx: Context, tools: list[Tool], edits: list[Edit]) -> None:
    for e in edits:
        for tool in tools:
            if e.name in tool.workloads:
                print(f"[once] {e.name} {tool.name}", file=sys.stderr, flush=True)
                edit_trial(ctx, tool, e)


def _mib(v: object) -> str:
    return f"{v / (1 << 20):.2f} MiB" if isinstance(v, int) else ""


def table(results: list[dict], edits: list[dict]) -> str:
    """The Markdown report of W5-W7 ('' when none ran)."""
    recs = {(r["workload"], r["step"], r["tool"]): r for r in results if r.get("ok")}
    rows = [
        "| workload | tool | changed (limit) | v2 adds to the store | / changed | target <= 2x "
        "| v2 adds, other fs | / changed | target <= 2x "
        "| fetch of v2: bytes read | push v2 | v1 to a store on another fs | fetch (strace) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in edits:
        for tool in sorted({k[2] for k in recs if k[0] == e["name"]}):
            push = recs.get((e["name"], "push v2", tool))
            if push is None:
                rows.append(f"| {e['name']} | {tool} | FAILED | | | | | | | | | | |")
                continue
            fetch = recs.get((e["name"], "fetch (strace)", tool), {})
            xfs = recs.get((e["name"], "push v1 (other fs)", tool))
            ratio = push["store_new_bytes"] / e["changed"]
            mark = "PASS" if ratio <= LIMIT else "FAIL"
            v1 = ""
            x2 = recs.get((e["name"], "push v2 (other fs)", tool))
            other = "| | |"
            if x2 is not None:
                r2 = x2["store_new_bytes"] / e["changed"]
                verdict = "PASS" if r2 <= LIMIT else "FAIL"
                other = f"{_mib(x2['store_new_bytes'])} | {r2:.2f}x | {verdict}"
            if xfs is not None:
                v1 = f"{_mib(xfs['store_new_bytes'])} ({xfs['store_new_bytes'] / e['size']:.2f}x)"
            rows.append(
                f"| {e['name']} | {tool} | {_mib(e['changed'])} | {_mib(push['store_new_bytes'])} "
                f"| {ratio:.2f}x | {mark} | {other} | {_mib(fetch.get('fetch_store_bytes'))} "
                f"| {push['wall_s']:.2f} s | {v1} | {fetch.get('wall_s', 0):.2f} s |"
            )
    if len(rows) == 2:
        return ""
    lines = ["", "## W5-W7: what a realistic edit adds to the chunked store", ""]
    lines += [f"- {e['name']}: {e['what']}; changed: {e['how']}" for e in edits]
    lines += ["", *rows, ""]
    lines.append(
        "v2 adds: the store's growth on the push of v2 to the store on the same file system "
        "(v1 pushed before), where gitdata hard-links a file of 16 MiB or more whole, base or "
        "not (its bytes, but no new disk blocks while the cache holds it). Other fs: the "
        "same push to the store on another file system, where v1 went as packs (delta frames "
        "find their bases there, as on S3). Fetch: `git pull` into a clone that has v1, bytes "
        "read from the store's files (strace). v1 to a store on another fs: the bytes the first "
        "push stored there, and their ratio to the file's size (zstd where it pays)."
    )
    return "\n".join(lines)
