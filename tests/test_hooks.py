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
    (d / "pre-push").write_text(hooks.render("pre-push").replace("v1", "v0"))
    assert hooks.install(str(d)) == ["pre-push"]  # an old shim is upgraded in place
    assert (d / "pre-push.legacy").read_text() == "#!/bin/sh\necho mine\n"
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


def test_obsolete_shims_are_removed_and_user_hooks_they_kept_come_back(tmp_path):
    """Earlier versions installed post-checkout/merge/commit/rewrite shims; the filter now
    writes big files itself, so install removes them (a user's hook they kept goes back)."""
    d = tmp_path / "hooks"
    d.mkdir()
    for name in hooks.OBSOLETE:
        (d / name).write_text(hooks.render(name))
    (d / "post-checkout.legacy").write_text("#!/bin/sh\necho mine\n")
    assert hooks.missing(str(d))
    hooks.install(str(d))
    assert sorted(os.listdir(d)) == ["post-checkout", "pre-push"]
    assert (d / "post-checkout").read_text() == "#!/bin/sh\necho mine\n"
    assert not hooks.missing(str(d))


def test_core_hooks_path_outside_the_worktree_is_respected(env):
    repo = env.new_repo(track=None)
    shared = env.root / "team-hooks"
    env.git("config", "core.hooksPath", str(shared), cwd=repo)
    env.data("track", "*.bin", cwd=repo)
    assert hooks.is_ours(str(shared / "pre-push"))
    assert not (repo / ".git" / "hooks" / "pre-push").exists()


def test_core_hooks_path_inside_the_worktree_is_left_alone(env):
    """Committed hooks (husky style) belong to the team: gitdata neither renames nor adds files
    there (a `git add -A` would commit them); it says what to add instead."""
    repo = env.new_repo(track=None)
    (repo / ".githooks").mkdir()
    team_hook = "#!/bin/sh\necho team hook\n"
    (repo / ".githooks" / "pre-push").write_text(team_hook)
    os.chmod(repo / ".githooks" / "pre-push", 0o755)
    env.commit_all(repo, "team hooks")
    env.git("config", "core.hooksPath", ".githooks", cwd=repo)
    proc = env.data("track", "*.bin", cwd=repo)
    assert b"inside the work tree" in proc.stderr and b"git-data hook pre-push" in proc.stderr
    proc = env.data("install", "--local", cwd=repo)
    assert b"inside the work tree" in proc.stderr
    (repo / "a.bin").write_bytes(b"data")
    env.commit_all(repo)  # runs the filter, which installs hooks where it may
    assert sorted(os.listdir(repo / ".githooks")) == ["pre-push"]
    assert (repo / ".githooks" / "pre-push").read_text() == team_hook
    assert env.out("status", "--porcelain", cwd=repo) == ""
    status = env.data("status", cwd=repo)
    assert b"inside the work tree" in status.stderr
    # once the team's hook calls gitdata, status is content
    call = 'git-data hook pre-push "$@" || exit $?\n'
    (repo / ".githooks" / "pre-push").write_text(team_hook + call)
    assert b"inside the work tree" not in env.data("status", cwd=repo).stderr


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
