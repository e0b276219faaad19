"""Reading and writing git config, and reading small files at HEAD."""

from __future__ import annotations

from .run import run_git

GitConfig = dict[str, list[str]]


def read_config(cwd: str | None = None, scope: str | None = None) -> GitConfig:
    """Every config value git sees here (all scopes, includes, `git -c`; or only `scope`),
    keys as git prints them.

    git lowercases section and variable names but not subsections, so keys look like
    `data.remote.Origin.endpointurl`.
    """
    # filters=True: `git config` runs no filter, and the `-c filter.data.*=` overrides that
    # run_git adds otherwise would show up here as the last word on those keys.
    out = run_git(
        ["config", *_scope(scope), "-z", "--list"], cwd=cwd, ok_codes=(0, 1), filters=True
    ).stdout
    cfg: GitConfig = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        key, _, value = rec.partition(b"\n")
        cfg.setdefault(key.decode("utf-8", "surrogateescape"), []).append(
            value.decode("utf-8", "surrogateescape")
        )
    return cfg


def last(cfg: GitConfig, key: str) -> str | None:
    values = cfg.get(key)
    return values[-1] if values else None


def set_value(key: str, value: str, scope: str | None = None, cwd: str | None = None) -> None:
    run_git(["config", *_scope(scope), key, value], cwd=cwd)


def unset_value(key: str, scope: str | None = None, cwd: str | None = None) -> None:
    # status 5: the key was not set, which is what we wanted
    run_git(["config", *_scope(scope), "--unset-all", key], cwd=cwd, ok_codes=(0, 5))


def remove_section(section: str, scope: str | None = None, cwd: str | None = None) -> None:
    run_git(["config", *_scope(scope), "--remove-section", section], cwd=cwd, ok_codes=(0, 128))


def has_keys(prefix: str, scope: str | None = None, cwd: str | None = None) -> bool:
    """Whether any key starts with `prefix` (say `diff.data.`) in that scope; a config file
    that does not exist has none."""
    pattern = "^" + prefix.replace(".", "\\.")
    proc = run_git(["config", *_scope(scope), "--get-regexp", pattern], cwd=cwd, check=False)
    return proc.returncode == 0 and bool(proc.stdout)


def _scope(scope: str | None) -> list[str]:
    return [f"--{scope}"] if scope else []


def read_head_file(
    path: str, limit: int, cwd: str | None = None
) -> tuple[int, bytes | None] | None:
    """(size, content) of the blob at HEAD:<path>; content is None when the blob is larger
    than `limit` (a hostile repository's file is never read into memory); None when there is
    no such file (or no HEAD yet)."""
    proc = run_git(["cat-file", "-s", f"HEAD:{path}"], cwd=cwd, check=False)
    if proc.returncode != 0:
        return None
    size = int(proc.stdout)
    if size > limit:
        return size, None
    proc = run_git(["cat-file", "blob", f"HEAD:{path}"], cwd=cwd, check=False)
    return (size, proc.stdout) if proc.returncode == 0 else None


def current_branch(cwd: str | None = None) -> str | None:
    proc = run_git(["symbolic-ref", "-q", "--short", "HEAD"], cwd=cwd, check=False)
    name = proc.stdout.decode("utf-8", "surrogateescape").strip()
    return name or None
