from __future__ import annotations

import base64
import json
import os

from conftest import random_file, write


def test_ls_files_text_long_and_json(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"alpha")
    write(repo / "dir/b.bin", b"beta!")
    write(repo / "plain.txt", b"not data")
    env.commit_all(repo)
    doc = json.loads(env.data("ls-files", "--json", cwd=repo).stdout)
    assert [d["path"] for d in doc] == ["a.bin", "dir/b.bin"]
    assert doc[0]["oid"].startswith("xxh128:") and doc[0]["size"] == 5 and doc[0]["cached"] is True
    a, b = (d["oid"] for d in doc)
    lines = env.data("ls-files", cwd=repo).stdout.decode().splitlines()
    assert lines == [f"{a[7:17]}  *  5 B  a.bin", f"{b[7:17]}  *  5 B  dir/b.bin", "2 files, 10 B"]
    long = env.data("ls-files", "--long", cwd=repo).stdout.decode().splitlines()
    assert long[0] == f"{a}  *  5  5 B  a.bin" and long[-1] == "2 files, 10 B"
    write(repo / "a.bin", b"alpha v2")
    env.commit_all(repo, "v2")
    assert len(json.loads(env.data("ls-files", "--json", cwd=repo).stdout)) == 2
    assert len(json.loads(env.data("ls-files", "--all", "--json", cwd=repo).stdout)) == 3
    assert env.data("ls-files", "--all", cwd=repo).stdout.decode().splitlines()[-1] == (
        "3 objects, 18 B"
    )


def test_ls_files_sizes_people_read_aligned_with_a_total(env):
    repo = env.new_repo()
    write(repo / "small.bin", b"s" * 5)
    write(repo / "mid.bin", b"m" * 2048)
    random_file(repo / "large.bin", (3 << 20) // 2, seed=1)
    write(repo / os.fsdecode(b"caf\xe9.bin"), b"latin-1 name")
    env.commit_all(repo)
    doc = json.loads(env.data("ls-files", "--json", cwd=repo).stdout)
    by_name = {d.get("path_base64") or d["path"]: d for d in doc}
    raw = base64.b64encode(b"caf\xe9.bin").decode()
    assert base64.b64decode(by_name[raw]["path_base64"]) == b"caf\xe9.bin"
    oid = by_name["large.bin"]["oid"][7:]
    cached = repo / ".git" / "data" / "objects" / oid[:2] / oid[2:4] / oid
    os.chmod(cached.parent, 0o755)
    cached.unlink()
    lines = env.data("ls-files", cwd=repo).stdout.decode().splitlines()
    # git's order (bytes), git's quoting, sizes right-aligned
    assert [ln[10:] for ln in lines[:-1]] == [
        '  *     12 B  "caf\\351.bin"',
        "  -  1.5 MiB  large.bin",
        "  *  2.0 KiB  mid.bin",
        "  *      5 B  small.bin",
    ]
    assert lines[-1] == "4 files, 1.5 MiB (1 not in the cache, 1.5 MiB)"


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
