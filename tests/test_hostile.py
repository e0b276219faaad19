"""Hostile repositories and stores, through real git: what a committed file or a store can make
gitdata do. Nothing read from a repository may write outside the cache, the worktree or the
store, set credentials, or change where the cache lives; bytes that do not match their oid never
reach the worktree or the cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Env, random_file, write

from gitdata.storage.keys import is_key


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


def test_an_oversized_gitdata_toml_in_head_is_never_read(env):
    """Before the checkout writes `.gitdata.toml`, settings come from HEAD's blob: a huge one is
    refused by its size, without reading it into memory."""
    repo = env.new_repo("evil")
    write(repo / ".gitdata.toml", b"# " + b"x" * (2 << 20) + b"\n")
    env.commit_all(repo)
    (repo / ".gitdata.toml").unlink()  # as during a clone's checkout: only HEAD has it
    proc = env.data("env", cwd=repo, check=False, timeout=30, preexec_fn=_limit_memory)
    assert proc.returncode == 1
    assert b"HEAD:.gitdata.toml is larger than 1 MiB" in proc.stderr
    assert b"Traceback" not in proc.stderr


# --- a store that returns the wrong bytes ---------------------------------------------------


def test_store_with_wrong_bytes_is_refused(env):
    """A wrong file under the right name in a directory store: refused by clone, checkout,
    fetch and pull, never written to the worktree or the cache; the error names the file, the
    oid, the store and GIT_DATA_SKIP_SMUDGE=1."""
    from gitdata.pointer import parse

    repo = env.new_repo()
    # whole objects, replaced in the store by path (a corrupt pack: test_chunked_read.py,
    # test_a_corrupt_pack_is_one_clear_error_and_nothing_enters_the_cache)
    env.git("config", "data.chunked", "false", cwd=repo)
    random_file(repo / "a.bin", 200_000, seed=1)
    write(repo / "b.bin", b"fine")
    env.commit_all(repo)
    bare = env.bare()
    env.git("push", "-q", str(bare), "main", cwd=repo)
    oid = parse(env.git("cat-file", "blob", "HEAD:a.bin", cwd=repo).stdout).oid
    store = bare / "data" / "objects"
    obj = store / oid[:2] / oid[2:4] / oid
    good = obj.read_bytes()
    obj.unlink()  # the store's file is the repo's cache object (a hard link): replace, not edit
    for wrong in (b"x" + good[1:], good[:-1], b""):
        obj.write_bytes(wrong)
        clone = env.root / f"clone{len(wrong)}"
        proc = env.git("clone", str(bare), str(clone), check=False)
        err = proc.stderr.decode()
        assert "a.bin" in err and oid in err and str(store) in err, err
        assert "GIT_DATA_SKIP_SMUDGE=1" in err and "Traceback" not in err
        assert not (clone / "a.bin").exists() or (clone / "a.bin").read_bytes() != wrong
        assert not (clone / ".git" / "data" / "objects" / oid[:2] / oid[2:4] / oid).exists()
        obj.unlink()

    obj.write_bytes(b"y" + good[1:])
    clone = env.root / "skip"
    env.git("clone", "-q", str(bare), str(clone), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    for cmd in (["fetch"], ["pull"]):
        proc = env.data(*cmd, cwd=clone, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and "Traceback" not in err, err
        assert "a.bin" in err and oid in err and str(store) in err, err
        assert (clone / "a.bin").read_bytes().startswith(b"version gitdata/1\n")
        assert not (clone / ".git" / "data" / "objects" / oid[:2] / oid[2:4] / oid).exists()
    # the store repaired: the same command completes
    obj.unlink()
    obj.write_bytes(good)
    env.data("pull", cwd=clone)
    assert (clone / "a.bin").read_bytes() == good
    assert env.out("status", "--porcelain", cwd=clone) == ""


# --- .gitdata.toml from the repository ------------------------------------------------------


def commit_config(env: Env, repo: Path, text: str) -> None:
    """Commit .gitdata.toml without running our filter (which would refuse a bad file)."""
    sha = env.git("hash-object", "-w", "--stdin", cwd=repo, input=text.encode()).stdout.decode()
    env.git("update-index", "--add", "--cacheinfo", f"100644,{sha.strip()},.gitdata.toml", cwd=repo)


BAD_CONFIGS = [
    ("[remote.origin]\nurl = 42\n", ["remote.origin.url", "must be a string"]),
    ('default = "origin"\ncolour = "blue"\n', ["unknown key 'colour'"]),
    ('[remote.origin]\nurl = "ftp://host/x"\n', ["remote.origin.url", "ftp://"]),
    ('[remote.origin]\nurl = "s3://b"\nendpoint_url = ["x"]\n', ["remote.origin.endpoint_url"]),
    ('cachedir = "/tmp/elsewhere"\n', ["unknown key 'cachedir'"]),
    ('[remote.origin]\nurl = "s3://b"\nprofile = "admin"\n', ["remote.origin.profile"]),
    (
        '[remote.origin]\nurl = "s3://b"\naws_secret_access_key = "k"\n',
        ["remote.origin.aws_secret_access_key"],
    ),
    ('[remote.origin]\nurl = "s3://b"\ncredential_process = "sh -c x"\n', ["credential_process"]),
    ('[filter]\nprocess = "sh -c x"\n', ["unknown key 'filter'"]),
]


def test_clone_of_a_repository_with_a_bad_gitdata_toml(env):
    """Wrong types, unknown keys (among them everything that would set the cache, a profile,
    credentials or a command) and unknown URL schemes: the clone's checkout stops with one
    error naming the file and the key; nothing is written outside the clone; the cache stays
    where it belongs."""
    repo = env.new_repo("evil")
    write(repo / "a.bin", b"some data")
    env.commit_all(repo)
    bare = env.bare("evil.git")
    env.git("push", "-q", str(bare), "main", cwd=repo)
    elsewhere = Path("/tmp/elsewhere")
    for i, (text, words) in enumerate(BAD_CONFIGS):
        commit_config(env, repo, text)
        env.git("commit", "-q", "-m", f"config {i}", cwd=repo)
        env.git("push", "-q", "--no-verify", str(bare), "main", cwd=repo)
        clone = env.root / f"clone{i}"
        proc = env.git("clone", str(bare), str(clone), check=False)
        err = proc.stderr.decode()
        lines = [ln for ln in err.splitlines() if ln.startswith("git-data: error:")]
        assert len(lines) == 1 and ".gitdata.toml" in lines[0], err
        for w in words:
            assert w in err, (text, err)
        assert "Traceback" not in err
        assert not elsewhere.exists()
        # gitdata commands in the clone say the same
        proc = env.data("env", cwd=clone, check=False)
        assert proc.returncode == 1 and words[0].encode() in proc.stderr
        assert not (clone / "a.bin").exists() or (clone / "a.bin").read_bytes() == b"some data"


@pytest.mark.parametrize("chunked", ["false", "auto"])
def test_a_committed_store_url_gets_only_objects(env, tmp_path, chunked):
    """A .gitdata.toml may name a directory store (docs/configuration.md); pushing there writes
    objects under `<root>/<h[0:2]>/<h[2:4]>/<h>` (and temporaries under `<root>/tmp`), the
    push's manifest under `<root>/chunked/v1/` (docs/chunked-store.md, 3.1 and 4.8), and nothing
    else; a chunked push (`auto`, a new store) writes FORMAT, packs and the manifest there."""
    target = tmp_path / "some-dir"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    repo = env.new_repo()
    value = "false" if chunked == "false" else '"auto"'
    toml = f'[remote.origin]\nurl = "{target}"\nchunked = {value}\n'
    write(repo / ".gitdata.toml", toml.encode())
    random_file(repo / "a.bin", 100_000)
    write(repo / "sub/b.bin", b"b")
    env.commit_all(repo)
    env.git("remote", "add", "origin", str(env.bare()), cwd=repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    out = env.data("env", cwd=repo).stdout.decode()
    assert f"cache: {repo / '.git' / 'data' / 'objects'}" in out
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert "keep.txt" in files
    files.remove("keep.txt")
    if chunked == "auto":  # two small files: one pack, FORMAT, the manifest, nothing else
        assert len(files) == 3 and all(is_key(f) for f in files), files
        assert "chunked/v1/FORMAT" in files and sum("/packs/" in f for f in files) == 1
        return
    assert len(files) == 3
    manifests = [f for f in files if f.startswith("chunked/")]
    assert len(manifests) == 1 and is_key(manifests[0]), manifests
    for f in files:
        if f in manifests:
            continue
        a, b, name = f.split("/")
        assert len(name) == 32 and name.startswith(a + b), f


def test_gitattributes_tracking_everything_leaves_the_config_files_alone(env):
    """A committed `* filter=data`: .gitattributes and .gitdata.toml stay text in git, a clone
    checks them out as they are, and the data files round-trip."""
    repo = env.new_repo(track="*")
    write(repo / ".gitdata.toml", b'[remote.x]\nurl = "s3://bucket"\n')
    write(repo / "a.bin", b"data")
    env.commit_all(repo)
    for name in (".gitattributes", ".gitdata.toml"):
        assert (
            env.git("cat-file", "blob", f"HEAD:{name}", cwd=repo).stdout
            == (repo / name).read_bytes()
        )
    bare = env.bare()
    env.git("push", "-q", str(bare), "main", cwd=repo)
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name in (".gitattributes", ".gitdata.toml", "a.bin"):
        assert (clone / name).read_bytes() == (repo / name).read_bytes(), name
    assert env.out("status", "--porcelain", cwd=clone) == ""
