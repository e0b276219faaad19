"""`git data fsck --remote NAME [--full]` over chunked stores (docs/chunked-store.md, 7.3): a file
is there when a read would find its bytes (a whole object, or a record whose packs and whole
objects exist and whose terms are whole frames of their packs); `--full` reads and hashes
every pack and whole object such a read uses."""

from __future__ import annotations

import os
import time
from pathlib import Path

from chunked_helper import ChunkedWriter
from conftest import Env, random_file, write

from gitdata.hashing import hash_bytes
from gitdata.storage import StoreSpec, key_for
from gitdata.storage.chunked.format.manifest import Record, Term
from gitdata.storage.chunked.manifest_store import read_manifest
from gitdata.storage.local import LocalStore

CHUNKED = "chunked/v1"


def packs(store: Path) -> list[Path]:
    return sorted((store / CHUNKED / "packs").rglob("*.pack"))


def manifests(store: Path) -> list[Path]:
    return sorted((store / CHUNKED / "manifests").glob("*.manifest"))


def replace(path: Path, data: bytes) -> None:
    """New bytes under `path` through a new file: the cache may hold a hard link to the old."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def pushed(
    env: Env, files: dict[str, bytes], chunked: str = "true", store: Path | None = None
) -> tuple[Path, Path]:
    store = store or env.root / "store"
    repo = env.new_repo()
    write(
        repo / ".gitdata.toml", f'[remote.origin]\nurl = "{store}"\nchunked = {chunked}\n'.encode()
    )
    env.git("remote", "add", "origin", str(env.bare()), cwd=repo)
    for name, data in files.items():
        write(repo / name, data)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    return repo, store


def fsck(env: Env, repo: Path, *args: str):
    return env.data("fsck", "--remote", "origin", *args, cwd=repo, check=False)


FILES = {"a.bin": os.urandom(300_000), "b.bin": os.urandom(5000), "c.bin": b"tiny"}


def test_a_clean_chunked_store_passes(env):
    repo, store = pushed(env, FILES)
    assert len(packs(store)) == 1
    for args in ((), ("--full",)):
        proc = fsck(env, repo, *args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == b"" and b"warning" not in proc.stderr
    assert b"1 stored object(s) read" in proc.stderr


def test_full_needs_remote(env):
    repo, _ = pushed(env, FILES)
    proc = env.data("fsck", "--full", cwd=repo, check=False)
    assert proc.returncode == 2 and b"--full checks a store" in proc.stderr


def test_a_deleted_pack_leaves_its_files_missing(env):
    repo, store = pushed(env, FILES)
    packs(store)[0].unlink()
    proc = fsck(env, repo)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    for name, data in FILES.items():
        assert f"missing xxh128:{hash_bytes(data)} {name}: not in {store}" in out
    assert "3 data object(s) without their bytes" in proc.stderr.decode()
    assert b"git data push" in proc.stderr


def test_a_corrupted_pack_passes_plain_but_not_full(env):
    repo, store = pushed(env, FILES)
    pack = packs(store)[0]
    data = bytearray(pack.read_bytes())
    data[1000] ^= 0xFF  # a frame's bytes: the index and the terms still fit
    replace(pack, bytes(data))
    assert fsck(env, repo).returncode == 0
    proc = fsck(env, repo, "--full")
    assert proc.returncode == 1
    out = proc.stdout.decode()
    name = pack.name[: -len(".pack")]
    assert out.startswith(f"corrupt {name} (needed by a.bin, b.bin, c.bin): corrupt frame in pack")
    err = proc.stderr.decode()
    assert "1 corrupt stored object(s) or record(s)" in err
    assert "(`git data push --all`): the bytes go into new packs" in err


def test_a_truncated_pack_fails_plain_fsck(env):
    repo, store = pushed(env, FILES)
    pack = packs(store)[0]
    replace(pack, pack.read_bytes()[:-10])
    proc = fsck(env, repo)
    assert proc.returncode == 1
    name = pack.name[: -len(".pack")]
    assert f"corrupt {name} (needed by a.bin, b.bin, c.bin): corrupt pack {name}" in (
        proc.stdout.decode()
    )


def test_a_pack_whose_bytes_do_not_hash_to_its_name(env):
    repo, store = pushed(env, FILES)
    pack = packs(store)[0]
    data = bytearray(pack.read_bytes())
    data[20] ^= 1  # the nonce: every frame and the index are still right
    replace(pack, bytes(data))
    assert fsck(env, repo).returncode == 0
    proc = fsck(env, repo, "--full")
    assert proc.returncode == 1
    assert b"its bytes do not hash to its name" in proc.stdout


def test_a_term_off_a_frame_boundary_is_an_error(env):
    repo, store = pushed(env, FILES)
    good = read_manifest(LocalStore(StoreSpec(str(store))), _key(manifests(store)[0]))
    rec = next(r for r in good.records if r.oid.hex() == hash_bytes(FILES["a.bin"]))
    t = rec.terms[0]
    shifted = Term(t.whole, t.source, t.offset + 1, t.length - 1, t.output)
    w = ChunkedWriter(LocalStore(StoreSpec(str(store))), env.root)
    mid = w.manifest([rec._replace(terms=(shifted, *rec.terms[1:]))])
    later = time.time() + 60  # newer than the push's manifest: a read would choose it
    os.utime(store / CHUNKED / "manifests" / f"{mid.hex()}.manifest", (later, later))
    proc = fsck(env, repo)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert f"bad record xxh128:{rec.oid.hex()} a.bin: its record's term in pack" in out
    assert "is not whole frames" in out


def test_mixed_store_whole_objects_and_packs(env, other_fs):
    """On another file system than the cache's (on the same one, v2 goes whole: 4.1)."""
    big = random_file(env.root / "big-src", 20 << 20, seed=4).read_bytes()
    files = {"big.bin": big, "small.bin": os.urandom(3000)}
    repo, store = pushed(env, files, chunked="false", store=other_fs / "store")
    env.git("config", "data.remote.origin.chunked", "true", cwd=repo)
    big2 = big[: 10 << 20] + os.urandom(100_000) + big[(10 << 20) + 100_000 :]
    write(repo / "big.bin", big2)
    write(repo / "other.bin", os.urandom(4000))
    env.commit_all(repo, "v2")
    env.git("push", "-q", cwd=repo)
    assert packs(store) and (store / key_for(hash_bytes(big))).is_file()
    for args in (("--all",), ("--all", "--full")):
        proc = fsck(env, repo, *args)
        assert proc.returncode == 0, proc.stderr
    # v2's record names ranges of v1's whole object: --full hashes it
    v1 = store / key_for(hash_bytes(big))
    replace(v1, big[:-1] + bytes([big[-1] ^ 1]))
    assert fsck(env, repo).returncode == 0
    proc = fsck(env, repo, "--full")
    assert proc.returncode == 1
    assert f"corrupt xxh128:{hash_bytes(big)} (needed by big.bin):" in proc.stdout.decode()
    # the whole object gone: v2 (HEAD) is missing, whatever its packs hold
    v1.unlink()
    proc = fsck(env, repo)
    assert proc.returncode == 1
    assert f"missing xxh128:{hash_bytes(big2)} big.bin" in proc.stdout.decode()


