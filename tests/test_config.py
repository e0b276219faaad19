from __future__ import annotations

import pytest

from gitdata.config import merge, parse_config_file, parse_size
from gitdata.errors import ConfigError

FILE = """
default = "origin"

[remote.origin]
url = "s3://ml-datasets/project-x"
endpoint_url = "http://127.0.0.1:9000"
region = "us-east-1"
"""


def settings(text=FILE, git=None, environ=None):
    doc = parse_config_file(text) if text is not None else None
    return merge(file_doc=doc, git_config=git or {}, environ=environ or {})


def test_file_is_read():
    s = settings()
    r = s.remotes["origin"]
    assert (r.url, r.endpoint_url, r.region, r.profile) == (
        "s3://ml-datasets/project-x",
        "http://127.0.0.1:9000",
        "us-east-1",
        None,
    )
    assert s.default_remote == "origin"


def test_git_config_overrides_key_by_key():
    s = settings(
        git={
            "data.remote.origin.url": ["s3://mine/x"],
            "data.remote.origin.profile": ["dev"],
            "data.default": ["other"],
            "data.remote.other.url": ["/srv/store"],
        }
    )
    r = s.remotes["origin"]
    assert (r.url, r.endpoint_url, r.profile) == ("s3://mine/x", "http://127.0.0.1:9000", "dev")
    assert r.sources == (".gitdata.toml", "git config")
    assert s.default_remote == "other"
    assert s.remotes["other"].url == "/srv/store"


@pytest.mark.parametrize(
    "text, words",
    [
        ("bogus = 1", ["unknown key 'bogus'"]),
        ('[remote.origin]\nurl = "s3://b"\nsecret = "x"', ["unknown key 'remote.origin.secret'"]),
        ('[remote.origin]\nurl = "s3://b"\nprofile = "x"', ["remote.origin.profile", "git config"]),
        ("[remote.origin]\nurl = 5", ["'remote.origin.url' must be a string"]),
        ('default = ["a"]', ["'default' must be a string"]),
        ('[remote.origin]\nurl = "gs://bucket"', ["remote.origin.url", "gs://"]),
        ('[remote.origin]\nurl = "relative/dir"', ["remote.origin.url", "unknown store URL"]),
        ('[remote.origin]\nregion = "x"', ["has no 'url'"]),
        ("remote = 3", ["'remote' must be"]),
        ("[remote]\norigin = 3", ["'remote.origin' must be a table"]),
        ('[remote."../x"]\nurl = "s3://b"', ["not a valid remote name"]),
        ("this is = = not toml", ["not valid TOML"]),
    ],
)
def test_file_errors_name_the_file_and_key(text, words):
    with pytest.raises(ConfigError) as e:
        parse_config_file(text)
    assert e.value.message.startswith(".gitdata.toml: ")
    for w in words:
        assert w in e.value.message + e.value.hint


def test_nothing_in_the_file_sets_credentials_or_cache():
    for key in ("cachedir", "aws_secret_access_key", "profile", "credential_process"):
        with pytest.raises(ConfigError):
            parse_config_file(f'{key} = "x"')


def test_skip_smudge_and_sizes():
    assert settings(None, environ={"GIT_DATA_SKIP_SMUDGE": "1"}).skip_smudge
    assert not settings(None, environ={"GIT_DATA_SKIP_SMUDGE": "0"}).skip_smudge
    assert settings(None, git={"data.bigfilethreshold": ["10m"]}).big_file_threshold == 10 << 20
    assert parse_size("3k", 0, "k") == 3072
    with pytest.raises(ConfigError):
        settings(None, git={"data.transfers": ["many"]})
    with pytest.raises(ConfigError):
        settings(None, git={"data.bigfilethreshold": ["big"]})


def test_bad_url_in_git_config():
    with pytest.raises(ConfigError) as e:
        settings(None, git={"data.remote.x.url": ["ftp://host/x"]})
    assert "data.remote.x.url" in e.value.message


def test_skip_smudge_from_the_installed_filter():
    git = {"filter.data.process": ["git-data filter-process --skip-smudge"]}
    assert settings(None, git=git).skip_smudge
