"""The diff driver: `git-data textconv FILE` and what `git diff`, `git log -p` and `git show` print
with it, bytes cached or not, and never a download."""

from __future__ import annotations

import os
import shutil
import sys

from conftest import random_file, write

ELLIPSIS = "\u2026"


def oid_at(env, repo, spec):
    """The bare oid of the pointer at `spec` (`REV:PATH`)."""
    return env.out("cat-file", "blob", spec, cwd=repo).split()[3].split(":")[1]


def line(oid, size, where="bytes present locally"):
    return f"gitdata: {size}, xxh128:{oid[:12]}{ELLIPSIS}, {where}"


def textconv(env, path, cwd):
    return env.data("textconv", str(path), cwd=cwd).stdout.decode()


def test_one_line_for_a_pointer_and_for_content(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"alpha")
    env.commit_all(repo)
    oid = oid_at(env, repo, "HEAD:a.bin")
    ptr = write(env.root / "pointer", env.git("cat-file", "blob", "HEAD:a.bin", cwd=repo).stdout)
    assert textconv(env, ptr, repo) == line(oid, "5 B") + "\n"
    # the bytes themselves (the worktree file) read as the same version
    assert textconv(env, repo / "a.bin", repo) == line(oid, "5 B") + "\n"
    cached = repo / ".git" / "data" / "objects" / oid[:2] / oid[2:4] / oid
    os.chmod(cached.parent, 0o755)
    cached.unlink()
    assert textconv(env, ptr, repo) == line(oid, "5 B", "not in the local cache") + "\n"
    # outside any repository nobody knows of a cache
    assert textconv(env, ptr, env.root) == line(oid, "5 B", "pointer") + "\n"
    # binary content is described, never printed; an empty file has no line (git keeps it empty)
    binary = write(env.root / "binary", b"\x00\xff\xfe" * 500 + b"\n" * 3)
    out = env.data("textconv", str(binary), cwd=repo).stdout
    assert out.startswith(b"gitdata: 1.5 KiB, xxh128:") and out.count(b"\n") == 1
    assert env.data("textconv", str(write(env.root / "empty", b"")), cwd=repo).stdout == b""


def test_big_content_is_known_from_the_stat_cache_or_described_by_size(env):
    repo = env.new_repo()
    random_file(repo / "big.bin", 5 << 20, seed=1)
    env.commit_all(repo)  # the clean filter hashed it and recorded its stat data
    oid = oid_at(env, repo, "HEAD:big.bin")
    assert textconv(env, repo / "big.bin", repo) == line(oid, "5.0 MiB") + "\n"
    # the answer comes from the stat cache, not from reading the file: a forged entry shows
    st = os.stat(repo / "big.bin")
    entry = repo / ".git" / "data" / "stat" / f"{st.st_dev:x}-{st.st_ino:x}"
    entry.write_text(entry.read_text().rsplit(" ", 1)[0] + " " + "0" * 32 + "\n")
    assert textconv(env, repo / "big.bin", repo) == line("0" * 32, "5.0 MiB") + "\n"
    # too big to hash for a diff line and unknown to the stat cache: its size only (a sparse
    # file, so this test writes nothing)
    with open(env.root / "huge", "wb") as f:
        f.truncate(300 << 20)
    assert textconv(env, env.root / "huge", repo) == (
        "gitdata: 300.0 MiB, not hashed (over 256.0 MiB), bytes present locally\n"
    )


def test_git_diff_log_and_show_print_the_line(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"version one")
    write(repo / "notes.txt", b"text stays text\n")
    env.commit_all(repo, "v1")
    v1 = oid_at(env, repo, "HEAD:a.bin")
    write(repo / "a.bin", b"version two, longer")
    env.commit_all(repo, "v2")
    v2 = oid_at(env, repo, "HEAD:a.bin")

    log = env.out("log", "-p", cwd=repo)
    assert "version gitdata/1" not in log
    assert f"-{line(v1, '11 B')}\n+{line(v2, '19 B')}\n" in log
    assert f"+{line(v1, '11 B')}\n" in log  # the first commit adds it
    assert "+text stays text" in log
    show = env.out("show", "HEAD", cwd=repo)
    assert f"-{line(v1, '11 B')}\n+{line(v2, '19 B')}\n" in show

    write(repo / "a.bin", b"version three, in the worktree")
    v3 = env.data("pointer", str(repo / "a.bin"), cwd=repo).stdout.split()[3].decode()[7:]
    worktree = env.out("diff", cwd=repo)
    assert f"-{line(v2, '19 B')}\n+{line(v3, '30 B')}\n" in worktree
    env.git("add", "a.bin", cwd=repo)
    assert f"-{line(v2, '19 B')}\n+{line(v3, '30 B')}\n" in env.out("diff", "--cached", cwd=repo)


