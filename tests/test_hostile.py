"""Hostile repositories and stores, through real git: what a committed file or a store can make
gitdata do. Nothing read from a repository may write outside the cache, the worktree or the
store, set credentials, or change where the cache lives; bytes that do not match their oid never
reach the worktree or the cache."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Env, random_file, write


def symlink_blob(env: Env, repo: Path, path: str, target: str) -> None:
    """Stage a symlink without touching the worktree (git would refuse nothing here)."""
    sha = env.git("hash-object", "-w", "--stdin", cwd=repo, input=target.encode()).stdout.decode()
    env.git("update-index", "--add", "--cacheinfo", f"120000,{sha.strip()},{path}", cwd=repo)


def publish(env: Env, repo: Path, message: str = "evil", hook: bool = True) -> Path:
    """Commit what is staged and push it to `evil.git` (with the bytes, unless `hook` is off:
    a hostile .gitdata.toml stops our own pre-push too)."""
    env.git("commit", "-q", "-m", message, cwd=repo)
    bare = env.root / "evil.git"
    if not bare.exists():
        env.git("init", "-q", "--bare", str(bare))
    env.git("push", "-q", *([] if hook else ["--no-verify"]), str(bare), "main", cwd=repo)
    return bare


def test_committed_symlink_at_a_temporary_name_is_not_followed(env):
    """A repository commits `.big.bin.gitdata-tmp -> ~/victim` beside big.bin: writing big.bin
    (post-checkout for big files, `git data checkout`) must not write through the link."""
    env.git("config", "--global", "data.bigfilethreshold", "1k")  # big.bin goes through the hook
    victim = env.root / "victim.txt"
    victim.write_bytes(b"precious\n")
    repo = env.new_repo("evil")
    random_file(repo / "big.bin", 50_000, seed=3)
    write(repo / "sub/deep.bin", b"z" * 4096)
    env.git("add", "-A", cwd=repo)
    for name in (".big.bin.gitdata-tmp", "big.bin.gitdata-tmp", "sub/.deep.bin.gitdata-tmp"):
        symlink_blob(env, repo, name, str(victim))
    bare = publish(env, repo)

    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    assert victim.read_bytes() == b"precious\n"
    assert not (clone / "big.bin").is_symlink()
    assert (clone / "big.bin").read_bytes() == (repo / "big.bin").read_bytes()
    assert (clone / "sub/deep.bin").read_bytes() == b"z" * 4096
    assert env.out("status", "--porcelain", cwd=clone) == ""

    # the same through `git data checkout`, from pointers left by GIT_DATA_SKIP_SMUDGE
    clone2 = env.root / "clone2"
    env.git("clone", "-q", str(bare), str(clone2), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    env.data("pull", cwd=clone2)
    assert victim.read_bytes() == b"precious\n"
    assert (clone2 / "big.bin").read_bytes() == (repo / "big.bin").read_bytes()
    assert os.readlink(clone2 / ".big.bin.gitdata-tmp") == str(victim)


def test_committed_symlink_beside_gitattributes_is_not_followed(env):
    """`git data track` rewrites .gitattributes; a committed link at a temporary name beside it
    must not receive the new text."""
    victim = env.root / "victim.txt"
    victim.write_bytes(b"precious\n")
    repo = env.new_repo("evil")
    env.git("add", "-A", cwd=repo)
    for name in (".gitattributes.gitdata-tmp", ".gitattributes.tmp", ".gitattributes.lock"):
        symlink_blob(env, repo, name, str(victim))
    bare = publish(env, repo)
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    env.data("track", "*.parquet", cwd=clone)
    env.data("untrack", "*.bin", cwd=clone)
    assert victim.read_bytes() == b"precious\n"
    assert (clone / ".gitattributes").read_text().splitlines() == [
        "*.parquet filter=data diff=data merge=data -text"
    ]


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_gitdata_toml_symlink_to_dev_zero_is_refused(env):
    """A committed `.gitdata.toml -> /dev/zero` would be read forever; it is refused at once,
    naming the file (and a memory limit keeps a regression from taking the machine down)."""
    repo = env.new_repo("evil")
    write(repo / "a.bin", b"data")
    env.git("add", "-A", cwd=repo)
    symlink_blob(env, repo, ".gitdata.toml", "/dev/zero")
    bare = publish(env, repo, hook=False)
    clone = env.root / "clone"
    proc = env.git(
        "clone", str(bare), str(clone), check=False, timeout=60, preexec_fn=_limit_memory
    )
    err = proc.stderr.decode()
    assert "git-data: error: .gitdata.toml is a symbolic link" in err, err
    assert "Traceback" not in err
    assert os.readlink(clone / ".gitdata.toml") == "/dev/zero"
    # other commands say the same, quickly
    for args in (["env"], ["fetch"], ["pull"]):
        proc = env.data(*args, cwd=clone, check=False, timeout=30, preexec_fn=_limit_memory)
        assert proc.returncode == 1, args
        assert b"symbolic link" in proc.stderr and b"Traceback" not in proc.stderr, args
