"""Secrets never appear in output, logs or errors: fake AWS keys in the environment, a token in a
Git remote's URL and in an endpoint URL; every command that fails or reports configuration is run
and all its output, and every file it leaves in the temporary directory, is searched."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from conftest import Env, write

SECRET = "FAKEsecretKEY0123456789abcdefDoNotLeak"
TOKEN = "ghp_FAKEtokenDoNotLeak42"
KEY_ID = "AKIAFAKEKEYIDDONOTLEAK"
NEEDLES = (SECRET, TOKEN, KEY_ID, "FAKEpassDoNotLeak")

SECRET_ENV = {
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "AWS_ACCESS_KEY_ID": KEY_ID,
    "AWS_SESSION_TOKEN": SECRET + "session",
}


def leaks(text: bytes | str) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [n for n in NEEDLES if n in text]


def test_no_command_prints_a_secret(env: Env, tmp_path: Path, monkeypatch):
    crash_dir = tmp_path / "tmpdir"
    crash_dir.mkdir()
    for k, v in SECRET_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("TMPDIR", str(crash_dir))
    repo = env.new_repo()
    write(repo / "a.bin", b"alpha")
    env.commit_all(repo)
    url = f"https://user:{TOKEN}@example.invalid/project.git"
    env.git("remote", "add", "origin", url, cwd=repo)
    env.git("remote", "add", "other", f"https://{TOKEN}@example.invalid/o.git", cwd=repo)
    env.git("config", "data.remote.s.url", "s3://bucket/prefix", cwd=repo)
    env.git(
        "config",
        "data.remote.s.endpointUrl",
        f"http://{KEY_ID}:FAKEpassDoNotLeak@127.0.0.1:9/",
        cwd=repo,
    )
    # a data remote whose url is wrong: its error repeats the url
    bad = env.root / "bad"
    env.git("init", "-q", str(bad))
    env.git("config", "data.remote.x.url", f"https://u:{TOKEN}@example.invalid/x", cwd=bad)

    ran = []
    runs = [
        (["env"], repo),
        (["env", "--json"], repo),
        (["push"], repo),
        (["push", "other"], repo),
        (["push", url], repo),
        (["fetch"], repo),
        (["pull"], repo),
        (["status"], repo),
        (["ls-files", "--long"], repo),
        (["pointer", "missing.bin"], repo),
        (["env"], bad),
        (["fetch"], bad),
        (["no-such-command"], repo),
    ]
    for args, cwd in runs:
        proc = env.data(*args, cwd=cwd, check=False)
        ran.append((args, proc.returncode))
        assert leaks(proc.stdout + proc.stderr) == [], (args, proc.stderr.decode())
        assert b"Traceback" not in proc.stderr, args
    # the pre-push hook gets the URL, credentials and all, from git itself
    for remote in ("origin", url):
        proc = env.data(
            "hook",
            "pre-push",
            remote,
            url,
            cwd=repo,
            check=False,
            input=f"refs/heads/main {env.head(repo)} refs/heads/main {'0' * 40}\n".encode(),
        )
        assert proc.returncode == 1 and leaks(proc.stderr) == [], proc.stderr.decode()
    assert [rc for _, rc in ran if rc == 3] == [], ran
    for f in crash_dir.rglob("*"):
        if f.is_file():
            assert leaks(f.read_bytes()) == [], f


def test_a_crash_log_holds_no_secret_and_only_its_owner_reads_it(tmp_path, monkeypatch):
    """A bug in the pre-push hook: the crash log records the command line, which holds the
    remote's URL as git passed it; the token in it is not written, nor is the environment."""
    from gitdata import cli, sync

    for k, v in SECRET_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    os.system(f"git init -q {tmp_path}")  # noqa: S605 - a fixed command

    def boom(*a, **k):
        raise RuntimeError("something broke")

    monkeypatch.setattr(sync, "pre_push", boom)
    url = f"https://user:{TOKEN}@example.invalid/project.git"
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # noqa: SIM115
    assert cli.main(["hook", "pre-push", url, url]) == 3
    logs = list(tmp_path.glob("git-data-crash-*"))
    assert len(logs) == 1
    text = logs[0].read_text()
    assert "RuntimeError: something broke" in text and "example.invalid" in text
    assert leaks(text) == []
    assert logs[0].stat().st_mode & 0o077 == 0


def test_redact_url():
    from gitdata.config import redact_url

    assert redact_url("https://u:p@ss@host/x.git") == "https://***@host/x.git"
    assert redact_url(f"https://{TOKEN}@github.com/o/r") == "https://***@github.com/o/r"
    assert redact_url("s3://bucket/a@b") == "s3://bucket/a@b"  # '@' in a path is not userinfo
    for plain in ("s3://bucket/prefix", "/srv/store", "git@github.com:o/r.git", "../x.git"):
        assert redact_url(plain) == plain


def test_s3_commands_print_no_secret(env: Env, s3, tmp_path: Path, monkeypatch):
    """Against a real S3 API (moto): a working push, then a wrong secret (signatures checked),
    a missing bucket, an unreachable endpoint whose URL carries credentials, and an s3:// URL
    with credentials in it; push, fetch, pull, a clone and `git data env` print no secret, and
    leave none in a crash log."""
    import socket

    crash_dir = tmp_path / "tmpdir"
    crash_dir.mkdir()
    monkeypatch.setenv("TMPDIR", str(crash_dir))
    repo = env.new_repo()
    write(repo / "a.bin", b"alpha")
    env.commit_all(repo)
    bare = env.bare()
    env.git("remote", "add", "origin", str(bare), cwd=repo)
    env.git("config", "data.remote.origin.url", s3.url("p"), cwd=repo)
    env.git("config", "data.remote.origin.endpointUrl", s3.endpoint, cwd=repo)
    env.git("push", "-q", "-u", "origin", "main", cwd=repo)
    write(repo / "b.bin", b"beta")
    env.commit_all(repo, "second")
    needles = (*NEEDLES, s3.secret_key)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]

    def wrong_secret():
        s3.require_auth()
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)

    def no_bucket():
        env.git("config", "data.remote.origin.url", s3.url("p", bucket="no-such"), cwd=repo)

    def endpoint_with_credentials():
        url = f"http://{KEY_ID}:FAKEpassDoNotLeak@127.0.0.1:{closed}"
        env.git("config", "data.remote.origin.endpointUrl", url, cwd=repo)

    def url_with_credentials():
        env.git("config", "data.remote.origin.url", f"s3://{KEY_ID}:{SECRET}@bucket/p", cwd=repo)

    for breakage in (wrong_secret, no_bucket, endpoint_with_credentials, url_with_credentials):
        with monkeypatch.context():
            breakage()
            outputs = [env.git("push", "origin", "main", cwd=repo, check=False)]
            clone = env.root / f"clone-{breakage.__name__}"
            outputs.append(env.git("clone", str(bare), str(clone), check=False))
            for args in (["fetch"], ["pull"], ["push"], ["env"], ["env", "--json"]):
                outputs.append(env.data(*args, cwd=repo, check=False))
            for proc in outputs:
                text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
                assert [n for n in needles if n in text] == [], (breakage.__name__, text)
                assert "Traceback" not in text
        env.git("config", "data.remote.origin.url", s3.url("p"), cwd=repo)
        env.git("config", "data.remote.origin.endpointUrl", s3.endpoint, cwd=repo)
    for f in crash_dir.rglob("*"):
        if f.is_file():
            assert [n for n in needles if n in f.read_text(errors="replace")] == [], f
