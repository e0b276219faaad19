from __future__ import annotations


def test_install_and_uninstall_global(env):
    cfg = env.out("config", "--global", "--get-regexp", "^filter\\.data\\.")
    assert "filter.data.process git-data filter-process" in cfg
    assert "filter.data.required true" in cfg
    assert "filter.data.clean git-data clean -- %f" in cfg
    assert "merge.data.driver git-data merge-driver %O %A %B %P" in env.out(
        "config", "--global", "--get-regexp", "^merge\\.data\\."
    )
    env.data("uninstall")
    cfg = env.out("config", "--global", "--get-regexp", "^filter\\.data\\.")
    assert "filter.data.process" not in cfg  # gone, but a guard stays (see test_everyday)
    assert "filter.data.required true" in cfg
    assert env.git("config", "--global", "--get-regexp", "^merge\\.", check=False).stdout == b""


def test_install_local_and_skip_smudge(env):
    repo = env.new_repo(track=None)
    env.data("install", "--local", "--skip-smudge", cwd=repo)
    assert env.out("config", "--local", "filter.data.process", cwd=repo).strip() == (
        "git-data filter-process --skip-smudge"
    )
    assert (repo / ".git" / "hooks" / "pre-push").exists()
    env.data("uninstall", "--local", cwd=repo)
    assert not (repo / ".git" / "hooks" / "pre-push").exists()


def test_usage_errors_are_one_line_with_hint_and_status_2(env):
    for args in (["bogus"], ["push", "--nope"], ["install", "--local", "--system"]):
        proc = env.data(*args, check=False)
        lines = proc.stderr.decode().splitlines()
        assert proc.returncode == 2, args
        assert lines[0].startswith("git-data: error: ") and lines[1].startswith("hint: ")
        assert len(lines) == 2


def test_every_command_has_help(env):
    for cmd in (
        "install",
        "uninstall",
        "track",
        "untrack",
        "ls-files",
        "status",
        "push",
        "fetch",
        "pull",
        "checkout",
        "pointer",
        "env",
        "clean",
        "smudge",
        "filter-process",
        "hook",
    ):
        proc = env.data(cmd, "-h")
        assert proc.stdout.startswith(b"usage: git data " + cmd.encode())