def test_log_p_and_show_never_download(env):
    repo = env.new_repo()
    write(repo / "a.bin", b"version one")
    env.commit_all(repo, "v1")
    write(repo / "a.bin", b"version two")
    env.commit_all(repo, "v2")
    bare = env.bare()
    env.git("push", "-q", str(bare), "main", cwd=repo)  # the store (bare/data/objects) has both
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    objects = clone / ".git" / "data" / "objects"
    shutil.rmtree(objects, ignore_errors=True)
    v1, v2 = oid_at(env, clone, "HEAD~:a.bin"), oid_at(env, clone, "HEAD:a.bin")

    log = env.out("log", "-p", cwd=clone)
    assert f"-{line(v1, '11 B', 'not in the local cache')}\n" in log
    assert f"+{line(v2, '11 B', 'not in the local cache')}\n" in log
    assert "version gitdata/1" not in log
    assert line(v2, "11 B", "not in the local cache") in env.out("show", cwd=clone)
    # `git cat-file --filters` reads a blob the same way: the pointer, not a download
    assert env.git("cat-file", "--filters", "HEAD:a.bin", cwd=clone).stdout.startswith(
        b"version gitdata/1\n"
    )
    assert not any(p.is_file() for p in objects.rglob("*"))
    # checkouts still download: one git can delay, and `git checkout-index`, whose request
    # looks like a display read (the filter asks /proc which git command runs it)
    for command in (["checkout", "--", "a.bin"], ["checkout-index", "-f", "--", "a.bin"]):
        shutil.rmtree(objects, ignore_errors=True)
        os.remove(clone / "a.bin")
        env.git(*command, cwd=clone)
        assert (clone / "a.bin").read_bytes() == b"version two", command


def test_a_download_asked_while_the_store_opens_does_not_hang(env):
    """`git checkout-index` asks for a file git cannot delay: the filter waits for the store,
    which it opens in a thread, and must not hold the lock that thread takes as it ends (it
    did, and the checkout hung for good). The opening is slowed so the request comes first."""
    repo = env.new_repo()
    write(repo / "a.bin", b"the bytes")
    env.commit_all(repo)
    bare = env.bare()
    env.git("push", "-q", str(bare), "main", cwd=repo)
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone), env={"GIT_DATA_SKIP_SMUDGE": "1"})
    shutil.rmtree(clone / ".git" / "data" / "objects", ignore_errors=True)
    os.remove(clone / "a.bin")
    slow = {"GIT_DATA_TEST_SLOW_OPEN": "0.5"}
    env.git("checkout-index", "-f", "--", "a.bin", cwd=clone, env=slow, timeout=60)
    assert (clone / "a.bin").read_bytes() == b"the bytes"


def test_big_versions_stay_pointers_in_a_diff(env):
    """Above data.bigFileThreshold a diff gets the pointer even when the bytes are cached, and
    nothing is left for the post-checkout hook to write."""
    env.git("config", "--global", "data.bigfilethreshold", "1k")
    repo = env.new_repo()
    write(repo / "a.bin", b"1" * 2000)
    env.commit_all(repo, "v1")
    write(repo / "a.bin", b"2" * 3000)
    env.commit_all(repo, "v2")
    v1, v2 = oid_at(env, repo, "HEAD~:a.bin"), oid_at(env, repo, "HEAD:a.bin")
    log = env.out("log", "-p", cwd=repo)
    assert f"-{line(v1, '2.0 KiB')}\n+{line(v2, '2.9 KiB')}\n" in log
    assert not (repo / ".git" / "data" / "pending-checkout").exists()


def test_textconv_imports_little(env):
    """git runs it once per version shown: no settings, no stores, no filter machinery."""
    repo = env.new_repo()
    write(repo / "a.bin", b"alpha")
    env.commit_all(repo)
    ptr = write(env.root / "pointer", env.git("cat-file", "blob", "HEAD:a.bin", cwd=repo).stdout)
    code = (
        "import sys\n"
        "from gitdata.cli import main\n"
        f"main(['textconv', {str(ptr)!r}])\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('gitdata'))))\n"
    )
    out = env.run([sys.executable, "-c", code], cwd=repo).stdout.decode().splitlines()
    assert out[0].startswith("gitdata: 5 B, xxh128:")
    loaded = set(out[1].split())
    assert "gitdata.commands.textconv" in loaded
    heavy = {"gitdata.context", "gitdata.config", "gitdata.storage", "gitdata.filters",
             "gitdata.git.scan", "gitdata.sync", "gitdata.transfer"}  # fmt: skip
    assert not loaded & heavy, loaded & heavy
