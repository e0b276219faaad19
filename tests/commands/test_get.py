"""`git data get` and `git data ls`: files of another repository, read without cloning it, from
a bare repository on disk (its embedded store) or one whose .gitdata.toml names an S3 store,
through real git and a real S3-API server; bytes verified before anything is written."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from conftest import Env, random_file, write
from s3_fixtures import S3

from gitdata.pointer import parse
from gitdata.storage import key_for


def oid_of(env: Env, repo: Path, path: str, rev: str = "HEAD") -> str:
    p = parse(env.git("cat-file", "blob", f"{rev}:{path}", cwd=repo).stdout)
    assert p is not None, path
    return p.oid


def registry(env: Env, name: str = "registry", *, whole: bool = False) -> tuple[Path, Path]:
    """A repository with data files, files stored in Git (one over 1 KiB, which the first fetch
    leaves out), an executable and a symbolic link, tagged v1 then changed; pushed with its
    bytes to `<name>.git` on disk, whose embedded store holds them (chunked, the default for a
    new store; with `whole`, as whole objects)."""
    repo = env.new_repo(name)
    if whole:
        env.git("config", "data.chunked", "false", cwd=repo)
    write(repo / "a.bin", b"alpha v1")
    write(repo / "data/b.bin", b"beta")
    random_file(repo / "data/deep/c.bin", 300_000, seed=2)
    write(repo / "data/notes.txt", b"not data\n")
    random_file(repo / "data/plain.dat", 5000, seed=3)
    write(repo / "data/run.sh", b"#!/bin/sh\necho hi\n")
    os.chmod(repo / "data/run.sh", 0o755)
    os.symlink("notes.txt", repo / "data/link")
    env.commit_all(repo, "v1")
    env.git("tag", "v1", cwd=repo)
    write(repo / "a.bin", b"alpha v2")
    env.commit_all(repo, "v2")
    bare = env.bare(f"{name}.git")
    env.git("push", "-q", str(bare), "main", "--tags", cwd=repo)
    return repo, bare


@pytest.fixture
def outside(env: Env, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory in no repository to run from, and a TMPDIR of its own to see cleaned up."""
    work = env.root / "work"
    work.mkdir()
    tmp = env.root / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    return work


def leftovers(*dirs: Path) -> list[str]:
    """Temporary directories of ours still there: a staging directory beside the output, the
    temporary repository in TMPDIR."""
    return [p.name for d in dirs for p in d.iterdir() if p.name.startswith((".git-data-get-",
            "git-data-get-"))]  # fmt: skip


def test_get_a_file_and_a_folder_from_a_bare_repository(env, outside):
    # whole objects: the store's object is compared with the user's file by inode (chunked:
    # test_get_from_a_chunked_store)
    repo, bare = registry(env, whole=True)
    env.data("get", str(bare), "a.bin", cwd=outside)
    assert (outside / "a.bin").read_bytes() == b"alpha v2"
    oid = oid_of(env, repo, "data/deep/c.bin")
    stored = bare / "data" / "objects" / oid[:2] / oid[2:4] / oid
    proc = env.data("get", str(bare), "data/", cwd=outside)
    err = proc.stderr.decode()
    assert "wrote data: 6 file(s)" in err and str(bare / "data" / "objects") in err, err
    out = outside / "data"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "b.bin", "deep", "deep/c.bin", "link", "notes.txt", "plain.dat", "run.sh"
    ]  # fmt: skip
    for name in ("b.bin", "deep/c.bin", "notes.txt", "plain.dat", "run.sh"):
        assert (out / name).read_bytes() == (repo / "data" / name).read_bytes(), name
    assert os.readlink(out / "link") == "notes.txt"
    assert stat.S_IMODE((out / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "b.bin").stat().st_mode) == 0o644
    # the user's file is its own: never a hard link to the store's object
    c = (out / "deep/c.bin").stat()
    assert c.st_nlink == 1 and c.st_ino != stored.stat().st_ino
    assert stat.S_IMODE(stored.stat().st_mode) == 0o444
    assert leftovers(outside, env.root / "tmp") == []


