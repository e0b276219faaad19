"""`git data migrate`: bring an existing history into gitdata (from plain Git, git-lfs or DVC),
or take it back out (docs/migrating.md).

- selection.py  which refs and which paths (--above, --include, --exclude, --everything, REF…)
- plan.py       the refs, every file version behind them, what import converts, the
                `.gitattributes` lines (merge_attributes, remove_attributes)
- info.py       `info`: per pattern, over history; what import would convert
- rewrite.py    the history rewrite engine: `git fast-export --no-data | (a Converter) |
                git fast-import` under refs/gitdata/migrate-work/, then `finish`: one ref
                transaction, backups, commit map; `commit_on_top` for one forward commit
- safety.py     refusals before (dirty worktree, operation in progress) and the checkout after
- importer.py   `import` (plain Git and git-lfs); lfs.py: LFS pointers and objects
- export.py     `export`
- dvc.py        `import --from-dvc`: DVC outs into one forward commit; dvc_files.py reads
                `.dvc`, `dvc.lock` and `.dvc/config`, dvc_objects.py brings the bytes in
                (md5-verified), dvc_commit.py makes the commit beside the index and syncs the
                worktree (new paths and removed `.dvc` files, which a Converter cannot say)
- dvc_rewrite.py `import --from-dvc --rewrite`: a rewrite.Stream that rewrites whole commits
                (a `.dvc` file becomes files at other paths); dvc_history.py finds every out of
                the history and brings its bytes into the cache first

A new source of data files needs: a Converter (rewrite.Converter: `convert(path, mode, blob)`
returns the new content, a blob id or None; `attributes(content)` the top `.gitattributes`),
then `safety.require_clean`, `rewrite.rewrite` (or `commit_on_top`), `rewrite.finish`,
`safety.check_out`, as importer.import_ does.
"""