def test_warnings_for_a_misnamed_manifest_and_an_old_unnamed_pack(env):
    repo, store = pushed(env, FILES)
    m = manifests(store)[0]
    (m.parent / (("0" * 64) + ".manifest")).write_bytes(m.read_bytes())
    w = ChunkedWriter(LocalStore(StoreSpec(str(store))), env.root)
    pid = w.pack([(b"\1" * 32, b"x" * 100)])  # no manifest names it
    old = time.time() - 30 * 86400
    p = store / CHUNKED / "packs" / pid.hex()[:2] / f"{pid.hex()}.pack"
    os.utime(p, (old, old))
    proc = fsck(env, repo)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert "warning: fsck: corrupt manifest " + "0" * 64 in err
    assert f"warning: fsck: pack {pid.hex()} is named by no manifest's record" in err


def _key(path: Path) -> str:
    return f"{CHUNKED}/manifests/{path.name}"


def test_s3_requests_and_memory(env, s3):
    """On S3 (moto, through the counting proxy): plain `--remote` lists the packs once and
    reads each pack's end with ranged GETs, no HEAD per file; `--full` streams each pack (peak
    memory of the git-data process, VmHWM through getrusage of a parent that runs it alone)."""
    import sys
    from collections import Counter

    from faultproxy import FaultProxy

    with FaultProxy(s3.endpoint) as proxy:
        repo = env.new_repo()
        toml = f'[remote.origin]\nurl = "{s3.url("fk")}"\nendpoint_url = "{proxy.endpoint}"\n'
        write(repo / ".gitdata.toml", (toml + "chunked = true\n").encode())
        random_file(repo / "big.bin", 48 << 20, seed=3)  # two packs
        for i in range(200):
            write(repo / "s" / f"{i}.bin", os.urandom(2000 + i))
        env.commit_all(repo)
        env.git("remote", "add", "origin", str(env.bare()), cwd=repo)
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
        n_packs = len([k for k in s3.keys("fk/") if k.endswith(".pack")])
        assert n_packs >= 2
        proxy.received.clear()
        assert fsck(env, repo).returncode == 0
        ops = Counter(op for op, _, _ in proxy.received)
        print(f"fsck --remote, 201 files in {n_packs} packs: {dict(ops)}")
        assert ops["HeadObject"] == 0 and ops["ListObjectsV2"] <= 4
        assert ops["GetObjectRange"] <= 2 * n_packs and ops["GetObject"] <= 3
        proxy.received.clear()
        measure = (
            "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)"
        )
        cmd = [sys.executable, "-c", measure, "git-data", "fsck", "--remote", "origin", "--full"]
        proc = env.run(cmd, cwd=repo)
        peak = int(proc.stdout.split()[-1]) // 1024
        read = sum(
            int(h["range"][6:].split("-")[1]) - int(h["range"][6:].split("-")[0]) + 1
            for op, h, _ in proxy.received
            if op == "GetObjectRange"
        )
        print(f"fsck --full: read {read} bytes of packs, peak {peak} MiB")
        assert read > 48 << 20 and peak < 80  # a 32 MiB pack held whole would show