def test_ls_lists_data_and_git_files_with_their_sizes(env, outside):
    repo, bare = registry(env)
    b = oid_of(env, repo, "data/b.bin")
    c = oid_of(env, repo, "data/deep/c.bin")
    lines = env.data("ls", str(bare), "data", cwd=outside).stdout.decode().splitlines()
    assert lines == [
        f"{b[:10]}  data        4 B  data/b.bin",
        f"{c[:10]}  data  293.0 KiB  data/deep/c.bin",
        "-           link        9 B  data/link",
        "-           file        9 B  data/notes.txt",
        "-           file    4.9 KiB  data/plain.dat",
        "-           file       18 B  data/run.sh",
        "6 files, 297.9 KiB (2 data, 293.0 KiB)",
    ]
    doc = json.loads(env.data("ls", str(bare), "--json", "--rev", "v1", cwd=outside).stdout)
    assert doc["rev"] == "v1" and doc["commit"] == env.head(repo, "v1")
    files = {f["path"]: f for f in doc["files"]}
    assert sorted(files) == [
        ".gitattributes", "a.bin", "data/b.bin", "data/deep/c.bin", "data/link",
        "data/notes.txt", "data/plain.dat", "data/run.sh",
    ]  # fmt: skip
    assert files["a.bin"] == {
        "path": "a.bin",
        "type": "data",
        "oid": f"xxh128:{oid_of(env, repo, 'a.bin', 'v1')}",
        "size": 8,
        "executable": False,
    }
    assert files["data/plain.dat"]["size"] == 5000 and files["data/plain.dat"]["oid"] is None
    assert files["data/run.sh"]["executable"] is True
    one = env.data("ls", str(bare), "a.bin", cwd=outside).stdout.decode().splitlines()
    assert len(one) == 2 and one[0].endswith("  data  8 B  a.bin")
    assert leftovers(env.root / "tmp") == []


def test_ls_json_of_a_name_that_is_not_utf8(env, outside):
    repo = env.new_repo()
    name = b"caf\xe9.bin"
    write(repo / os.fsdecode(name), b"latin-1 name")
    env.commit_all(repo)
    bare = env.bare()
    env.git("push", "-q", str(bare), "main", cwd=repo)
    doc = json.loads(env.data("ls", str(bare), "--json", cwd=outside).stdout)
    (f,) = [f for f in doc["files"] if "path_base64" in f]
    assert base64.b64decode(f["path_base64"]) == name and f["type"] == "data"
    assert '"caf\\351.bin"' in env.data("ls", str(bare), cwd=outside).stdout.decode()
    # and the same name, given as bytes on the command line, is got
    env.data("get", str(bare), os.fsdecode(name), cwd=outside)
    assert (outside / os.fsdecode(name)).read_bytes() == b"latin-1 name"


def test_rev_and_out(env, outside):
    repo, bare = registry(env)
    v1 = env.head(repo, "v1")
    env.data("get", str(bare), "a.bin", "--rev", "v1", "-o", "old.bin", cwd=outside)
    assert (outside / "old.bin").read_bytes() == b"alpha v1"
    env.data("get", f"file://{bare}", "a.bin", "--rev", v1, "-o", "by-commit.bin", cwd=outside)
    assert (outside / "by-commit.bin").read_bytes() == b"alpha v1"
    # -o an existing directory: the file or folder goes in it, under its own name
    (outside / "into").mkdir()
    env.data("get", str(bare), "a.bin", "-o", "into", cwd=outside)
    env.data("get", str(bare), "data/deep", "-o", str(outside / "into"), cwd=outside)
    assert (outside / "into/a.bin").read_bytes() == b"alpha v2"
    assert (outside / "into/deep/c.bin").stat().st_size == 300_000
    # a relative URL is taken from where the command runs
    env.data("get", os.path.relpath(bare, outside), ".", "-o", "all", cwd=outside)
    assert (outside / "all/data/b.bin").read_bytes() == b"beta"
    env.data("get", str(bare), ".", cwd=outside)  # the repository's name, less .git
    assert (outside / "registry/a.bin").read_bytes() == b"alpha v2"

    # an existing destination is never replaced
    for path, dest in (("a.bin", "old.bin"), ("data", "all"), ("a.bin", "into")):
        proc = env.data("get", str(bare), path, "-o", dest, cwd=outside, check=False)
        assert proc.returncode == 1, proc.stderr
        assert b"already exists" in proc.stderr and b"Traceback" not in proc.stderr
    assert (outside / "old.bin").read_bytes() == b"alpha v1"
    proc = env.data("get", str(bare), "a.bin", "-o", "no/such/dir/x", cwd=outside, check=False)
    assert proc.returncode == 1 and b"no/such/dir is not a directory" in proc.stderr
    assert leftovers(outside, outside / "into", env.root / "tmp") == []


