"""The core loop against S3: push through the pre-push hook, clone, fetch, with a real S3-API
server (moto) on 127.0.0.1 and real git; bytes and keys are checked on the server."""

from __future__ import annotations

import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import Env, random_file, same_file, write
from s3_fixtures import S3, s3_project

from gitdata.pointer import parse
from gitdata.storage import key_for

PREFIX = "team/project"


def oid_of(env: Env, repo: Path, path: str, rev: str = "HEAD") -> str:
    p = parse(env.git("cat-file", "blob", f"{rev}:{path}", cwd=repo).stdout)
    assert p is not None, path
    return p.oid


def s3_repo(env: Env, s3: S3, prefix: str = PREFIX) -> tuple[Path, Path]:
    """A repository whose committed .gitdata.toml sends origin's bytes to s3://bucket/prefix
    as whole objects, and an empty bare repository on disk as origin."""
    # whole objects: this file checks their keys and request counts (the chunked store on S3:
    # test_chunked_write.py, test_chunked_read.py, test_faults_s3.py)
    return s3_project(env, s3.url(prefix), s3.endpoint, "false")


def stored(env: Env, s3: S3, repo: Path, paths: list[str], prefix: str = PREFIX) -> list[str]:
    return sorted(f"{prefix}/{key_for(oid_of(env, repo, p))}" for p in paths)


def whole_keys(s3: S3, prefix: str = "") -> list[str]:
    """The bucket's keys but the chunked store's (every push writes a manifest under
    chunked/v1/manifests/: docs/chunked-store.md, 4.8)."""
    return [k for k in s3.keys(prefix) if "/chunked/" not in f"/{k}"]


def test_push_puts_objects_under_the_prefix_and_nothing_in_the_bare_repo(env, s3):
    repo, bare = s3_repo(env, s3)
    write(repo / "a.bin", b"alpha")
    write(repo / "d/b.bin", b"beta")
    random_file(repo / "c.bin", 3 << 20, seed=1)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    assert whole_keys(s3) == stored(env, s3, repo, ["a.bin", "d/b.bin", "c.bin"])
    assert not [p for p in (bare / "data").rglob("*") if p.is_file()]

    # nothing new: the store is asked, nothing is sent
    s3.clear_requests()
    env.git("commit", "-q", "--allow-empty", "-m", "empty", cwd=repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    assert not [r for r in s3.requests if r[0] in ("PUT", "POST")]

    # one new file: exactly its bytes go up, the ones already there are not sent again
    write(repo / "e.bin", b"epsilon")
    write(repo / "a2.bin", b"alpha")  # same bytes as a.bin: already in the store
    env.commit_all(repo, "more")
    s3.clear_requests()
    env.data("push", "origin", "--all", cwd=repo)
    puts = [p for m, p, _ in s3.requests if m == "PUT"]
    assert [p for p in puts if "/chunked/" not in p] == [
        f"/{s3.bucket}/{PREFIX}/{key_for(oid_of(env, repo, 'e.bin'))}"
    ]
    assert len([p for p in puts if "/chunked/v1/manifests/" in p]) == 1  # the push's manifest
    assert len(whole_keys(s3)) == 4


def test_a_first_push_of_many_small_files_costs_one_request_per_file_and_one_more(env, s3):
    repo, _ = s3_repo(env, s3)
    for i in range(50):
        write(repo / f"d/{i}.bin", b"small file %d\n" % i * 1000)
    env.commit_all(repo)
    s3.clear_requests()
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    # one ListObjectsV2 of the new prefix finds it empty (no HEAD per file, which made 101
    # requests), then one PutObject per file; and the store gc protocol (docs/chunked-store.md,
    # 4.8): a LIST of the run log before and after, one PutObject of the push's manifest
    assert Counter(m for m, _, _ in s3.requests) == {"GET": 3, "PUT": 51}
    assert len(whole_keys(s3, PREFIX)) == 50


def test_fresh_clone_restores_bytes_from_s3_reading_the_config_from_head(env, s3):
    repo, bare = s3_repo(env, s3)
    # '+' sorts before '.gitdata.toml': git checks this file out (and asks for its bytes) before
    # the config file is in the clone's work tree, so gitdata has to read it from HEAD.
    random_file(repo / "+early.bin", 500_000, seed=2)
    for i in range(20):
        write(repo / f"many/{i}.bin", b"file %d " % i * 100)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)

    clone = env.root / "clone"
    s3.clear_requests()
    env.git("clone", "-q", str(bare), str(clone))
    assert same_file(repo / "+early.bin", clone / "+early.bin")
    for i in range(20):
        assert (clone / f"many/{i}.bin").read_bytes() == b"file %d " % i * 100
    assert env.out("status", "--porcelain", cwd=clone) == ""
    # one request per object: a GET, no HEAD first; and one GET of the chunked store's FORMAT
    # (docs/chunked-store.md, 5.1), which is not there: so no listing, and the manifest the
    # push wrote (4.8) is not read
    asked = [(m, p) for m, p, _ in s3.requests if m in ("GET", "HEAD")]
    assert [p for m, p in asked if "/chunked/" in p] == [f"/{s3.bucket}/{PREFIX}/chunked/v1/FORMAT"]
    assert sorted(m for m, p in asked if "/chunked/" not in p) == ["GET"] * 21
    assert not (bare / "data").exists()

    # without a checkout the config exists only in HEAD; fetch still finds the store
    bare_clone = env.root / "no-checkout"
    env.git("clone", "-q", "--no-checkout", str(bare), str(bare_clone))
    assert not (bare_clone / ".gitdata.toml").exists()
    env.data("fetch", cwd=bare_clone)
    listing = env.data("ls-files", cwd=bare_clone).stdout.decode().splitlines()
    assert len(listing) == 22 and all(line.split()[1] == "*" for line in listing[:-1])
    assert listing[-1].startswith("21 files, ") and "not in the cache" not in listing[-1]