def _delta_pack(
    store: LocalStore, tmp: Path, base: bytes, data: bytes, with_base: bool = True
) -> list:
    """A pack of `base` (raw, unless not `with_base`) and `data` as a delta frame against it:
    (its id, its entries)."""
    from gitdata.storage.chunked.format.common import ENC_DELTA, blake3_256
    from gitdata.storage.chunked.format.pack import zstd_compress
    from gitdata.storage.chunked.packer import PackWriter
    from gitdata.storage.chunked.reader import pack_key

    with PackWriter(str(tmp)) as w:
        if with_base:
            w.add(blake3_256(base), len(base), 0, base)
        w.add(blake3_256(data), len(data), ENC_DELTA, zstd_compress(data, base),
              base_id=blake3_256(base))  # fmt: skip
        closed = w.close()
    store.put_file(pack_key(closed.pid), closed.path)
    return [closed.pid, *closed.entries]


def test_full_decodes_delta_frames_with_their_base(env):
    """A record whose delta frame's base is named by a base-only term (3.4) passes --full; one
    whose base is in no pack its files need is corrupt."""
    base = os.urandom(50_000)
    data = base[:20_000] + b"changed" + base[20_007:]
    oid = bytes.fromhex(hash_bytes(data))
    repo, store = pushed(env, {"d.bin": data})
    st = LocalStore(StoreSpec(str(store)))
    w = ChunkedWriter(st, env.root)

    def only(record: Record) -> None:  # the one manifest of the store
        for m in manifests(store):
            m.unlink()
        w.manifest([record])

    pid, b, d = _delta_pack(st, env.root / "packs", base, data)
    only(Record(oid, len(data), (Term(False, pid, d.offset, d.length, len(data)),
                                 Term(False, pid, b.offset, b.length, 0, True))))  # fmt: skip
    proc = fsck(env, repo, "--full")
    assert proc.returncode == 0, proc.stderr
    pid, d = _delta_pack(st, env.root / "packs", base, data, with_base=False)
    only(Record(oid, len(data), (Term(False, pid, d.offset, d.length, len(data)),)))
    proc = fsck(env, repo, "--full")
    assert proc.returncode == 1
    assert b"its delta base" in proc.stdout and b"d.bin" in proc.stdout
