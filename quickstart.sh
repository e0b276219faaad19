#!/usr/bin/env bash
# The README's quick start, end to end, in a temporary directory: a real repository, a real bare
# remote on disk (whose embedded store keeps the bytes), add, commit, push, clone, bytes back.
# Every git command is printed before it runs. Needs `git data install` to have run.
set -euo pipefail

work=$(mktemp -d "${TMPDIR:-/tmp}/gitdata-quickstart.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-gitdata quick start}
export GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-quickstart@example.com}
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL

run() {  # print the command as you would type it, then run it
  local line='$' a
  for a in "$@"; do
    case $a in *[!A-Za-z0-9_./:=@+-]*) line+=" '$a'" ;; *) line+=" $a" ;; esac
  done
  printf '%s\n' "$line"
  "$@"
}

cd "$work"
python3 - <<'PY'
import os
with open("big.bin", "wb") as f:
    for _ in range(96):  # 96 MiB of incompressible bytes, standing in for ~/big.bin
        f.write(os.urandom(1 << 20))
PY
echo "# in $work, with a 96 MiB big.bin"
run git init -q -b main project
cd project
run git data track '*.bin'
run cp ../big.bin .
run git add .
run git commit -q -m data
run git init -q --bare -b main ../project.git
run git remote add origin ../project.git
run git push -u origin main
run git clone ../project.git ../other
run cmp ../big.bin ../other/big.bin
run git -C ../other status --short
echo "quick start OK: big.bin came back byte for byte ($(wc -c < ../other/big.bin) bytes)"
