"""`git data migrate import --from-dvc --rewrite` on histories made by the real DVC 3 and DVC 2.

The history, built once per DVC version: a text file with CRLF line ends changed in three
commits of main, a directory out (a subfolder, an empty file), an annotated tag, a branch that
changes the directory (a file changed, one added, one removed), a `dvc.lock` out; DVC's remote
holds every version (pushed at each commit). What the work tree held right after each
`dvc add` (what `dvc checkout` gives at that commit) is recorded per commit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xxhash
from conftest import random_file, write
from history_check import commit_map, files
from test_dvc import VERSIONS, _run, dvc_env, dvc_exe

from gitdata.pointer import parse as parse_pointer

DATA = ["data/train.csv", "data/images", "model.bin"]


def _snapshot(work: Path) -> dict[str, str]:
    found = {}
    for top in DATA:
        p = work / top
        for f in [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file()):
            found[f.relative_to(work).as_posix()] = f.read_bytes().hex()
    return found


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"dvc{v}")
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`work` (the project, DVC's cache full), `store` (its DVC remote), `expected.json`
    (commit -> path -> bytes in hex)."""
    dvc = dvc_exe(request.param)
    root = tmp_path_factory.mktemp(f"dvc{request.param}-history")
    (root / "home").mkdir()
    env = dvc_env(root)
    work = root / "work"
    expected: dict[str, dict[str, str]] = {}

    def git(*args: str) -> None:
        _run(["git", *args], work, env)

    def commit(message: str) -> None:
        git("add", "-A")
        git("commit", "-q", "-m", message)
        _run([dvc, "push", "-q"], work, env)  # DVC 2's `push --all-commits` fails with pygit2
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True)
        expected[head.stdout.decode().strip()] = _snapshot(work)

    _run(["git", "init", "-q", "-b", "main", str(work)], root, env)
    _run([dvc, "init", "-q"], work, env)
    _run([dvc, "remote", "add", "-q", "-d", "store", str(root / "store")], work, env)
    write(work / "data/train.csv", b"a,b\r\n1,2\r\n")
    random_file(work / "data/images/a.bin", 3000, seed=1)
    random_file(work / "data/images/big.bin", 2 << 20, seed=2)
    write(work / "data/images/sub/c.txt", b"hello\n")
    write(work / "data/images/empty.txt", b"")
    write(work / "README.md", b"a DVC project\n")
    _run([dvc, "add", "-q", "data/train.csv", "data/images"], work, env)
    commit("first data")
    write(work / "data/train.csv", b"a,b\r\n1,2\r\n3,4\r\n")
    _run([dvc, "add", "-q", "data/train.csv"], work, env)
    commit("more rows")
    git("tag", "-a", "v1", "-m", "release one\n\nwith a body")
    git("checkout", "-q", "-b", "exp")
    random_file(work / "data/images/a.bin", 4000, seed=7)
    random_file(work / "data/images/new.bin", 5000, seed=8)
    (work / "data/images/sub/c.txt").unlink()
    _run([dvc, "add", "-q", "data/images"], work, env)
    commit("experiment")
    git("checkout", "-q", "main")
    _run([dvc, "checkout", "-q", "--force"], work, env)
    write(work / "data/train.csv", b"a,b\r\n1,2\r\n3,4\r\n5,6\r\n")
    _run([dvc, "add", "-q", "data/train.csv"], work, env)
    code = "import random; open('model.bin','wb').write(random.Random(3).randbytes(70000))"
    _run([dvc, "stage", "add", "-q", "-n", "train", "-o", "model.bin",
          f'{sys.executable} -c "{code}"'], work, env)  # fmt: skip
    _run([dvc, "repro", "-q"], work, env)
    commit("third version, and a stage")
    (root / "expected.json").write_text(json.dumps(expected))
    return root


@pytest.fixture
def project(env, template: Path) -> Path:
    work = env.root / "work"
    shutil.copytree(template / "work", work, symlinks=True)
    return work


def expected_of(template: Path) -> dict[str, dict[str, bytes]]:
    raw = json.loads((template / "expected.json").read_text())
    return {c: {p: bytes.fromhex(h) for p, h in fs.items()} for c, fs in raw.items()}


def migrate(e, repo: Path, *args: str, **kw):
    return e.data("migrate", "import", "--from-dvc", "--rewrite", *args, cwd=repo, **kw)


def refs(env, repo: Path) -> str:
    return env.out("for-each-ref", "refs/heads", "refs/tags", cwd=repo)


