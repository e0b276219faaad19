"""Key chunks of the packs a store gc repack writes (docs/chunked-store.md, 2.6 and 7.1): the
compacted manifest lists them, so that a clone that never read the new pack still finds the
chunks it holds and a push of an edited copy stores only what changed."""

from __future__ import annotations

import random

from chunked_helper import chunks_of
from conftest import age_for_gc, write
from test_chunked_gc import check_clone, clone, gc, push_mostly_dead
from test_chunked_write import dir_repo, manifests, packs

from gitdata.storage.chunked.format.common import PACK_HEADER
from gitdata.storage.chunked.format.manifest import decode_manifest


def test_a_repacked_pack_has_key_chunks_another_clone_dedups_against(env):
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    rng = random.Random(21)
    datas = {f"f{i}.bin": rng.randbytes(300_000) for i in range(10)}  # 3 chunks or more each
    keep = push_mostly_dead(env, repo, datas)
    age_for_gc(False)
    done = gc(env, clone(env, bare, "gcer"), "--yes", "--grace", "0")
    (new,) = done["chunked"]["new_packs"]
    (compacted,) = manifests(store)
    keys = [k for k in decode_manifest(compacted.read_bytes()).key_chunks]
    assert [k for k in keys if k.pack.hex() == new and k.offset == PACK_HEADER.size], keys
    # the new pack starts with f0's first chunk: an edited copy of f0's start, pushed by a
    # clone that never read the new pack, finds it through that key chunk
    b = env.root / "b"
    env.git("clone", "-q", str(bare), str(b), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    copy = datas["f0.bin"][:200_000] + rng.randbytes(50_000)
    f0_ids = {cid for cid, _ in chunks_of(datas["f0.bin"])}
    shared = sum(len(raw) for cid, raw in chunks_of(copy) if cid in f0_ids)
    assert shared > 0
    write(b / "copy.bin", copy)
    env.commit_all(b, "an edited copy")
    before = set(packs(store))
    env.git("push", "-q", "origin", "main", cwd=b)
    (added,) = set(packs(store)) - before
    print(f"edited copy of {len(copy)} bytes, {shared} shared: new pack {added.stat().st_size}")
    assert added.stat().st_size < len(copy) - shared + 10_000
    check_clone(env, bare, {**keep, "copy.bin": copy, "base.txt": b"base"}, "fresh")
