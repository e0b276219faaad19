"""`git data migrate import --from-dvc` on projects made by the real DVC 3 and DVC 2.

install.sh --test installs each into .dvc-venvs/dvc3 and .dvc-venvs/dvc2. One project per DVC
version is built once per module (DVC starts slowly) and copied for every test: a text file
with CRLF line ends (DVC 2 hashed it as LF), a directory out with a subfolder and a 5 MiB file,
a `dvc.lock` out made by `dvc stage add` + `dvc repro`, a local DVC remote the data was pushed
to. The originals are kept aside to compare bytes with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Env, random_file, write

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".dvc-venvs"
VERSIONS = [3, 2]

#: Every data file of the project, top-relative.
FILES = [
    "data/train.csv",
    "data/images/a.bin",
    "data/images/big.bin",
    "data/images/sub/c.txt",
    "data/images/empty.txt",
    "model.bin",
]


def dvc_exe(version: int) -> str:
    exe = VENVS / f"dvc{version}" / "bin" / "dvc"
    if not os.access(exe, os.X_OK):
        failed = VENVS / f"dvc{version}.failed"
        why = failed.read_text().strip() if failed.exists() else "not installed"
        pytest.skip(f"DVC {version} is not in {exe.parent.parent} ({why}): ./install.sh --test")
    return str(exe)


def dvc_env(root: Path) -> dict[str, str]:
    """An environment for running git and DVC by hand under `root` (HOME is `root/home`)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DVC_"))},
        "HOME": str(root / "home"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(root / "site-cache"),
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    p = subprocess.run(args, cwd=cwd, env=env, capture_output=True)
    assert p.returncode == 0, f"{args}: {p.stdout.decode()} {p.stderr.decode()}"


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"dvc{v}")
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed DVC project (`work`), its DVC remote (`store`), the original bytes
    (`originals`)."""
    version = request.param
    dvc = dvc_exe(version)
    root = tmp_path_factory.mktemp(f"dvc{version}")
    home = root / "home"
    home.mkdir()
    env = dvc_env(root)
    work = root / "work"
    _run(["git", "init", "-q", "-b", "main", str(work)], root, env)
    _run([dvc, "init", "-q"], work, env)
    write(work / "data/train.csv", b"a,b\r\n1,2\r\n3,4\r\n")
    random_file(work / "data/images/a.bin", 3000, seed=1)
    random_file(work / "data/images/big.bin", 5 << 20, seed=2)
    write(work / "data/images/sub/c.txt", b"hello\n")
    write(work / "data/images/empty.txt", b"")
    _run([dvc, "add", "-q", "data/train.csv", "data/images"], work, env)
    code = "import random; open('model.bin','wb').write(random.Random(3).randbytes(70000))"
    _run([dvc, "stage", "add", "-q", "-n", "train", "-o", "model.bin",
          f'{sys.executable} -c "{code}"'], work, env)  # fmt: skip
    _run([dvc, "repro", "-q"], work, env)
    _run([dvc, "remote", "add", "-q", "-d", "store", str(root / "store")], work, env)
    _run([dvc, "push", "-q"], work, env)
    _run(["git", "add", "-A"], work, env)
    _run(["git", "commit", "-q", "-m", "DVC project"], work, env)
    originals = root / "originals"
    for f in FILES:
        write(originals / f, (work / f).read_bytes())
    return root


@pytest.fixture
def project(env: Env, template: Path) -> Path:
    """A copy of the template's work tree (DVC cache and checked-out data included)."""
    work = env.root / "work"
    shutil.copytree(template / "work", work, symlinks=True)
    return work


@pytest.fixture
def clone(env: Env, template: Path) -> Path:
    """A fresh clone of the project: no DVC cache, no data, only the DVC remote has the bytes."""
    env.git("clone", "-q", str(template / "work"), str(env.root / "clone"))
    return env.root / "clone"


def migrate(e: Env, repo: Path, *args: str, **kw):
    return e.data("migrate", "import", "--from-dvc", *args, cwd=repo, **kw)


def assert_clean(env: Env, repo: Path) -> None:
    assert env.out("status", "--porcelain", cwd=repo) == ""


def assert_same_bytes(repo: Path, template: Path) -> None:
    for f in FILES:
        assert (repo / f).read_bytes() == (template / "originals" / f).read_bytes(), f


