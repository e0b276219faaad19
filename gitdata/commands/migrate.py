from __future__ import annotations

from ..errors import UsageError
from ..migrate.selection import selection


def migrate(
    action: str,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    everything: bool = False,
    refs: list[str] | None = None,
    above: str | None = None,
    as_json: bool = False,
    no_rewrite: bool = False,
    from_lfs: bool = False,
    from_dvc: bool = False,
    dvc_remote: str | None = None,
    keep_remote: bool = False,
    rewrite: bool = False,
) -> int:
    """`git data migrate info|import|export` (docs/commands.md, docs/migrating.md)."""
    sel = selection(include, exclude, above, everything, refs)
    if action == "info":
        from ..migrate import info

        return info.info(sel, as_json=as_json)
    if action == "export":
        from ..migrate import export

        return export.export(sel)
    if (dvc_remote is not None or keep_remote) and not from_dvc:
        option = "--dvc-remote" if dvc_remote is not None else "--keep-remote"
        raise UsageError(f"{option} goes with --from-dvc", "add --from-dvc")
    if rewrite and not from_dvc:
        raise UsageError(
            "--rewrite goes with --from-dvc (other imports rewrite history unless --no-rewrite)",
            "add --from-dvc, or drop --rewrite",
        )
    if from_dvc:
        # ---- import --from-dvc: gitdata/migrate/dvc.py, --rewrite: dvc_rewrite.py ----
        if from_lfs:
            raise UsageError("--from-lfs and --from-dvc cannot go together", "give one of them")
        if rewrite:
            if no_rewrite or keep_remote:
                other = "--no-rewrite" if no_rewrite else "--keep-remote"
                raise UsageError(
                    f"--rewrite and {other} cannot go together",
                    "with --rewrite, add the data remote with `git data remote add` afterwards"
                    if keep_remote
                    else "give one of them",
                )
            from ..migrate import dvc_rewrite

            return dvc_rewrite.import_history(sel, dvc_remote=dvc_remote)
        try:
            from ..migrate import dvc  # type: ignore[attr-defined]
        except ImportError:
            what = "import --from-dvc"
            raise UsageError(
                f"git data migrate {what} is not built yet",
                "this gitdata cannot read DVC projects; upgrade gitdata",
            ) from None
        return int(
            dvc.import_dvc(
                sel, no_rewrite=no_rewrite, dvc_remote=dvc_remote, keep_remote=keep_remote
            )
        )
    from ..migrate import importer

    return importer.import_(sel, no_rewrite=no_rewrite, from_lfs=from_lfs)
