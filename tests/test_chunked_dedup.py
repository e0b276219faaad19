"""Dedup across clones in the chunked store (docs/chunked-store.md, 4.6, 5.2, 8.2 step 8):
a clone reads the pack indexes of packs it never read to place frames of the bases it holds,
and a push finds, through key chunks, packs another clone wrote that hold its chunks. Bytes
and requests are counted through the fault proxy in pass-through mode in front of moto."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Env, random_file, write
from faultproxy import FaultProxy

MIB = 1 << 20


def s3_repo(env: Env, url: str, endpoint: str, bare: Path | None = None) -> tuple[Path, Path]:
    """A repository whose data remote is `url` (chunked), with a bare Git remote."""
    repo = env.new_repo()
    toml = f'[remote.origin]\nurl = "{url}"\nendpoint_url = "{endpoint}"\nchunked = true\n'
    write(repo / ".gitdata.toml", toml.encode())
    bare = bare or env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    return repo, bare


def fetched(proxy: FaultProxy) -> int:
    """Bytes of the ranged GETs the proxy saw (pack frames and indexes)."""
    ranges = [h["range"] for op, h, _ in proxy.received if "range" in h]
    return sum(int(b) - int(a) + 1 for a, b in (r[6:].split("-") for r in ranges))


def uploaded(proxy: FaultProxy) -> int:
    return sum(int(h.get("content-length", 0)) for op, h, _ in proxy.received if op == "PutObject")


def ops(proxy: FaultProxy) -> dict[str, int]:
    out: dict[str, int] = {}
    for op, _ in proxy.requests:
        out[op] = out.get(op, 0) + 1
    return out


def test_a_clone_with_v1_from_its_own_add_fetches_v2_in_few_bytes(env, s3):
    """Clone A has v1 (64 MiB) from its own `git add`, never having read the packs another clone
    wrote it to; v2 (1 MiB overwritten) arrives: A chunks its v1, reads the indexes of v1's
    packs (ranged GETs of their tails) and copies every unchanged frame from its cache."""
    with FaultProxy(s3.endpoint) as proxy:
        repo, bare = s3_repo(env, s3.url("xc"), proxy.endpoint)
        v1 = random_file(repo / "big.bin", 64 * MIB, seed=21).read_bytes()
        env.commit_all(repo)
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
        a = env.root / "a"
        env.git("clone", "-q", str(bare), str(a), env={"GIT_DATA_SKIP_SMUDGE": "1"})
        write(a / "big.bin", v1)  # the same bytes, from elsewhere
        env.git("add", "big.bin", cwd=a)
        assert env.out("status", "--porcelain", cwd=a) == ""
        v2 = v1[: 20 * MIB] + os.urandom(MIB) + v1[21 * MIB :]
        write(repo / "big.bin", v2)
        env.commit_all(repo, "v2")
        env.git("push", "-q", cwd=repo)
        proxy.received.clear()
        proxy.requests.clear()
        env.git("pull", "-q", cwd=a)
        assert (a / "big.bin").read_bytes() == v2
        got = fetched(proxy)
        print(f"v2 into a clone with v1 from its own add: {got} bytes in ranged GETs, {ops(proxy)}")
        assert not [k for k in s3.keys("xc/") if "/chunked/" not in k]  # no whole objects
        assert got < 2 * MIB  # the target is 8 MiB; before step 8 it was the 64 MiB
        env.data("fsck", cwd=a)


def test_key_chunks_let_another_clone_dedup_a_file_it_never_saw(env, s3):
    """Clone A pushes a 64 MiB file (3 packs); clone B, which never read A's packs, pushes a copy
    with 1 MiB overwritten at another path: the key chunks in A's manifest (the first chunk of
    the file, the first frame of each pack, 1 chunk in 256) point B at A's packs, B reads their
    indexes and uploads only the changed region."""
    from gitdata.storage.chunked.format.manifest import decode_manifest

    with FaultProxy(s3.endpoint) as proxy:
        repo, bare = s3_repo(env, s3.url("kc"), proxy.endpoint)
        data = random_file(repo / "big.bin", 64 * MIB, seed=33).read_bytes()
        env.commit_all(repo)
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
        (mkey,) = [k for k in s3.keys("kc/") if k.endswith(".manifest")]
        body = s3.client.get_object(Bucket=s3.bucket, Key=mkey)["Body"].read()
        m = decode_manifest(body)
        assert len(m.packs) == 3 and len(m.key_chunks) >= 3
        b = env.root / "b"
        env.git("clone", "-q", str(bare), str(b), env={"GIT_DATA_SKIP_SMUDGE": "1"})
        copy = data[: 40 * MIB] + os.urandom(MIB) + data[41 * MIB :]
        write(b / "copy.bin", copy)
        env.commit_all(b, "an edited copy")
        proxy.received.clear()
        proxy.requests.clear()
        env.git("push", "-q", "origin", "main", cwd=b)
        put = uploaded(proxy)
        print(
            f"edited copy of a 64 MiB file from another clone: push uploaded {put} bytes, read "
            f"{fetched(proxy)} bytes of pack indexes, {ops(proxy)}; A's manifest: "
            f"{len(body)} bytes, {len(m.key_chunks)} key chunks"
        )
        assert put < 2 * MIB
        # a HEAD and a ranged GET of its last 64 KiB per pack (and the HEAD asking whether
        # the store has the big file whole)
        assert ops(proxy).get("HeadObject", 0) <= 4 and fetched(proxy) <= 3 * 64 << 10
        c = env.root / "c"
        env.git("clone", "-q", str(bare), str(c))
        assert (c / "copy.bin").read_bytes() == copy and (c / "big.bin").read_bytes() == data
