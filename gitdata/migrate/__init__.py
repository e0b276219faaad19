"""`git data migrate`: bring an existing history into gitdata (from plain Git, git-lfs or DVC),
or take it back out (docs/migrating.md).

- selection.py  which refs and which paths (--above, --include, --exclude, --everything, REF…)
- info.py       what history holds, per pattern; what import would convert
- rewrite.py    the history rewrite engine: `git fast-export | git fast-import` through Python
- lfs.py        git-lfs pointers and objects
- dvc.py        DVC projects (`import --from-dvc`)
"""