def test_file_directory_and_lock_outs_become_data_files(env, project, template):
    before = env.head(project)
    out = migrate(env, project).stderr.decode()
    assert "imported 6 file(s)" in out
    assert env.out("rev-parse", "HEAD~1", cwd=project).strip() == before
    assert_clean(env, project)
    assert_same_bytes(project, template)
    for f in FILES:
        blob = env.out("cat-file", "-p", f"HEAD:{f}", cwd=project)
        assert blob.startswith("version gitdata/1") or (f.endswith("empty.txt") and blob == "")
        assert not (project / f).is_symlink()
    assert not (project / "data/train.csv.dvc").exists()
    assert not (project / "data/images.dvc").exists()
    assert (project / "dvc.lock").exists() and (project / "dvc.yaml").exists()
    assert not (project / "data/.gitignore").exists()  # DVC made it; only DVC's lines were in it
    gitignore = project / ".gitignore"
    assert not gitignore.exists() or "/model.bin" not in gitignore.read_text()
    attrs = (project / ".gitattributes").read_text().splitlines()
    assert "/data/images/** filter=data diff=data merge=data -text" in attrs
    assert "/data/train.csv filter=data diff=data merge=data -text" in attrs
    assert "/model.bin filter=data diff=data merge=data -text" in attrs
    env.data("fsck", "--all", cwd=project)
    # taken from DVC's cache by a hard link, not a second copy
    objects = [p for p in (project / ".git/data/objects").rglob("*") if p.is_file()]
    assert len(objects) == len(FILES)
    assert all(p.stat().st_nlink == 2 for p in objects)
    # run twice: the second run finds nothing and changes nothing
    after = env.head(project)
    assert "nothing to import" in migrate(env, project).stderr.decode()
    assert env.head(project) == after
    assert_clean(env, project)


def test_push_and_a_fresh_clone_get_every_byte(env, project, template):
    migrate(env, project)
    bare = env.bare("origin.git")
    env.git("remote", "add", "origin", str(bare), cwd=project)
    env.git("push", "-q", "origin", "main", cwd=project)
    env.git("clone", "-q", str(bare), str(env.root / "fresh"))
    assert_same_bytes(env.root / "fresh", template)
    assert_clean(env, env.root / "fresh")
    env.data("fsck", "--all", cwd=env.root / "fresh")


def test_an_empty_cache_is_filled_from_the_dvc_remote(env, clone, template):
    assert not (clone / ".dvc/cache").exists() and not (clone / "model.bin").exists()
    migrate(env, clone)
    assert_same_bytes(clone, template)
    assert_clean(env, clone)
    env.data("fsck", "--all", cwd=clone)


def test_missing_bytes_are_listed_and_nothing_changes(env, clone):
    before = env.head(clone)
    empty = env.root / "empty-remote"
    empty.mkdir()
    p = migrate(env, clone, "--dvc-remote", str(empty), check=False)
    err = p.stderr.decode()
    assert p.returncode == 1
    assert "the bytes of 3 DVC file(s) are in neither" in err
    assert "data/images/ (the listing " in err and "model.bin (md5 " in err
    assert "dvc pull" in err and "--dvc-remote" in err
    assert env.head(clone) == before
    assert_clean(env, clone)
    assert (clone / "data/images.dvc").exists()


def test_a_file_changed_since_dvc_add_is_refused(env, project):
    (project / "data/train.csv").write_bytes(b"changed\n")
    p = migrate(env, project, check=False)
    assert p.returncode == 1
    assert "1 file(s) in the work tree differ from what DVC recorded" in p.stderr.decode()
    assert "data/train.csv" in p.stderr.decode()
    assert (project / "data/train.csv").read_bytes() == b"changed\n"


def test_links_into_dvc_cache_become_files(env, project, template):
    # what `dvc config cache.type symlink` (or hardlink) checks out
    (project / "data/images/a.bin").unlink()
    (project / "data/images/a.bin").symlink_to(_cached(project, template, "data/images/a.bin"))
    (project / "model.bin").unlink()
    os.link(_cached(project, template, "model.bin"), project / "model.bin")
    (project / "data/images/sub/c.txt").unlink()  # a link whose cache file was deleted
    (project / "data/images/sub/c.txt").symlink_to(project / ".dvc/cache/gone")
    migrate(env, project)
    assert not (project / "data/images/a.bin").is_symlink()
    assert not (project / "data/images/sub/c.txt").is_symlink()
    assert os.stat(project / "model.bin").st_nlink == 1
    assert_same_bytes(project, template)
    assert_clean(env, project)


def _cached(project: Path, template: Path, f: str) -> Path:
    want = (template / "originals" / f).read_bytes()
    return next(p for p in (project / ".dvc/cache").rglob("*") if p.is_file() and
                not p.name.endswith(".dir") and p.stat().st_size == len(want)
                and p.read_bytes() == want)  # fmt: skip