def check_history(env, repo: Path, template: Path) -> None:
    """Every old commit's new commit holds what DVC gave at it, byte for byte, and no `.dvc`
    file; the branches and tags hold no `.dvc` file anywhere."""
    cmap = commit_map(repo)
    cache = repo / ".git" / "data" / "objects"
    for old, want in expected_of(template).items():
        tree = files(env, repo, cmap[old])
        data = {p.decode(): b for p, b in tree.items() if p.decode().startswith(("data/", "model"))}
        assert set(data) == set(want), old
        for path, content in want.items():
            blob = env.git("cat-file", "blob", data[path], cwd=repo).stdout
            if not content:
                assert blob == b""
                continue
            p = parse_pointer(blob)
            assert p is not None and p.oid == xxhash.xxh3_128_hexdigest(content), path
            assert (cache / p.oid[:2] / p.oid[2:4] / p.oid).read_bytes() == content
    for commit in env.out("rev-list", "--branches", "--tags", cwd=repo).split():
        names = env.out("ls-tree", "-r", "--name-only", commit, cwd=repo).split("\n")
        assert not [n for n in names if n.endswith(".dvc")], commit
        assert "data/.gitignore" not in names  # it held only DVC's lines
    attrs = env.out("show", "main:.gitattributes", cwd=repo).splitlines()
    assert "/data/images/** filter=data diff=data merge=data -text" in attrs
    assert "/data/train.csv filter=data diff=data merge=data -text" in attrs
    assert "/model.bin filter=data diff=data merge=data -text" in attrs


def test_every_commit_holds_what_dvc_checkout_gave(env, project, template):
    out = migrate(env, project, "--everything").stderr.decode()
    assert "rewrote refs/heads/exp, refs/heads/main, refs/tags/v1" in out
    check_history(env, project, template)
    assert env.out("status", "--porcelain", cwd=project) == ""
    assert (project / "data/train.csv").read_bytes() == b"a,b\r\n1,2\r\n3,4\r\n5,6\r\n"
    assert not (project / "data/train.csv.dvc").exists()
    tag = env.out("cat-file", "tag", "v1", cwd=project)
    assert tag.endswith("release one\n\nwith a body\n")
    assert env.out("rev-parse", "v1^{commit}", cwd=project) == env.out(
        "rev-parse", "main~1", cwd=project
    )
    backups = env.out("for-each-ref", "--format=%(refname)", "refs/gitdata/migrate-backup/",
                      cwd=project).split()  # fmt: skip
    assert "refs/gitdata/migrate-backup/heads/main" in backups
    env.data("fsck", "--all", cwd=project)
    # a second run changes nothing
    before = refs(env, project)
    out = migrate(env, project, "--everything").stderr.decode()
    assert "nothing to import" in out
    assert refs(env, project) == before


def test_push_and_a_fresh_clone_get_every_version(env, project, template):
    migrate(env, project, "--everything")
    bare = env.bare("origin.git")
    env.git("remote", "add", "origin", str(bare), cwd=project)
    env.git("push", "-q", "origin", "main", "exp", "v1", cwd=project)
    fresh = env.root / "fresh"
    env.git("clone", "-q", str(bare), str(fresh))
    want = expected_of(template)
    for branch, old in (("main", "main"), ("exp", "exp")):
        env.git("checkout", "-q", branch, cwd=fresh)
        old_tip = env.out("rev-parse", f"refs/gitdata/migrate-backup/heads/{old}", cwd=project)
        for path, content in want[old_tip.strip()].items():
            assert (fresh / path).read_bytes() == content, (branch, path)
        assert env.out("status", "--porcelain", cwd=fresh) == ""
    assert not (fresh / "data/images/sub/c.txt").exists()  # exp removed it
    env.data("fetch", "--all", cwd=fresh)  # every version was pushed
    env.data("fsck", "--all", cwd=fresh)


def test_bytes_come_from_the_dvc_remote(env, project, template):
    shutil.rmtree(project / ".dvc/cache")
    migrate(env, project, "--everything")
    check_history(env, project, template)


@pytest.mark.parametrize("point", ["converting", "dvc-gathered", "after-import"])
def test_a_killed_run_leaves_refs_and_a_rerun_finishes(env, project, template, point):
    before = refs(env, project)
    p = migrate(env, project, "--everything", env={"GIT_DATA_TEST_MIGRATE_KILL_AT": point},
                check=False)  # fmt: skip
    assert p.returncode == -9
    assert refs(env, project) == before
    migrate(env, project, "--everything")
    check_history(env, project, template)
    assert env.out("status", "--porcelain", cwd=project) == ""


def test_rewrite_goes_with_from_dvc_only(env, project):
    p = env.data("migrate", "import", "--rewrite", "--include", "*.bin", cwd=project, check=False)
    assert p.returncode == 2 or p.returncode == 1
    assert "--rewrite goes with --from-dvc" in p.stderr.decode()
    p = migrate(env, project, "--keep-remote", check=False)
    assert "--rewrite and --keep-remote cannot go together" in p.stderr.decode()
