#!/usr/bin/env python3
"""The measurements behind docs/chunked-store.md ("Parameters"): FastCDC chunk sizes, BLAKE3 and
XXH3 throughput, the dedup of issue 12's workloads, zstd per chunk and per block, delta chunks,
and the size of the local chunk index.

    python3 -m venv /tmp/cp && /tmp/cp/bin/pip install pyfastcdc blake3 zstandard xxhash numpy
    /tmp/cp/bin/python benchmarks/chunk_params.py [--quick] [--data DIR] [--only SECTION,...]

Sections: hash, cdc, dedup, zstd, delta, index, resync. Data is generated once into --data (default
/tmp/chunk_params; about 4 GiB at full size, 1 GiB with --quick) from fixed seeds. Every result is
one JSON line on stdout. Throughput is MB/s of CPU time (time.process_time), so that other work on
a shared machine disturbs it less than wall time would; the doc notes the machine. resync needs no
data files (`--only resync`: about 10 minutes of CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import struct
import time

import blake3
import numpy as np
import xxhash
import zstandard
from pyfastcdc import FastCDC
from workloads import (
    changed_pages,
    csv_rows,
    replace_tensors,
    safetensors,
    sqlite_db,
    sqlite_update,
)

from gitdata.storage.chunked.index import SCHEMA as INDEX_SCHEMA

KiB, MiB = 1 << 10, 1 << 20

#: name -> (average KiB, min = avg / this, max = avg * this, normalized chunking level)
CONFIGS = {
    "16K": (16, 8, 2, 1),
    "32K": (32, 8, 2, 1),
    "64K": (64, 8, 2, 1),  # Xet's: 64 KiB target, 8 KiB min, 128 KiB max
    "128K": (128, 8, 2, 1),
    "64K min/4 max*4": (64, 4, 4, 1),  # pyfastcdc's own ratios
    "64K min/4 max*8 nc2": (64, 4, 8, 2),
    "8K min/4 max*4": (8, 4, 4, 1),
}
CHOSEN = "64K"


def cdc(name: str) -> FastCDC:
    avg, lo, hi, nc = CONFIGS[name]
    return FastCDC(
        avg * KiB, min_size=avg * KiB // lo, max_size=avg * KiB * hi, normalized_chunking=nc
    )


def emit(**kv: object) -> None:
    print(json.dumps(kv), flush=True)


def cpu_rate(nbytes: int, fn, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return round(nbytes / MiB / max(best, 1e-9))


# --- data -------------------------------------------------------------------------------------


def random_file(path: str, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for i in range(0, size, 64 * MiB):
            f.write(rng.bytes(min(64 * MiB, size - i)))


def workloads(d: str, quick: bool) -> list[tuple[str, str, str, int]]:
    """(name, old, new, changed bytes) for issue 12's workloads."""
    os.makedirs(d, exist_ok=True)
    big = 256 * MiB if quick else 2048 * MiB
    f = lambda n: os.path.join(d, n)  # noqa: E731
    out = []
    if not os.path.exists(f(f"w3b-{big // MiB}")):
        random_file(f(f"w3a-{big // MiB}"), big, 1)
        shutil.copyfile(f(f"w3a-{big // MiB}"), f(f"w3b-{big // MiB}"))
        with open(f(f"w3b-{big // MiB}"), "r+b") as fh:
            fh.seek(big // 2)
            fh.write(np.random.default_rng(2).bytes(MiB))
    out.append(
        (
            f"W3 {big // MiB} MiB, 1 MiB overwritten",
            f(f"w3a-{big // MiB}"),
            f(f"w3b-{big // MiB}"),
            MiB,
        )
    )
    if not os.path.exists(f("ins")):
        random_file(f("rnd"), 256 * MiB, 3)
        data = open(f("rnd"), "rb").read()
        cuts = [i * 25 * MiB + 12345 for i in range(10)] + [len(data)]
        extra = np.random.default_rng(4).bytes(1000)
        parts = [data[: cuts[0]]] + [
            extra[i * 100 : (i + 1) * 100] + data[cuts[i] : cuts[i + 1]] for i in range(10)
        ]
        open(f("ins"), "wb").write(b"".join(parts))
    out.append(("256 MiB random, 10 insertions of 100 B", f("rnd"), f("ins"), 1000))
    if not os.path.exists(f("csv2")):
        with open(f("csv"), "wb") as fh:
            fh.write(b"ts,sensor,temp,pressure,humidity,state,count\n")
            row = csv_rows(fh, 256 * MiB, 5, 0)
        shutil.copyfile(f("csv"), f("csv2"))
        with open(f("csv2"), "ab") as fh:
            csv_rows(fh, 256 * MiB * 2 // 100, 6, row)
    out.append(
        (
            "CSV 256 MiB, 2% appended",
            f("csv"),
            f("csv2"),
            os.path.getsize(f("csv2")) - os.path.getsize(f("csv")),
        )
    )
    if not os.path.exists(f("sqlc")):
        rows = sqlite_db(f("sql"), 256 * MiB, 7)
        sqlite_update(f("sql"), f("sqlr"), rows, False, 8)
        sqlite_update(f("sql"), f("sqlc"), rows, True, 8)
    for tag, name in (("sqlr", "random rows"), ("sqlc", "clustered rows")):
        out.append(
            (
                f"SQLite 256 MiB, 1% {name} updated",
                f("sql"),
                f(tag),
                changed_pages(f("sql"), f(tag)),
            )
        )
    if not os.path.exists(f("st2.changed")):
        table = safetensors(f("st"), 512 * MiB, 9)
        changed = replace_tensors(f("st"), f("st2"), table, 10)
        open(f("st2.changed"), "w").write(str(changed))
    out.append(
        (
            "safetensors 512 MiB, 10% of tensors replaced",
            f("st"),
            f("st2"),
            int(open(f("st2.changed")).read()),
        )
    )
    return out


# --- sections ---------------------------------------------------------------------------------


def chunk_list(path: str, name: str) -> list[tuple[bytes, int, int]]:
    with open(path, "rb", buffering=0) as f:
        return [
            (blake3.blake3(c.data).digest(), c.offset, c.length) for c in cdc(name).cut_stream(f)
        ]


def sec_hash(d: str) -> None:
    data = open(os.path.join(d, "rnd"), "rb").read()
    mv = memoryview(data)
    emit(
        section="hash",
        what="XXH3-128, whole buffer",
        cpu_MBps=cpu_rate(len(data), lambda: xxhash.xxh3_128(data).digest()),
    )
    emit(
        section="hash",
        what="BLAKE3, whole buffer, 1 thread",
        cpu_MBps=cpu_rate(len(data), lambda: blake3.blake3(data).digest()),
    )
    emit(
        section="hash",
        what="BLAKE3, one call per 64 KiB",
        cpu_MBps=cpu_rate(
            len(data),
            lambda: [
                blake3.blake3(mv[i : i + 64 * KiB]).digest() for i in range(0, len(data), 64 * KiB)
            ],
        ),
    )


def sec_cdc(d: str) -> None:
    data = open(os.path.join(d, "rnd"), "rb").read()
    for name in CONFIGS:
        sizes = np.array([c.length for c in cdc(name).cut_buf(data)])
        cut = cpu_rate(len(data), lambda name=name: sum(1 for _ in cdc(name).cut_buf(data)), 2)
        both = cpu_rate(
            len(data),
            lambda name=name: [blake3.blake3(c.data).digest() for c in cdc(name).cut_buf(data)],
            2,
        )
        avg, lo, hi, nc = CONFIGS[name]
        emit(
            section="cdc",
            config=name,
            cdc_MBps=cut,
            cdc_blake3_MBps=both,
            mean_KiB=round(sizes.mean() / KiB, 1),
            p10_KiB=round(np.percentile(sizes, 10) / KiB, 1),
            p90_KiB=round(np.percentile(sizes, 90) / KiB, 1),
            at_max=round(float((sizes == avg * KiB * hi).mean()), 4),
        )


def sec_resync(n: int = 30_000) -> None:
    """How far after an edit chunks still change (docs/chunked-store.md 2.2): n random edits
    (insert, delete, overwrite; 1 B to 200 KiB) at 256-512 KiB into 3 MiB random files; the
    distance from the edit's end to the start of the last old chunk that is not in the new
    version (-1 KiB: none)."""
    far = []
    for seed in range(n):
        r = random.Random(seed)
        data = r.randbytes(3 * MiB)
        pos = r.randint(256 * KiB, 512 * KiB)
        k = r.choice([1, 2, 3, 100, 4096, r.randint(1, 200 * KiB)])
        new = r.randbytes(k)
        kind = seed % 3
        if kind == 0:
            edited, end = data[:pos] + new + data[pos:], pos
        elif kind == 1:
            edited, end = data[:pos] + data[pos + k :], pos + k
        else:
            edited, end = data[:pos] + new + data[pos + k :], pos + k
        shift = len(edited) - len(data)
        old = [(c.offset, c.length) for c in cdc(CHOSEN).cut_buf(data)]
        now = {(c.offset, c.length) for c in cdc(CHOSEN).cut_buf(edited)}
        gone = [o - end for o, n_ in old if o >= end and (o + shift, n_) not in now]
        far.append(max(gone, default=-KiB))
    far.sort()
    emit(
        section="resync",
        edits=n,
        **{
            f"p{q}_KiB": round(far[min(n - 1, int(n * q / 100))] / KiB, 1)
            for q in (50, 90, 99, 99.9, 99.99)
        },
        max_KiB=round(far[-1] / KiB, 1),
        **{f"over_{lim}KiB": sum(x > lim * KiB for x in far) for lim in (128, 256, 512, 1024)},
    )


def sec_dedup(wl: list) -> None:
    for name, old, new, changed in wl:
        for cfg in CONFIGS:
            a, b = chunk_list(old, cfg), chunk_list(new, cfg)
            where = {h: i for i, (h, _, _) in enumerate(a)}
            seen, new_bytes, terms, prev = set(), 0, 0, None
            for h, _, n in b:
                i = where.get(h)
                if i is None and h not in seen:
                    seen.add(h)
                    new_bytes += n
                run = ("old", i) if i is not None else ("new", None)
                if not (prev and prev[0] == run[0] and (i is None or prev[1] + 1 == i)):
                    terms += 1
                prev = run
            emit(
                section="dedup",
                workload=name,
                config=cfg,
                changed_MiB=round(changed / MiB, 2),
                new_MiB=round(new_bytes / MiB, 2),
                ratio=round(new_bytes / changed, 2),
                terms=terms,
                chunks=len(b),
            )


def sec_zstd(d: str) -> None:
    n = 64 * MiB
    kinds = {
        "random": open(os.path.join(d, "rnd"), "rb").read(n),
        "CSV": open(os.path.join(d, "csv"), "rb").read(n),
        "float32 N(0, 0.02)": (
            np.random.default_rng(11).standard_normal(n // 4, dtype=np.float32) * 0.02
        ).tobytes(),
        "float16 tensors": open(os.path.join(d, "st"), "rb").read(n + MiB)[MiB:],
        "SQLite pages": open(os.path.join(d, "sql"), "rb").read(n),
    }
    for kind, data in kinds.items():
        mv = memoryview(data)
        for unit in (64 * KiB, 4 * MiB):
            for level in (1, 3):
                comp = zstandard.ZstdCompressor(level=level)
                outs = [comp.compress(mv[i : i + unit]) for i in range(0, n, unit)]
                dec = zstandard.ZstdDecompressor()
                emit(
                    section="zstd",
                    data=kind,
                    unit_KiB=unit // KiB,
                    level=level,
                    ratio=round(sum(map(len, outs)) / n, 3),
                    comp_MBps=cpu_rate(
                        n,
                        lambda c=comp, m=mv, u=unit: [
                            c.compress(m[i : i + u]) for i in range(0, n, u)
                        ],
                        2,
                    ),
                    decomp_MBps=cpu_rate(n, lambda d=dec, z=outs: [d.decompress(o) for o in z], 2),
                )


def sec_delta(wl: list) -> None:
    """New chunks stored as zstd-1, or as zstd-1 with one old chunk as a raw dictionary: the old
    chunk at the same offset relative to the last matching chunk (what a pusher can find)."""
    import bisect

    for name, old, new, changed in wl:
        a, b = chunk_list(old, CHOSEN), chunk_list(new, CHOSEN)
        oldb, newb = open(old, "rb").read(), open(new, "rb").read()
        where = {h: i for i, (h, _, _) in enumerate(a)}
        starts = [o for _, o, _ in a]
        z1 = zstandard.ZstdCompressor(level=1)
        raw = plain = best = 0
        shift, deltas = 0, 0
        for h, o, n in b:
            if h in where:
                shift = a[where[h]][1] - o
                continue
            data = newb[o : o + n]
            p = len(z1.compress(data))
            _, bo, bn = a[max(0, bisect.bisect_right(starts, o + shift + n // 2) - 1)]
            dct = zstandard.ZstdCompressionDict(
                oldb[bo : bo + bn], dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
            q = len(zstandard.ZstdCompressor(level=1, dict_data=dct).compress(data))
            deltas += q < p // 2
            raw, plain, best = raw + n, plain + p, best + (q if q < p // 2 else p)
        emit(
            section="delta",
            workload=name,
            changed_MiB=round(changed / MiB, 2),
            new_raw_MiB=round(raw / MiB, 2),
            zstd1_MiB=round(plain / MiB, 2),
            with_deltas_MiB=round(best / MiB, 2),
            ratio_with_deltas=round(best / changed, 2),
            delta_chunks=deltas,
        )


def sec_index(d: str) -> None:
    """Bytes per chunk of the local index, with the schema of docs/chunked-store.md ("The local
    index"): every chunk of a cached file, and where the store keeps it. Chunks are keyed there
    by the first 16 bytes of their id; the file's chunk list keeps all 32."""
    path = os.path.join(d, "index.sqlite")
    for p in (path, path + "-wal", path + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    con = sqlite3.connect(path)
    con.executescript("PRAGMA journal_mode=WAL;" + INDEX_SCHEMA)  # the one that ships
    n, per_file, per_pack = 1_000_000, 30_000, 450
    rng = np.random.default_rng(12)
    ids = rng.bytes(32 * n)
    t = time.process_time()
    for f in range(0, n, per_file):
        oid = rng.bytes(16)
        cids = [ids[32 * i : 32 * i + 32] for i in range(f, min(n, f + per_file))]
        blob = b"".join(c + struct.pack("<I", 72 * KiB) for c in cids)
        con.execute("INSERT INTO file VALUES (?,?,?)", (oid, len(cids) * 72 * KiB, blob))
        con.executemany(
            "INSERT OR IGNORE INTO local_chunk VALUES (?,?,?,?)",
            [(c[:16], oid, j * 72 * KiB, 72 * KiB) for j, c in enumerate(cids)],
        )
        packs = range(f // per_pack, (f + len(cids)) // per_pack + 1)
        con.executemany(
            "INSERT OR IGNORE INTO pack VALUES (?,1,?,?,0)",
            [(p, rng.bytes(32), 32 * MiB) for p in packs],
        )
        con.executemany(
            "INSERT OR IGNORE INTO stored_chunk VALUES (1,?,?,?,?,0)",
            [
                (c[:16], (f + j) // per_pack, (f + j) % per_pack * 72 * KiB, 72 * KiB + 44)
                for j, c in enumerate(cids)
            ],
        )
    con.commit()
    secs = time.process_time() - t
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sizes = dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    con.close()
    per_chunk = os.path.getsize(path) / n
    emit(
        section="index",
        bytes_per_chunk=round(per_chunk),
        GiB_per_TiB_at_72KiB=round(per_chunk * (1 << 40) / (72 * KiB) / (1 << 30), 2),
        per_table_bytes_per_chunk={k: round(v / n, 1) for k, v in sizes.items()},
        insert_chunks_per_cpu_s=round(n / secs),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="W3 at 256 MiB instead of 2 GiB")
    ap.add_argument("--data", default="/tmp/chunk_params")
    ap.add_argument("--only", default="hash,cdc,dedup,zstd,delta,index,resync")
    args = ap.parse_args()
    only = set(args.only.split(","))
    emit(section="machine", cpus=os.cpu_count(), load=os.getloadavg(), quick=args.quick)
    if "resync" in only:
        sec_resync()
    if not only - {"resync"}:
        return
    wl = workloads(args.data, args.quick)
    if "hash" in only:
        sec_hash(args.data)
    if "cdc" in only:
        sec_cdc(args.data)
    if "dedup" in only:
        sec_dedup(wl)
    if "zstd" in only:
        sec_zstd(args.data)
    if "delta" in only:
        sec_delta(wl)
    if "index" in only:
        sec_index(args.data)


if __name__ == "__main__":
    main()