def test_refuses_a_dirty_worktree_and_a_merge_in_progress(env, project):
    (project / "dvc.yaml").write_text("stages: {}\n")
    p = migrate(env, project, check=False)
    assert p.returncode == 1 and "the worktree has changes" in p.stderr.decode()
    env.git("checkout", "-q", "--", "dvc.yaml", cwd=project)
    env.git("checkout", "-q", "-b", "other", cwd=project)
    write(project / "notes.txt", b"other\n")
    env.commit_all(project, "other")
    env.git("checkout", "-q", "main", cwd=project)
    write(project / "notes.txt", b"main\n")
    env.commit_all(project, "main")
    env.git("merge", "-q", "other", cwd=project, check=False)
    p = migrate(env, project, check=False)
    assert p.returncode == 1 and "a merge" in p.stderr.decode()
    assert len(p.stderr.decode().splitlines()) == 2  # the error and its hint


@pytest.mark.parametrize("point", ["dvc-gathered", "dvc-after-ref"])
def test_a_killed_run_is_finished_by_the_next(env, project, template, point):
    """SIGKILL with every byte in the cache but nothing else changed, and right after the
    branch moved (the work tree and index still at the old commit)."""
    before = env.head(project)
    p = migrate(env, project, env={"GIT_DATA_TEST_MIGRATE_KILL_AT": point}, check=False)
    assert p.returncode == -9
    moved = env.head(project) != before
    assert moved == (point == "dvc-after-ref")
    out = migrate(env, project).stderr.decode()
    assert ("finishing the import that was interrupted" in out) == moved
    assert env.out("rev-parse", "HEAD~1", cwd=project).strip() == before
    assert_clean(env, project)
    assert_same_bytes(project, template)
    assert not (project / "data/images.dvc").exists()
    env.data("fsck", "--all", cwd=project)


@pytest.mark.parametrize("chunked", ["false", "auto"])  # whole objects, or packs
def test_keep_remote_pushes_where_dvc_did(env, project, template, chunked):
    env.git("config", "data.chunked", chunked, cwd=project)
    # a DVC remote of this test's own (the template's is shared)
    shutil.copytree(template / "store", env.root / "store")
    config = (project / ".dvc/config").read_text()
    (project / ".dvc/config").write_text(config.replace(str(template), str(env.root)))
    env.commit_all(project, "DVC remote moved")
    migrate(env, project, "--keep-remote")
    toml = (project / ".gitdata.toml").read_text()
    store = env.root / "store" / "gitdata"
    assert 'default = "store"' in toml and str(store) in toml
    bare = env.bare("origin.git")
    env.git("remote", "add", "origin", str(bare), cwd=project)
    env.git("push", "-q", "origin", "main", cwd=project)
    pushed = [p for p in store.rglob("*") if p.is_file() and len(p.name) == 32]
    if chunked == "false":
        assert len(pushed) == len(FILES) - 1  # not the empty file
        return
    assert pushed == [] and list((store / "chunked/v1/packs").rglob("*.pack"))
    clone = env.root / "clone"
    env.git("clone", "-q", str(bare), str(clone))
    for name in FILES:
        assert (clone / name).read_bytes() == (project / name).read_bytes(), name


def test_include_chooses_outs_and_other_gitignore_lines_stay(env, project):
    with open(project / "data/.gitignore", "a") as f:
        f.write("*.tmp\n")
    env.commit_all(project, "ignore temporaries")
    migrate(env, project, "--include", "data/**")
    assert (project / "data/.gitignore").read_text() == "*.tmp\n"
    assert not (project / "data/images.dvc").exists()
    assert "/model.bin" not in (project / ".gitattributes").read_text()
    assert env.out("ls-files", "model.bin", cwd=project) == ""
    assert_clean(env, project)


def _s3_remote(repo: Path, template: Path, s3) -> None:
    """The template's DVC remote copied to S3 (moto), as DVC lays it out there, and named in
    `.dvc/config.local` (not committed: DVC ignores it) with its endpoint."""
    store = template / "store"
    for f in store.rglob("*"):
        if f.is_file():
            key = "dvcstore/" + f.relative_to(store).as_posix()
            s3.client.put_object(Bucket=s3.bucket, Key=key, Body=f.read_bytes())
    with open(repo / ".dvc/config.local", "a") as cfg:
        cfg.write(f"['remote \"s3store\"']\n    url = {s3.url('dvcstore')}\n"
                  f"    endpointurl = {s3.endpoint}\n")  # fmt: skip
    s3.clear_requests()


