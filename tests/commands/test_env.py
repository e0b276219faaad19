"""`git data env` says which store each Git remote uses and where its credentials come from,
never the credentials themselves."""

from __future__ import annotations

import json

from conftest import write


def env_json(env, repo, **kw):
    return json.loads(env.data("env", "--json", cwd=repo, **kw).stdout)


def s3_project(env, s3):
    repo = env.new_repo()
    env.data("remote", "add", "origin", s3.url("p"), "--endpoint-url", s3.endpoint, cwd=repo)
    env.git("remote", "add", "origin", str(env.bare()), cwd=repo)
    return repo


def test_store_and_credentials_from_the_environment(env, s3):
    repo = s3_project(env, s3)
    doc = env_json(env, repo)
    origin = doc["git_remotes"]["origin"]
    assert origin["store"] == s3.url("p") and origin["how"] == "data remote 'origin'"
    assert origin["credentials"] == "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    text = env.data("env", cwd=repo)
    out = (text.stdout + text.stderr).decode()
    assert "credentials: environment" in out
    assert s3.secret_key not in out and s3.access_key not in out


def test_credentials_from_profiles_and_shared_files(env, s3, monkeypatch):
    repo = s3_project(env, s3)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert env_json(env, repo)["git_remotes"]["origin"]["credentials"] == "none found"

    write(
        env.home / ".aws" / "credentials",
        f"[default]\naws_access_key_id = A\naws_secret_access_key = {s3.secret_key}\n"
        f"[work]\naws_access_key_id = B\naws_secret_access_key = {s3.secret_key}\n".encode(),
    )
    write(env.home / ".aws" / "config", b"[profile sso]\nsso_session = corp\n")
    creds = env_json(env, repo)["git_remotes"]["origin"]["credentials"]
    assert creds == "profile 'default' in ~/.aws/credentials"

    monkeypatch.setenv("AWS_PROFILE", "sso")
    creds = env_json(env, repo)["git_remotes"]["origin"]["credentials"]
    assert creds == "profile 'sso' (AWS_PROFILE) in ~/.aws/config"

    # a profile in git config wins over everything, the environment included
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    env.git("config", "data.remote.origin.profile", "work", cwd=repo)
    creds = env_json(env, repo)["git_remotes"]["origin"]["credentials"]
    assert creds == "profile 'work' (git config data.remote.origin.profile) in ~/.aws/credentials"
    env.git("config", "data.remote.origin.profile", "missing", cwd=repo)
    creds = env_json(env, repo)["git_remotes"]["origin"]["credentials"]
    assert "'missing'" in creds and "not defined" in creds
    out = env.data("env", cwd=repo).stdout.decode()
    assert s3.secret_key not in out


def test_a_missing_profile_stops_a_push_with_one_line(env, s3):
    repo = s3_project(env, s3)
    write(repo / "a.bin", b"alpha")
    env.commit_all(repo)
    env.git("config", "data.remote.origin.profile", "missing", cwd=repo)
    proc = env.git("push", "origin", "main", cwd=repo, check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "git-data: error: store s3://gitdata-test/p" in err
    assert "AWS profile 'missing' is not defined" in err and "\nhint: " in err


def test_env_shows_the_filter_the_merge_driver_and_the_diff_text_conversion(env):
    repo = env.new_repo()
    doc = env_json(env, repo)
    assert doc["filter"] == "git-data filter-process"
    assert doc["merge_driver"] == "git-data merge-driver %O %A %B %P"
    assert doc["textconv"] == "git-data textconv"
    env.git("config", "--global", "--unset", "merge.data.driver")
    text = env.data("env", cwd=repo).stdout.decode()
    assert "merge.data.driver: (not installed: run git data install)" in text
    assert "diff.data.textconv: git-data textconv" in text
