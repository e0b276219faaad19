from __future__ import annotations


def test_install_and_uninstall_global(env):
    cfg = env.out("config", "--global", "--get-regexp", "^filter\\.data\\.")
    assert "filter.data.process git-data filter-process" in cfg
    assert "filter.data.required true" in cfg
    assert "filter.data.clean git-data clean -- %f" in cfg
    assert "merge.data.driver git-data merge-driver %O %A %B %P" in env.out(
        "config", "--global", "--get-regexp", "^merge\\.data\\."
    )
    assert env.out("config", "--global", "diff.data.textconv").strip() == "git-data textconv"
    env.data("uninstall")
    cfg = env.out("config", "--global", "--get-regexp", "^filter\\.data\\.")
    assert "filter.data.process" not in cfg  # gone, but a guard stays (see test_everyday)
    assert "filter.data.required true" in cfg
    assert env.git("config", "--global", "--get-regexp", "^merge\\.", check=False).stdout == b""
    assert env.git("config", "--global", "diff.data.textconv", check=False).stdout == b""
    assert '[diff "data"]' not in (env.home / ".gitconfig").read_text()  # no empty section left


def test_uninstall_leaves_the_users_own_diff_settings(env):
    env.git("config", "--global", "diff.data.wordRegex", "[^ ]+")
    env.data("uninstall")
    assert env.git("config", "--global", "diff.data.textconv", check=False).stdout == b""
    assert env.out("config", "--global", "diff.data.wordRegex").strip() == "[^ ]+"


def test_install_local_and_skip_smudge(env):
    repo = env.new_repo(track=None)
    env.data("install", "--local", "--skip-smudge", cwd=repo)
    assert env.out("config", "--local", "filter.data.process", cwd=repo).strip() == (
        "git-data filter-process --skip-smudge"
    )
    assert env.out("config", "--local", "diff.data.textconv", cwd=repo).strip() == (
        "git-data textconv"
    )
    assert (repo / ".git" / "hooks" / "pre-push").exists()
    env.data("uninstall", "--local", cwd=repo)
    assert not (repo / ".git" / "hooks" / "pre-push").exists()
    assert env.git("config", "--local", "--get-regexp", "^diff\\.data\\.", cwd=repo,
                   check=False).stdout == b""  # fmt: skip
    assert env.out("config", "--global", "diff.data.textconv").strip() == "git-data textconv"


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
        "diff",
        "status",
        "push",
        "fetch",
        "pull",
        "checkout",
        "pointer",
        "env",
        "textconv",
        "clean",
        "smudge",
        "filter-process",
        "hook",
    ):
        proc = env.data(cmd, "-h")
        assert proc.stdout.startswith(b"usage: git data " + cmd.encode())