def test_an_s3_dvc_remote(env, clone, template, s3):
    _s3_remote(clone, template, s3)
    p = migrate(env, clone, "--dvc-remote", "s3store", check=False)
    assert p.returncode == 0, p.stderr.decode()
    assert_same_bytes(clone, template)
    assert_clean(env, clone)


def test_files_in_the_work_tree_are_not_downloaded_again(env, project, template, s3):
    shutil.rmtree(project / ".dvc/cache")
    _s3_remote(project, template, s3)
    migrate(env, project, "--dvc-remote", "s3store")
    gets = [path for method, path, _ in s3.requests if method == "GET"]
    assert gets and all(path.endswith(".dir") for path in gets)  # only the listing
    assert_same_bytes(project, template)
    assert_clean(env, project)


def test_dvc2_text_md5_is_computed_as_dvc2_does(tmp_path):
    """An out written by DVC 2 names a text file by the md5 of its bytes with CRLF read as LF,
    in 1 MiB reads (a CRLF split by a read stays): the same md5 as DVC 2's own file_md5."""
    from gitdata.migrate.dvc_objects import Md5Reader

    dvc_exe(2)
    python = VENVS / "dvc2" / "bin" / "python"
    line = b"x" * 99 + b"\r\n"
    cases = {
        "lines.csv": line * 30000,  # ~3 MiB, CRLF everywhere
        "split.txt": b"a" * ((1 << 20) - 1) + b"\r\n" + b"b\r\n" * 10,  # CRLF across a read
        "binary.bin": b"\x00\r\n" * 1000,
        "mostly-binary.bin": bytes(range(256)) * 8 + b"\r\n",
        "empty.txt": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    code = (
        "import sys\nfrom dvc_data.hashfile.hash import file_md5\n"
        "for p in sys.argv[1:]: print(file_md5(p))"
    )
    paths = [str(tmp_path / n) for n in cases]
    out = subprocess.run([str(python), "-c", code, *paths], capture_output=True, check=True)
    for path, md5 in zip(paths, out.stdout.decode().split()):
        with open(path, "rb", buffering=0) as f:
            r = Md5Reader(f, legacy=True)
            buf = bytearray(1 << 16)  # reads of another size than DVC's: the md5 is the same
            while r.readinto(buf):
                pass
        assert r.matches(md5), path


def test_a_path_with_spaces_and_glob_characters(env, project):
    """A `.dvc` file written as DVC writes it, for a name that gitattributes must escape."""
    import hashlib

    data = b"odd,name\r\n"
    write(project / "odd dir/a [1] *.csv", data)
    write(project / "odd dir/a 1 x.csv", b"an ordinary file\n")
    write(project / "odd dir/a [1] *.csv.dvc", (
        f"outs:\n- md5: {hashlib.md5(data).hexdigest()}\n  size: {len(data)}\n  hash: md5\n"
        "  path: a [1] *.csv\n").encode())  # fmt: skip
    write(project / "odd dir/.gitignore", b"/a \\[1\\] \\*.csv\n")  # as DVC escapes it
    env.commit_all(project, "an odd name")
    migrate(env, project)
    assert_clean(env, project)
    attrs = env.out("check-attr", "filter", "--", "odd dir/a [1] *.csv", "odd dir/a 1 x.csv",
                    cwd=project)  # fmt: skip
    assert attrs.splitlines() == [
        "odd dir/a [1] *.csv: filter: data",
        "odd dir/a 1 x.csv: filter: unspecified",
    ]
    assert (project / "odd dir/a [1] *.csv").read_bytes() == data
    assert not (project / "odd dir/.gitignore").exists()


def test_a_dvc_project_in_a_subfolder(env):
    """`dvc init --subdir`: the project's `.dvc/` (its cache) is in a folder of the repository."""
    dvc = dvc_exe(3)
    repo = env.new_repo(track=None)
    sub = repo / "ml"
    sub.mkdir()
    dvc_env = {"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(env.root / "site")}
    env.run([dvc, "init", "-q", "--subdir"], cwd=sub, env=dvc_env)
    random_file(sub / "data/x.bin", 200_000, seed=5)
    env.run([dvc, "add", "-q", "data/x.bin"], cwd=sub, env=dvc_env)
    env.commit_all(repo, "DVC in ml/")
    (sub / "data/x.bin").unlink()  # as after a fresh clone and `dvc fetch`: only the cache has it
    migrate(env, repo)
    assert (sub / "data/x.bin").read_bytes() == random_file(env.root / "x", 200_000, 5).read_bytes()
    assert_clean(env, repo)
    assert "/ml/data/x.bin filter=data" in (repo / ".gitattributes").read_text()
