from __future__ import annotations

import json

from conftest import write


def test_ls_files_text_long_and_json(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"alpha")
    write(repo / "dir/b.bin", b"beta!")
    write(repo / "plain.txt", b"not data")
    env.commit_all(repo)
    lines = env.data("ls-files", cwd=repo).stdout.decode().splitlines()
    assert [ln.split(" ", 2)[1:] for ln in lines] == [["*", "a.bin"], ["*", "dir/b.bin"]]
    long = env.data("ls-files", "--long", cwd=repo).stdout.decode()
    assert "xxh128:" in long and " 5 a.bin" in long
    doc = json.loads(env.data("ls-files", "--json", cwd=repo).stdout)
    assert [d["path"] for d in doc] == ["a.bin", "dir/b.bin"]
    assert doc[0]["oid"].startswith("xxh128:") and doc[0]["size"] == 5 and doc[0]["cached"] is True
    write(repo / "a.bin", b"alpha v2")
    env.commit_all(repo, "v2")
    assert len(json.loads(env.data("ls-files", "--json", cwd=repo).stdout)) == 2
    assert len(json.loads(env.data("ls-files", "--all", "--json", cwd=repo).stdout)) == 3


def test_status_and_pointer(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"alpha")
    env.commit_all(repo)
    doc = json.loads(env.data("status", "--json", cwd=repo).stdout)
    assert [d["path"] for d in doc["to_push"]] == ["a.bin"] and doc["pointers"] == []
    ptr = env.data("pointer", str(repo / "a.bin"), cwd=repo).stdout
    assert ptr == env.git("cat-file", "blob", "HEAD:a.bin", cwd=repo).stdout


def test_env_shows_stores(env):
    repo = env.new_repo()
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("remote", "add", "web", "https://example.com/x.git", cwd=repo)
    doc = json.loads(env.data("env", "--json", cwd=repo).stdout)
    assert doc["git_remotes"]["origin"]["store"] == str(bare / "data" / "objects")
    assert "no data remote" in doc["git_remotes"]["web"]["error"]
    assert doc["cache"] == str(repo / ".git" / "data" / "objects")
    text = env.data("env", cwd=repo).stdout.decode()
    assert "git remote origin ->" in text


def test_env_sees_the_installed_filter(env):
    repo = env.new_repo()
    doc = json.loads(env.data("env", "--json", cwd=repo).stdout)
    assert doc["filter"] == "git-data filter-process"
    env.data("install", "--skip-smudge")
    doc = json.loads(env.data("env", "--json", cwd=repo).stdout)
    assert doc["filter"] == "git-data filter-process --skip-smudge"


def test_identical_files_are_each_listed(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"same bytes")
    write(repo / "copy/a.bin", b"same bytes")
    env.commit_all(repo)
    doc = json.loads(env.data("ls-files", "--json", cwd=repo).stdout)
    assert [d["path"] for d in doc] == ["a.bin", "copy/a.bin"]
    assert doc[0]["oid"] == doc[1]["oid"]
