"""Chains of versions over a whole object (docs/chunked-store.md, 4.2, 4.5 step 1): v1 kept
whole in the store (here pushed with `chunked = false`, as an older version or a same-fs store
keeps it), v2 a record naming v1's unchanged ranges around a pack, then v3 (whose base is v2)
must name those same ranges of v1 rather than pack every chunk v2 did not change. Through
real git, on a directory store on another file system than the cache (so nothing is
hard-linked) and on S3 (moto)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import Env, age_for_gc, random_file, write
from test_chunked_write import dir_repo, tree_bytes

from gitdata.hashing import hash_bytes
from gitdata.storage import key_for

MIB = 1 << 20


def edit(data: bytes, at: int) -> bytes:
    """`data` with 1 MiB overwritten at `at` MiB."""
    return data[: at * MIB] + os.urandom(MIB) + data[(at + 1) * MIB :]


def test_v3_reuses_the_whole_object_ranges_of_v2s_record(env: Env, other_fs: Path):
    store = other_fs / "store"
    repo, bare = dir_repo(env, store, "false")
    v1 = random_file(repo / "big.bin", 64 * MIB, seed=12).read_bytes()
    env.commit_all(repo, "v1")
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)  # v1 whole
    env.git("config", "data.remote.origin.chunked", "true", cwd=repo)
    grown = []
    versions = [v1]
    for at in (20, 40):
        versions.append(edit(versions[-1], at))
        write(repo / "big.bin", versions[-1])
        env.commit_all(repo, f"v{len(versions)}")
        before = tree_bytes(store)
        env.git("push", "-q", "origin", "main", cwd=repo)
        grown.append(tree_bytes(store) - before)
    print(f"v1 whole, then v2 and v3 chunked: the store grew by {grown} bytes")
    assert grown[0] < 2 * MIB and grown[1] < 2 * MIB  # v3 packed all 64 MiB again before
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for back, data in enumerate(reversed(versions)):
        env.git("checkout", "-q", f"main~{back}", cwd=clone)
        assert (clone / "big.bin").read_bytes() == data, f"v{3 - back}"
    env.git("checkout", "-q", "main", cwd=clone)
    env.data("fsck", "--remote", "origin", "--all", "--full", cwd=clone)

    # only v3 stays live: store gc keeps v1's whole object, whose ranges v3's record names
    env.git("checkout", "-q", "--orphan", "only-v3", cwd=repo)
    env.commit_all(repo, "v3 alone")
    env.git("push", "-q", "-f", "origin", "only-v3:main", cwd=repo)
    gcer = env.root / "gcer"
    env.git("clone", "-q", str(bare), str(gcer))
    age_for_gc(False)
    r = env.data("gc", "--remote", "origin", "--json", "--yes", "--grace", "0", cwd=gcer)
    print(f"store gc: {json.loads(r.stdout)}")
    assert (store / key_for(hash_bytes(v1))).is_file()
    fresh = env.root / "fresh"
    env.git("clone", "-q", str(bare), str(fresh))
    assert (fresh / "big.bin").read_bytes() == versions[2]
    env.data("fsck", "--remote", "origin", "--full", cwd=fresh)


@pytest.mark.parametrize("pushes", ["apart", "together"])
def test_v3_over_a_whole_v1_on_s3(env: Env, s3, pushes: str):
    """The same chain on S3, v2 and v3 pushed one by one or in one push (then v3's base is v2
    as this push writes it): v3 uploads about 1 MiB."""
    from faultproxy import FaultProxy
    from test_chunked_dedup import uploaded

    with FaultProxy(s3.endpoint) as proxy:
        repo = env.new_repo()
        toml = f'[remote.origin]\nurl = "{s3.url("ch")}"\nendpoint_url = "{proxy.endpoint}"\n'
        write(repo / ".gitdata.toml", (toml + "chunked = false\n").encode())
        env.git("remote", "add", "origin", str(env.bare()), cwd=repo)
        v1 = random_file(repo / "big.bin", 32 * MIB, seed=13).read_bytes()
        env.commit_all(repo, "v1")
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
        env.git("config", "data.remote.origin.chunked", "true", cwd=repo)
        v2 = edit(v1, 10)
        write(repo / "big.bin", v2)
        env.commit_all(repo, "v2")
        proxy.received.clear()
        if pushes == "apart":
            env.git("push", "-q", "origin", "main", cwd=repo)
        v3 = edit(v2, 20)
        write(repo / "big.bin", v3)
        env.commit_all(repo, "v3")
        env.git("push", "-q", "origin", "main", cwd=repo)
        put = uploaded(proxy)
        print(f"v2 and v3 pushed {pushes}: uploaded {put} bytes")
        assert put < 3 * MIB  # two changed MiB, and the manifests
        clone = env.root / "clone"
        env.git("clone", "-q", str(env.root / "project.git"), str(clone))
        for back, data in enumerate((v3, v2, v1)):
            env.git("checkout", "-q", f"main~{back}", cwd=clone)
            assert (clone / "big.bin").read_bytes() == data, f"v{3 - back}"
        env.data("fsck", "--remote", "origin", "--all", cwd=clone)
