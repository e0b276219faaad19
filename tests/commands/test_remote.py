from __future__ import annotations

import json
import sys

import pytest
from conftest import write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def toml(repo):
    return tomllib.loads((repo / ".gitdata.toml").read_text())


def listing(env, repo):
    return json.loads(env.data("remote", "list", "--json", cwd=repo).stdout)


def test_add_writes_the_shared_file(env):
    repo = env.new_repo()
    env.data(
        "remote", "add", "origin", "s3://ml-datasets/project-x",
        "--endpoint-url", "http://127.0.0.1:9000", "--region", "us-east-1", "--default",
        cwd=repo,
    )  # fmt: skip
    assert toml(repo) == {
        "default": "origin",
        "remote": {
            "origin": {
                "url": "s3://ml-datasets/project-x",
                "endpoint_url": "http://127.0.0.1:9000",
                "region": "us-east-1",
            }
        },
    }
    env.data("remote", "add", "backup", "/srv/store", cwd=repo)
    assert toml(repo)["remote"]["backup"] == {"url": "/srv/store"}
    assert toml(repo)["default"] == "origin"
    rows = listing(env, repo)
    assert [(r["name"], r["default"], r["from"]) for r in rows] == [
        ("backup", False, [".gitdata.toml"]),
        ("origin", True, [".gitdata.toml"]),
    ]
    text = env.data("remote", "list", cwd=repo).stdout.decode()
    assert "* origin\ts3://ml-datasets/project-x endpoint_url=http://127.0.0.1:9000" in text


def test_add_refuses_duplicates_and_bad_values(env):
    repo = env.new_repo()
    env.data("remote", "add", "origin", "s3://bucket/x", cwd=repo)
    before = (repo / ".gitdata.toml").read_bytes()
    for args, words in [
        (["origin", "s3://other"], "already exists"),
        (["bad name", "s3://bucket"], "not a valid data remote name"),
        (["x", "s3://not a bucket"], "not a valid S3 URL"),
        (["x", "gs://bucket"], "unknown store URL"),
        (["x", "relative/dir"], "unknown store URL"),
        (["x", "s3://b", "--endpoint-url", "localhost:9000"], "--endpoint-url"),
    ]:
        proc = env.data("remote", "add", *args, cwd=repo, check=False)
        lines = proc.stderr.decode().splitlines()
        assert proc.returncode == 1, args
        assert lines[0].startswith("git-data: error: ") and words in lines[0], lines
        assert lines[1].startswith("hint: ") and len(lines) == 2
    assert (repo / ".gitdata.toml").read_bytes() == before


def test_remove_and_default(env):
    repo = env.new_repo()
    env.data("remote", "add", "origin", "s3://bucket/x", "--default", cwd=repo)
    env.data("remote", "add", "backup", "/srv/store", cwd=repo)
    env.data("remote", "default", "backup", cwd=repo)
    assert toml(repo)["default"] == "backup"
    assert env.data("remote", "default", cwd=repo).stdout == b"backup\n"
    env.data("remote", "remove", "backup", cwd=repo)
    assert toml(repo) == {"remote": {"origin": {"url": "s3://bucket/x"}}}  # default went too
    for args in (["remove", "nope"], ["default", "nope"]):
        proc = env.data("remote", *args, cwd=repo, check=False)
        assert proc.returncode == 1 and b"'nope'" in proc.stderr
    env.data("remote", "remove", "origin", cwd=repo)
    assert toml(repo) == {}


def test_local_writes_git_config_and_overrides_the_file(env):
    repo = env.new_repo()
    env.data("remote", "add", "origin", "s3://shared/x", "--region", "eu-west-1", cwd=repo)
    env.data(
        "remote", "add", "--local", "origin", "s3://mine/y",
        "--endpoint-url", "http://127.0.0.1:9", "--default",
        cwd=repo,
    )  # fmt: skip
    cfg = env.out("config", "--local", "--get-regexp", r"^data\.", cwd=repo)
    assert "data.remote.origin.url s3://mine/y" in cfg
    assert "data.remote.origin.endpointurl http://127.0.0.1:9" in cfg
    assert "data.default origin" in cfg
    assert toml(repo)["remote"]["origin"]["url"] == "s3://shared/x"  # the file is untouched
    (row,) = listing(env, repo)
    assert (row["url"], row["endpoint_url"], row["region"], row["from"]) == (
        "s3://mine/y",
        "http://127.0.0.1:9",
        "eu-west-1",  # from the file: git config overrides key by key
        [".gitdata.toml", "git config"],
    )
    proc = env.data("remote", "remove", "--local", "nope", cwd=repo, check=False)
    assert proc.returncode == 1
    env.data("remote", "remove", "--local", "origin", cwd=repo)
    assert (
        env.git("config", "--local", "--get-regexp", r"^data\.", cwd=repo, check=False).stdout
        == b""
    )
    (row,) = listing(env, repo)
    assert row["url"] == "s3://shared/x"


def test_default_in_the_file_must_be_defined_in_the_file(env):
    repo = env.new_repo()
    env.data("remote", "add", "--local", "mine", "/srv/mine", cwd=repo)
    proc = env.data("remote", "default", "mine", cwd=repo, check=False)
    assert proc.returncode == 1 and b"--local" in proc.stderr
    env.data("remote", "default", "--local", "mine", cwd=repo)
    assert env.out("config", "--local", "data.default", cwd=repo) == "mine\n"


def test_comments_lost_are_reported(env):
    repo = env.new_repo()
    write(repo / ".gitdata.toml", b'# our team store\n[remote.origin]\nurl = "s3://b/x"\n')
    proc = env.data("remote", "add", "backup", "/srv/store", cwd=repo)
    assert b"without its comments" in proc.stderr
    assert set(toml(repo)["remote"]) == {"origin", "backup"}


@pytest.mark.parametrize("chunked", ["false", "auto"])  # whole objects, or packs
def test_remote_add_then_push_to_s3(env, s3, chunked):
    repo = env.new_repo()
    env.git("config", "data.chunked", chunked, cwd=repo)
    env.data("remote", "add", "origin", s3.url("proj"), "--endpoint-url", s3.endpoint, cwd=repo)
    write(repo / "a.bin", b"alpha")
    env.commit_all(repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("push", "-q", "origin", "main", cwd=repo)
    whole = [k for k in s3.keys("proj/") if not k.startswith("proj/chunked/")]
    packs = [k for k in s3.keys("proj/chunked/v1/packs/")]
    assert (len(whole), len(packs)) == ((1, 0) if chunked == "false" else (0, 1))


def test_help(env):
    for args in (["remote"], ["remote", "add"], ["remote", "list"], ["remote", "remove"]):
        proc = env.data(*args, "-h")
        assert proc.stdout.startswith(b"usage: git data " + " ".join(args).encode())
    proc = env.data("remote", check=False)
    assert proc.returncode == 2 and proc.stderr.startswith(b"git-data: error: ")