@pytest.mark.slow
def test_64_mib_goes_multipart_both_ways(env, s3):
    repo, bare = s3_repo(env, s3)
    random_file(repo / "big.bin", 64 << 20, seed=3)
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    key = f"{PREFIX}/{key_for(oid_of(env, repo, 'big.bin'))}"
    path = f"/{s3.bucket}/{key}"
    assert s3.client.head_object(Bucket=s3.bucket, Key=key)["ETag"].endswith('-4"')
    assert ("POST", f"{path}?uploads", 200) in s3.requests
    assert len([r for r in s3.requests if r[0] == "PUT" and "partNumber=" in r[1]]) == 4
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []

    s3.clear_requests()
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    assert same_file(repo / "big.bin", clone / "big.bin")
    assert env.out("status", "--porcelain", cwd=clone) == ""
    # the pointer gives the size: 4 ranged GETs, no GET or HEAD to learn it first
    gets = [status for method, p, status in s3.requests if method == "GET" and p == path]
    assert gets == [206, 206, 206, 206]
    assert not [r for r in s3.requests if r[0] == "HEAD"]


def test_git_config_url_wins_over_the_file(env, s3):
    repo, _ = s3_repo(env, s3, prefix="from-file")
    env.git("config", "data.remote.origin.url", s3.url("from-git-config"), cwd=repo)
    write(repo / "a.bin", b"alpha")
    env.commit_all(repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    # the file's endpoint_url still applies: git config overrides key by key
    assert whole_keys(s3) == stored(env, s3, repo, ["a.bin"], prefix="from-git-config")


def test_wrong_bytes_in_the_store_never_reach_the_cache(env, s3):
    repo, bare = s3_repo(env, s3)
    write(repo / "a.bin", b"the real bytes")
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    oid = oid_of(env, repo, "a.bin")
    s3.client.put_object(Bucket=s3.bucket, Key=f"{PREFIX}/{key_for(oid)}", Body=b"forged bytes!!")
    clone = env.root / "clone"
    proc = env.git("clone", str(bare), str(clone), check=False)
    err = proc.stderr.decode()
    assert "a.bin" in err and oid in err and s3.url(PREFIX) in err
    assert not list((clone / ".git" / "data" / "objects").rglob(oid))
    # git stops the checkout at the failed file: it is absent, never the forged bytes
    assert not (clone / "a.bin").exists() or (clone / "a.bin").read_bytes() != b"forged bytes!!"


# -- errors: one line naming the store and the cause, a hint, and the Git remote untouched ------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_credentials(env, s3, repo, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    return ["no AWS credentials", s3.url(PREFIX)]


def _access_denied(env, s3, repo, monkeypatch):
    import boto3

    iam = boto3.client("iam", endpoint_url=s3.endpoint, region_name="us-east-1")
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    s3.require_auth()  # a user with no policy may do nothing
    return ["access denied", s3.url(PREFIX)]


def _unknown_access_key(env, s3, repo, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
    s3.require_auth()  # the HEAD of b.bin is refused with no body: gitdata asks once more
    return ["access key id is unknown", "(InvalidAccessKeyId)", s3.url(PREFIX)]


def _wrong_secret(env, s3, repo, monkeypatch):
    import boto3

    iam = boto3.client("iam", endpoint_url=s3.endpoint, region_name="us-east-1")
    iam.create_user(UserName="someone")
    key = iam.create_access_key(UserName="someone")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)  # not key's: checked unprinted
    s3.require_auth()
    return ["secret access key does not match", "(SignatureDoesNotMatch)", s3.url(PREFIX)]


def _no_bucket(env, s3, repo, monkeypatch):
    env.git("config", "data.remote.origin.url", s3.url("x", bucket="no-such-bucket"), cwd=repo)
    return ["bucket 'no-such-bucket' does not exist", "s3://no-such-bucket/x"]


def _unreachable(env, s3, repo, monkeypatch):
    port = _closed_port()
    env.git("config", "data.remote.origin.endpointUrl", f"http://127.0.0.1:{port}", cwd=repo)
    return ["cannot connect", f"127.0.0.1:{port}", s3.url(PREFIX)]


def _invalid_url(env, s3, repo, monkeypatch):
    env.git("config", "data.remote.origin.url", "s3://not a bucket!/x", cwd=repo)
    return ["data.remote.origin.url", "s3://not a bucket!/x", "not a valid S3 URL"]


@pytest.mark.parametrize(
    "breakage",
    [_no_credentials, _access_denied, _unknown_access_key, _wrong_secret, _no_bucket, _unreachable,
     _invalid_url],
)  # fmt: skip
def test_store_errors_stop_the_push_with_one_line(env, s3, monkeypatch, breakage):
    repo, bare = s3_repo(env, s3)
    write(repo / "a.bin", b"first")
    env.commit_all(repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    before = env.head(bare, "main")
    write(repo / "b.bin", b"second")
    env.commit_all(repo, "second")

    words = breakage(env, s3, repo, monkeypatch)
    start = time.monotonic()
    proc = env.git("push", "origin", "main", cwd=repo, check=False)
    elapsed = time.monotonic() - start
    err = proc.stderr.decode()
    ours = [ln for ln in err.splitlines() if ln.startswith("git-data:")]
    assert proc.returncode != 0
    assert len(ours) == 1 and ours[0].startswith("git-data: error: "), err
    lines = err.splitlines()
    assert lines[lines.index(ours[0]) + 1].startswith("hint: "), err
    for w in words:
        assert w in ours[0], (w, err)
    assert "Traceback" not in err
    assert s3.secret_key not in err + proc.stdout.decode()
    assert env.head(bare, "main") == before
    assert elapsed < 30, elapsed  # an unreachable endpoint is a bounded wait, not a hang