def test_errors_say_what_is_wrong_and_write_nothing(env, outside):
    repo, bare = registry(env)
    cases = [
        (["get", str(bare), "nope.bin"], "'nope.bin' is not in"),
        (["ls", str(bare), "data/nope"], "'data/nope' is not in"),
        (["get", str(bare), "a.bin", "--rev", "v9"], "has no revision 'v9'"),
        (["get", str(bare), "a.bin", "--rev", "main~1"], "'main~1' is not a branch, tag or"),
        (["get", str(bare), "a.bin", "--rev", "--upload-pack=touch x"], "is not a branch"),
        (["ls", str(env.root / "nowhere.git")], "cannot read the repository"),
        (["ls", str(env.bare("empty.git"))], "has no HEAD"),
    ]
    for args, words in cases:
        proc = env.data(*args, cwd=outside, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1, (args, err)
        assert err.startswith("git-data: error: ") and words in err, (args, err)
        assert "\nhint: " in err and "Traceback" not in err
    assert list(outside.iterdir()) == [] and leftovers(env.root / "tmp") == []


def test_credentials_in_the_url_are_never_printed(env, outside):
    url = "https://someone:s3cr3t-T0KEN@127.0.0.1:9/team/registry.git"
    for cmd in (["ls", url], ["get", url, "a.bin"]):
        proc = env.data(*cmd, cwd=outside, check=False, env={"GIT_TERMINAL_PROMPT": "0"})
        err = proc.stderr.decode()
        assert proc.returncode == 1 and "cannot read the repository" in err, err
        assert "s3cr3t" not in err and "https://***@127.0.0.1:9/team/registry.git" in err, err


def test_bytes_that_do_not_verify_or_are_missing_leave_no_output(env, outside):
    # whole objects, damaged in the store (packs: test_a_damaged_or_missing_pack_leaves_no_output)
    repo, bare = registry(env, whole=True)
    oid = oid_of(env, repo, "data/deep/c.bin")
    obj = bare / "data" / "objects" / oid[:2] / oid[2:4] / oid
    good = obj.read_bytes()
    obj.unlink()  # a hard link to the repository's cache: replaced, not edited
    obj.write_bytes(b"x" + good[1:])
    for path in ("data/deep/c.bin", "data"):
        proc = env.data("get", str(bare), path, cwd=outside, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and "Traceback" not in err, err
        assert f"cannot get the bytes of 1 file(s) from {bare / 'data' / 'objects'}:" in err
        assert f"data/deep/c.bin (xxh128:{oid}): bytes received for xxh128:{oid} hash to" in err
        assert list(outside.iterdir()) == [], err
    obj.unlink()
    proc = env.data("get", str(bare), "data", cwd=outside, check=False)
    assert proc.returncode == 1 and b"does not have xxh128:" + oid.encode() in proc.stderr
    assert list(outside.iterdir()) == [] and leftovers(env.root / "tmp") == []
    # the files stored in Git need no store
    env.data("get", str(bare), "data/notes.txt", cwd=outside)
    assert (outside / "notes.txt").read_bytes() == b"not data\n"


def test_a_repository_without_gitdata_is_still_listed_and_got(env, outside):
    repo = env.new_repo("plain", track=None)
    write(repo / "README", b"hello\n")
    random_file(repo / "src/big.dat", 200_000, seed=5)
    env.commit_all(repo)
    bare = env.bare("plain.git")
    env.git("push", "-q", str(bare), "main", cwd=repo)
    lines = env.data("ls", str(bare), cwd=outside).stdout.decode().splitlines()
    assert lines == [
        "-  file        6 B  README",
        "-  file  195.3 KiB  src/big.dat",
        "2 files, 195.3 KiB",
    ]
    env.data("get", str(bare), "src", cwd=outside)
    assert (outside / "src/big.dat").read_bytes() == (repo / "src/big.dat").read_bytes()


def test_the_repository_it_runs_in_is_not_used(env, outside):
    """Inside another repository: its config (a data remote that would break the download) and
    its cache play no part, and nothing is written there but OUT."""
    _, bare = registry(env)
    here = env.new_repo("here")
    env.git("config", "data.remote.origin.url", str(env.root / "no-such-store"), cwd=here)
    env.git("remote", "add", "origin", str(env.root / "elsewhere.git"), cwd=here)
    env.data("get", str(bare), "data/deep/c.bin", cwd=here)
    assert (here / "c.bin").stat().st_size == 300_000
    assert not (here / ".git" / "data" / "objects").exists() or not [
        p for p in (here / ".git" / "data" / "objects").rglob("*") if p.is_file()
    ]
    # a hook runs with GIT_DIR set: still the other repository, and still OUT only
    env.data("get", str(bare), "a.bin", cwd=here, env={"GIT_DIR": str(here / ".git")})
    assert (here / "a.bin").read_bytes() == b"alpha v2"


def test_a_server_without_filters_and_a_store_named_by_the_user(env, outside):
    """Through a transport that runs the other side's upload-pack as it is configured (no
    filters: git sends every blob of the commit instead), from a URL that is not a local path:
    no embedded store, so the data files need a store the repository or the user names."""
    repo, bare = registry(env)
    env.git("config", "--global", "protocol.ext.allow", "always")
    url = f"ext::git %s {bare}"
    doc = json.loads(env.data("ls", url, "data/plain.dat", "--json", cwd=outside).stdout)
    assert doc["files"][0]["size"] == 5000
    proc = env.data("get", url, "data", cwd=outside, check=False)
    assert proc.returncode == 1 and b"names no store for its data files" in proc.stderr
    assert list(outside.iterdir()) == []
    store = f"data.remote.origin.url={bare / 'data' / 'objects'}"
    env.run(["git", "-c", store, "data", "get", url, "data"], cwd=outside)
    assert (outside / "data/deep/c.bin").read_bytes() == (repo / "data/deep/c.bin").read_bytes()
    assert (outside / "data/plain.dat").read_bytes() == (repo / "data/plain.dat").read_bytes()


# --- S3 -------------------------------------------------------------------------------------


def s3_registry(env: Env, s3: S3, prefix: str = "reg", *, whole: bool = False) -> tuple[Path, Path]:
    repo = env.new_repo("s3reg")
    toml = f'[remote.origin]\nurl = "{s3.url(prefix)}"\nendpoint_url = "{s3.endpoint}"\n'
    write(repo / ".gitdata.toml", (toml + ("chunked = false\n" if whole else "")).encode())
    write(repo / "m/a.bin", b"alpha")
    random_file(repo / "m/big.bin", 2 << 20, seed=7)
    write(repo / "m/README", b"models\n")
    env.commit_all(repo)
    bare = env.bare("s3reg.git")
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    return repo, bare


def test_get_from_a_repository_whose_store_is_s3(env, s3, outside):
    # whole objects: the exact GETs of each object, and a mirror made by copying one (packs:
    # test_get_from_a_chunked_store)
    repo, bare = s3_registry(env, s3, whole=True)
    assert not [p for p in (bare / "data").rglob("*") if p.is_file()]  # the bytes are in S3
    s3.clear_requests()
    proc = env.data("get", str(bare), "m", cwd=outside)
    assert f"downloaded from {s3.url('reg')}" in proc.stderr.decode()
    for name in ("a.bin", "big.bin", "README"):
        assert (outside / "m" / name).read_bytes() == (repo / "m" / name).read_bytes()
    gets = sorted(p for m, p, _ in s3.requests if m == "GET")
    # each object, and FORMAT's 404: the reader asks first whether the store keeps packs
    assert gets == sorted(
        [f"/{s3.bucket}/reg/{key_for(oid_of(env, repo, f'm/{n}'))}" for n in ("a.bin", "big.bin")]
        + [f"/{s3.bucket}/reg/chunked/v1/FORMAT"]
    )
    env.data("get", str(bare), "m/big.bin", "-o", "one.bin", cwd=outside)
    assert (outside / "one.bin").read_bytes() == (repo / "m/big.bin").read_bytes()

    # the user's git config wins over the file, key by key (the endpoint stays the file's)
    oid = oid_of(env, repo, "m/a.bin")
    s3.client.copy_object(
        Bucket=s3.bucket, Key=f"mirror/{key_for(oid)}", CopySource=f"{s3.bucket}/reg/{key_for(oid)}"
    )
    s3.clear_requests()
    env.git("config", "--global", "data.remote.origin.url", s3.url("mirror"))
    env.data("get", str(bare), "m/a.bin", "-o", "mirrored.bin", cwd=outside)
    assert (outside / "mirrored.bin").read_bytes() == b"alpha"
    assert [p for m, p, _ in s3.requests if m == "GET"] == [
        f"/{s3.bucket}/mirror/chunked/v1/FORMAT",
        f"/{s3.bucket}/mirror/{key_for(oid)}",
    ]


def test_forged_or_missing_bytes_in_s3_leave_no_output(env, s3, outside):
    # whole objects forged and deleted (packs: test_a_damaged_or_missing_pack_leaves_no_output)
    repo, bare = s3_registry(env, s3, whole=True)
    oid = oid_of(env, repo, "m/big.bin")
    s3.client.put_object(Bucket=s3.bucket, Key=f"reg/{key_for(oid)}", Body=b"forged bytes!!")
    proc = env.data("get", str(bare), "m", cwd=outside, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert f"cannot get the bytes of 1 file(s) from {s3.url('reg')}" in err
    assert f"m/big.bin (xxh128:{oid}): " in err and "hash to" in err, err
    s3.client.delete_object(Bucket=s3.bucket, Key=f"reg/{key_for(oid)}")
    proc = env.data("get", str(bare), "m/big.bin", cwd=outside, check=False)
    assert proc.returncode == 1 and f"does not have xxh128:{oid}" in proc.stderr.decode()
    assert list(outside.iterdir()) == [] and leftovers(env.root / "tmp") == []


# --- chunked stores (the default for a new store) ----------------------------------------


def packs_in(bare: Path) -> list[Path]:
    return sorted((bare / "data" / "objects" / "chunked" / "v1" / "packs").rglob("*.pack"))


def test_get_from_a_chunked_store(env, s3, outside):
    """Files a store keeps only in packs are rebuilt from them, verified, and the user's files
    are their own; from the embedded store and from S3."""
    repo, bare = registry(env)
    c = oid_of(env, repo, "data/deep/c.bin")
    assert packs_in(bare) and not (bare / "data" / "objects" / c[:2] / c[2:4] / c).exists()
    env.data("get", str(bare), "data", cwd=outside)
    for name in ("b.bin", "deep/c.bin", "notes.txt", "plain.dat", "run.sh"):
        assert (outside / "data" / name).read_bytes() == (repo / "data" / name).read_bytes()
    assert (outside / "data/deep/c.bin").stat().st_nlink == 1
    assert leftovers(outside, env.root / "tmp") == []

    repo, bare = s3_registry(env, s3)
    keys = [o["Key"] for o in s3.client.list_objects_v2(Bucket=s3.bucket)["Contents"]]
    assert keys and all(k.startswith("reg/chunked/v1/") for k in keys), keys
    s3.clear_requests()
    (outside / "s3").mkdir()
    env.data("get", str(bare), "m", "-o", "s3", cwd=outside)
    for name in ("a.bin", "big.bin", "README"):
        assert (outside / "s3/m" / name).read_bytes() == (repo / "m" / name).read_bytes()
    gets = [p for m, p, _ in s3.requests if m == "GET" and "list-type" not in p]
    assert gets and all(p.startswith(f"/{s3.bucket}/reg/chunked/v1/") for p in gets), gets
    assert any("/packs/" in p for p in gets), gets


def test_a_damaged_or_missing_pack_leaves_no_output(env, outside):
    repo, bare = registry(env)
    (pack,) = packs_in(bare)
    good = pack.read_bytes()
    blob = bytearray(good)
    blob[len(blob) // 2] ^= 1  # in c.bin's frames, most of the pack (files are in path order)
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(blob))
    for path in ("data/deep/c.bin", "data"):
        proc = env.data("get", str(bare), path, cwd=outside, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and "Traceback" not in err, err
        assert f"cannot get the bytes of 1 file(s) from {bare / 'data' / 'objects'}:" in err
        assert "data/deep/c.bin (xxh128:" in err and "corrupt frame in pack" in err, err
        assert list(outside.iterdir()) == [], err
    pack.unlink()
    proc = env.data("get", str(bare), "data", cwd=outside, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err and "cannot get the bytes" in err
    assert list(outside.iterdir()) == [] and leftovers(env.root / "tmp") == []


# --- hostile repositories -------------------------------------------------------------------


def commit_blob(env: Env, repo: Path, path: str, data: bytes, mode: str = "100644") -> None:
    """Stage `data` at `path` without our filter or the worktree (a link, a huge config)."""
    sha = env.git("hash-object", "-w", "--stdin", cwd=repo, input=data).stdout.decode().strip()
    env.git("update-index", "--add", "--cacheinfo", f"{mode},{sha},{path}", cwd=repo)


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize(
    "mode, data, words",
    [
        ("120000", b"/dev/zero", ".gitdata.toml is a symbolic link"),
        ("100644", b"#" * (1 << 20) + b"\n", ".gitdata.toml is larger than 1 MiB"),
        ("100644", b'[remote.o]\nurl = "s3://b"\nprofile = "admin"\n', "remote.o.profile"),
        ("100644", b'cachedir = "/tmp/elsewhere"\n', "unknown key 'cachedir'"),
        ("100644", b"\xff\xfe", ".gitdata.toml: not UTF-8"),
    ],
    ids=["symlink", "oversize", "credentials", "cachedir", "not-utf8"],
)
def test_a_hostile_gitdata_toml_is_refused(env, outside, mode, data, words):
    repo = env.new_repo("evil")
    write(repo / "a.bin", b"data")
    env.git("add", "-A", cwd=repo)
    commit_blob(env, repo, ".gitdata.toml", data, mode)
    env.git("commit", "-q", "-m", "evil", cwd=repo)
    bare = env.bare("evil.git")
    env.git("push", "-q", "--no-verify", str(bare), "main", cwd=repo)
    proc = env.data(
        "get", str(bare), "a.bin", cwd=outside, check=False, timeout=60, preexec_fn=_limit_memory
    )
    err = proc.stderr.decode()
    lines = [ln for ln in err.splitlines() if ln.startswith("git-data: error:")]
    assert proc.returncode == 1 and len(lines) == 1 and words in lines[0], err
    assert "Traceback" not in err and list(outside.iterdir()) == []
    assert not Path("/tmp/elsewhere").exists()
    # listing needs no store, so it does not read the file
    assert b"a.bin" in env.data("ls", str(bare), cwd=outside).stdout


@pytest.mark.parametrize("name", ["..", ".git", ".GIT"])
def test_a_tree_with_a_path_git_would_refuse_is_not_written(env, outside, name):
    """git's own fsck refuses such trees; a server need not, and `git mktree` makes them."""
    repo = env.new_repo("evil", track=None)
    sha = env.git("hash-object", "-w", "--stdin", cwd=repo, input=b"[core]\n").stdout.decode()
    inner = env.git("mktree", cwd=repo, input=f"100644 blob {sha.strip()}\tconfig\n".encode())
    top = env.git(
        "mktree", cwd=repo, input=f"040000 tree {inner.stdout.decode().strip()}\t{name}\n".encode()
    )
    sub = env.git(
        "mktree", cwd=repo, input=f"040000 tree {top.stdout.decode().strip()}\tsub\n".encode()
    )
    commit = env.git("commit-tree", "-m", "evil", sub.stdout.decode().strip(), cwd=repo)
    bare = env.bare("evil.git")
    env.git("push", "-q", str(bare), f"{commit.stdout.decode().strip()}:refs/heads/main", cwd=repo)
    proc = env.data("get", str(bare), "sub", cwd=outside, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "has a path gitdata will not write" in err, err
    assert list(outside.iterdir()) == [] and not (env.root / "config").exists()
