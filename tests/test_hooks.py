from __future__ import annotations

import os
from pathlib import Path

from gitdata import hooks

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_shims_are_what_gets_installed():
    shipped = sorted(p.name for p in (ROOT / "hooks").iterdir())
    assert shipped == sorted(hooks.HOOKS)
    for name in hooks.HOOKS:
        path = ROOT / "hooks" / name
        assert path.read_text() == hooks.render(name), f"regenerate hooks/{name}"
        assert os.access(path, os.X_OK)


def test_install_keeps_user_hook_as_legacy_and_uninstall_restores(tmp_path):
    d = tmp_path / "hooks"
    d.mkdir()
    (d / "pre-push").write_text("#!/bin/sh\necho mine\n")
    assert "pre-push" in hooks.install(str(d))
    assert (d / "pre-push.legacy").read_text() == "#!/bin/sh\necho mine\n"
    assert hooks.is_ours(str(d / "pre-push"))
    assert hooks.install(str(d)) == []  # idempotent
    (d / "post-merge").write_text(hooks.render("post-merge").replace("v1", "v0"))
    assert hooks.install(str(d)) == ["post-merge"]  # an old shim is upgraded in place
    assert not (d / "post-merge.legacy").exists()
    hooks.uninstall(str(d))
    assert (d / "pre-push").read_text() == "#!/bin/sh\necho mine\n"
    assert sorted(os.listdir(d)) == ["pre-push"]


def test_never_destroys_a_user_hook(tmp_path):
    d = tmp_path / "hooks"
    d.mkdir()
    (d / "pre-push").write_text("new user hook")
    (d / "pre-push.legacy").write_text("old user hook")
    hooks.install(str(d), quiet=True)
    assert (d / "pre-push").read_text() == "new user hook"
    assert (d / "pre-push.legacy").read_text() == "old user hook"


def test_core_hooks_path_is_respected(env):
    repo = env.new_repo(track=None)
    env.git("config", "core.hooksPath", "myhooks", cwd=repo)
    env.data("track", "*.bin", cwd=repo)
    assert hooks.is_ours(str(repo / "myhooks" / "pre-push"))
    assert not (repo / ".git" / "hooks" / "pre-push").exists()


def test_filter_installs_missing_hooks_in_a_clone(env):
    repo = env.new_repo()
    (repo / "a.bin").write_bytes(b"x")
    env.commit_all(repo)
    bare = env.bare()
    env.git("push", "-q", str(bare), "main", cwd=repo)
    env.git("clone", "-q", str(bare), str(env.root / "c"))
    for name in hooks.HOOKS:
        assert hooks.is_ours(str(env.root / "c" / ".git" / "hooks" / name))


def test_shim_without_git_data_on_path(env, tmp_path):
    repo = env.new_repo()
    proc = env.run(
        ["sh", str(repo / ".git" / "hooks" / "pre-push"), "origin", "x"],
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2 and b"git-data is not on your PATH" in proc.stderr
    proc = env.run(
        ["sh", str(repo / ".git" / "hooks" / "post-checkout")],
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0
