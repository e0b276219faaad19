"""The defragmentation guard of the chunked store's write path (docs/chunked-store.md, 4.5 step
2), through real git: a chunk a file shares by coincidence, alone, with another push's pack is
stored again rather than reused, so the file is read from its own pack; a run of two or more
shared chunks is reused, as is a file that is one shared chunk."""

from __future__ import annotations

import random

from chunked_helper import chunks_of
from conftest import write
from test_chunked_write import dir_repo, manifests

from gitdata.hashing import hash_bytes
from gitdata.storage.chunked.format.manifest import decode_manifest


def shared_run(x: bytes, run: int, rng: random.Random) -> tuple[bytes, int]:
    """A file of random bytes around `run` + 2 consecutive chunks of `x`, cut so that exactly
    `run` of its chunks are chunks of `x` (the copied run's first and last chunks merge with
    the random bytes around them); and how many of its chunks `x` has."""
    xs = chunks_of(x)
    ids = {cid for cid, _ in xs}
    for i in range(1, len(xs) - run - 2):
        middle = b"".join(raw for _, raw in xs[i : i + run + 2])
        data = rng.randbytes(300_000) + middle + rng.randbytes(300_000)
        got = [cid for cid, _ in chunks_of(data)]
        if sum(cid in ids for cid in got) == run:
            return data, run
    raise AssertionError(f"no place in x gives a run of {run} shared chunks")


def test_a_lone_shared_chunk_is_stored_again_and_a_run_is_reused(env):
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    rng = random.Random(12)
    x = rng.randbytes(2 << 20)
    write(repo / "x.bin", x)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    (first,) = manifests(store)
    x_packs = {t.source for r in decode_manifest(first.read_bytes()).records for t in r.terms}
    lone, _ = shared_run(x, 1, rng)
    run, _ = shared_run(x, 3, rng)
    one = chunks_of(x)[5][1]  # a file that is one chunk of x, nothing else
    files = {"lone.bin": lone, "run.bin": run, "one.bin": one}
    for name, data in files.items():
        write(repo / name, data)
    env.commit_all(repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    (second,) = [m for m in manifests(store) if m != first]
    records = {r.oid.hex(): r for r in decode_manifest(second.read_bytes()).records}
    packs_of = {n: {t.source for t in records[hash_bytes(d)].terms} for n, d in files.items()}
    assert not packs_of["lone.bin"] & x_packs, "the lone shared chunk was reused"
    assert len(packs_of["lone.bin"]) == 1  # read from its own pack only
    assert packs_of["run.bin"] & x_packs, "a run of three shared chunks was stored again"
    assert packs_of["one.bin"] <= x_packs  # a file of one chunk: one range either way
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name, data in {**files, "x.bin": x}.items():
        assert (clone / name).read_bytes() == data, name
    assert env.data("fsck", "--remote", "origin", "--full", cwd=clone).returncode == 0


def test_files_made_of_pieces_of_others_read_back_whole(env):
    """Random files cut from random pieces of earlier ones and new bytes (so that shared runs
    of every length meet the guard), pushed in three pushes: a fresh clone reads every byte and
    `fsck --remote --full` finds every frame and record sound."""
    store = env.root / "store"
    repo, bare = dir_repo(env, store)
    rng = random.Random(7)
    files: dict[str, bytes] = {}
    for push in range(3):
        for k in range(2 if push == 0 else 5):
            if not files:
                data = rng.randbytes(1 << 20)
            else:
                pieces = []
                for _ in range(rng.randint(2, 6)):
                    src = rng.choice([*files.values(), rng.randbytes(400_000)])
                    start = rng.randrange(len(src))
                    pieces.append(src[start : start + rng.randint(10_000, 300_000)])
                data = b"".join(pieces)
            files[f"p{push}-{k}.bin"] = data
            write(repo / f"p{push}-{k}.bin", data)
        env.commit_all(repo)
        env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name, data in files.items():
        assert (clone / name).read_bytes() == data, name
    assert env.data("fsck", "--remote", "origin", "--full", cwd=clone).returncode == 0
