"""Reading what a DVC project records (gitdata/migrate/dvc_files.py), from hand-written files:
the shapes DVC writes, and the ones gitdata refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write

from gitdata.errors import GitDataError
from gitdata.migrate import dvc_files

MD5 = "0123456789abcdef0123456789abcdef"


def test_dvc_file_outs_relative_to_its_folder(tmp_path: Path):
    write(tmp_path / "data/x.dvc", f"outs:\n- md5: {MD5}\n  size: 3\n  hash: md5\n  path: x\n"
          f"- md5: {MD5}.dir\n  size: 9\n  nfiles: 2\n  path: ../images\n"
          f"- md5: {MD5}\n  path: small.txt\n  cache: false\n".encode())  # fmt: skip
    outs = dvc_files.read_outs(str(tmp_path), ["data/x.dvc"])
    assert [(o.path, o.is_dir, o.legacy, o.size) for o in outs] == [
        ("data/x", False, False, 3),
        ("images", True, True, 9),
    ]
    assert outs[1].dvc_name == MD5 + ".dir"


def test_lock_outs_follow_the_stage_wdir(tmp_path: Path):
    write(tmp_path / "pipe/dvc.yaml", b"stages:\n  train:\n    wdir: ../work\n    cmd: x\n")
    lock = (
        f"schema: '2.0'\nstages:\n  train:\n    cmd: x\n"
        f"    deps:\n    - path: in.csv\n      md5: {MD5}\n"
        f"    outs:\n    - path: model.pkl\n      hash: md5\n      md5: {MD5}\n      size: 5\n"
        f"  prep@1:\n    cmd: y\n    outs:\n    - path: p1.bin\n      md5: {MD5}\n"
    )
    write(tmp_path / "pipe/dvc.lock", lock.encode())
    outs = dvc_files.read_outs(str(tmp_path), ["pipe/dvc.lock"])
    assert [o.path for o in outs] == ["pipe/p1.bin", "work/model.pkl"]


@pytest.mark.parametrize(
    "text, why",
    [
        ("outs: [1]", "not a mapping"),
        (f"outs:\n- md5: {MD5}\n  path: ../../etc/passwd\n", "outside the work tree"),
        (f"outs:\n- md5: {MD5}\n  path: /etc/passwd\n", "outside the repository"),
        (f"outs:\n- md5: {MD5}\n  path: s3://bucket/key\n", "outside the repository"),
        (f"outs:\n- md5: {MD5}\n  path: .git/config\n", "outside the work tree"),
        ("outs:\n- path: x\n", "has no md5"),
        ("outs:\n- md5: 12\n  path: x\n", "has the md5"),
        (f"outs:\n- md5: {MD5}\n  size: -1\n  path: x\n", "has the size"),
        (f"outs:\n- path: x\n  files:\n  - md5: {MD5}\n", "version-aware"),
        ("outs: [\n", "not YAML"),
        (f"outs:\n- md5: {MD5}.dir\n  path: d\n- md5: {MD5}\n  path: d/f\n", "inside the out"),
    ],
)
def test_what_is_refused(tmp_path: Path, text: str, why: str):
    write(tmp_path / "a.dvc", text.encode())
    with pytest.raises(GitDataError) as e:
        dvc_files.read_outs(str(tmp_path), ["a.dvc"])
    assert "a.dvc: not a DVC file gitdata understands" in e.value.message
    assert why in e.value.message


def test_two_records_of_one_path_must_agree(tmp_path: Path):
    write(tmp_path / "a.dvc", f"outs:\n- md5: {MD5}\n  path: x\n".encode())
    write(tmp_path / "dvc.lock", f"stages:\n  s:\n    outs:\n    - md5: {'f' * 32}\n"
          "      path: x\n".encode())  # fmt: skip
    with pytest.raises(GitDataError, match="recorded differently"):
        dvc_files.read_outs(str(tmp_path), ["a.dvc", "dvc.lock"])


def test_config_remotes_cache_dir_and_the_local_overlay(tmp_path: Path):
    write(tmp_path / ".dvc/config", b"[core]\n    remote = store\n[cache]\n    dir = ../../cache\n"
          b"['remote \"store\"']\n    url = ../../store\n"
          b"['remote \"s3\"']\n    url = s3://bucket/prefix\n    region = eu-west-1\n")  # fmt: skip
    write(tmp_path / ".dvc/config.local", b"['remote \"s3\"']\n    endpointurl = http://h:9000\n")
    top = str(tmp_path)
    assert dvc_files.cache_dir(top) == str(tmp_path.parent / "cache")
    assert dvc_files.remote(top) == dvc_files.DvcRemote("store", str(tmp_path.parent / "store"))
    s3 = dvc_files.remote_for_url(top, "s3://bucket/prefix/")
    assert (s3.name, s3.endpoint_url, s3.region) == ("s3", "http://h:9000", "eu-west-1")
    assert dvc_files.remote_for_url(top, "s3").url == "s3://bucket/prefix"
    assert dvc_files.remote_for_url(top, "/elsewhere") == dvc_files.DvcRemote("dvc", "/elsewhere")
    with pytest.raises(GitDataError, match="no DVC remote 'nope'"):
        dvc_files.remote(top, "nope")


def test_no_config_no_remote(tmp_path: Path):
    assert dvc_files.remote(str(tmp_path)) is None
    assert dvc_files.cache_dir(str(tmp_path)) == str(tmp_path / ".dvc" / "cache")
