#!/usr/bin/env bash
# Install gitdata so that `git data` works, register the filter, then run the quick start.
#
#   ./install.sh                  install for this user, `git data install`, run ./quickstart.sh
#   ./install.sh --no-quickstart  the same without the quick start
#   ./install.sh --test [ARGS]    install into ./.venv with the test extras and run the tests
#
# Environment: PYTHON (default python3), GITDATA_HOME (default ~/.local/share/gitdata, where the
# virtualenv lives), BIN_DIR (where the `git-data` link goes; default: ~/.local/bin when it is on
# PATH, else /usr/local/bin when writable, else ~/.local/bin), MAN_DIR (where the man page
# git-data.1 goes, for `git help data`; default: share/man beside BIN_DIR, where man looks for a
# directory on PATH).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}

say() { printf '==> %s\n' "$*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "install.sh: $1 is required: $2" >&2; exit 1; }
}

need git "install git 2.32 or newer"
need "$PYTHON" "install Python 3.9 or newer"
# rev-list's object:type filter and --filter-provided-objects (gitdata/git/revlist.py) need 2.32
read -r git_major git_minor < <(git version | sed -n 's/^git version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
if [ "${git_major:-0}" -lt 2 ] || { [ "$git_major" -eq 2 ] && [ "${git_minor:-0}" -lt 32 ]; }; then
  echo "install.sh: git ${git_major:-?}.${git_minor:-?} is too old: gitdata needs git 2.32 or newer" >&2
  exit 1
fi

make_venv() {  # $1: directory
  if [ ! -x "$1/bin/python" ]; then
    say "creating a virtualenv in $1"
    "$PYTHON" -m venv "$1" || {
      echo "install.sh: '$PYTHON -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
      exit 1
    }
  fi
  "$1/bin/python" -m pip install -q --upgrade pip
}

if [ "${1:-}" = "--test" ]; then
  shift
  venv="$here/.venv"
  make_venv "$venv"
  say "installing gitdata (editable) with the test extras into $venv"
  "$venv/bin/python" -m pip install -q -e "$here[test]"
  # An editable install has no bytecode until a first run writes it, which never happens where
  # PYTHONDONTWRITEBYTECODE is set (some CI sandboxes): every git-data the tests start would
  # compile its modules again (tests/test_everyday.py: 233 s without bytecode, 198 s with).
  "$venv/bin/python" -m compileall -q "$here/gitdata" >/dev/null
  # tests/migrate/test_lfs.py builds repositories with the real git-lfs
  if ! command -v git-lfs >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing git-lfs (apt-get install -y git-lfs) for the migrate tests"
    apt-get install -y -q git-lfs >/dev/null || say "apt-get install git-lfs failed; its tests are skipped"
  fi
  # The real DVC 3 and DVC 2 for tests/migrate/test_dvc.py, each in its own virtualenv, kept
  # under .dvc-venvs/ (DVC 2 needs the pathspec and dulwich of its time). A failed install only
  # makes those tests skip, with the reason from .dvc-venvs/NAME.failed.
  for spec in "dvc3:dvc" "dvc2:dvc<3 pathspec<0.12 dulwich<0.22"; do
    dvc_dir="$here/.dvc-venvs/${spec%%:*}"
    if [ ! -x "$dvc_dir/bin/dvc" ]; then
      say "installing ${spec#*:} into $dvc_dir (for the DVC import tests)"
      mkdir -p "$here/.dvc-venvs" && rm -f "$dvc_dir.failed"
      # shellcheck disable=SC2086 # the requirements are two words for DVC 2
      if ! { "$PYTHON" -m venv "$dvc_dir" && "$dvc_dir/bin/python" -m pip install -q ${spec#*:}; } \
        >"$dvc_dir.log" 2>&1; then
        { grep -v '^WARNING' "$dvc_dir.log" || true; } | tail -n 1 >"$dvc_dir.failed"
        [ -s "$dvc_dir.failed" ] || echo "python -m venv or pip install failed" >"$dvc_dir.failed"
        say "could not install DVC into $dvc_dir: its tests will skip (see $dvc_dir.log)"
      fi
    fi
  done
  cd "$here"
  say "running the tests"
  exec "$venv/bin/python" -m pytest -q "$@"
fi

quickstart=1
if [ "${1:-}" = "--no-quickstart" ]; then quickstart=0; shift; fi
if [ $# -gt 0 ]; then echo "install.sh: unknown argument: $1 (see the top of install.sh)" >&2; exit 2; fi

home=${GITDATA_HOME:-$HOME/.local/share/gitdata}
venv="$home/venv"
make_venv "$venv"
say "installing gitdata into $venv"
"$venv/bin/python" -m pip install -q "$here"

on_path() { case ":$PATH:" in *":$1:"*) return 0 ;; *) return 1 ;; esac; }
if [ -z "${BIN_DIR:-}" ]; then
  if on_path "$HOME/.local/bin"; then BIN_DIR=$HOME/.local/bin
  elif [ -w /usr/local/bin ] && on_path /usr/local/bin; then BIN_DIR=/usr/local/bin
  else BIN_DIR=$HOME/.local/bin
  fi
fi
mkdir -p "$BIN_DIR"
ln -sf "$venv/bin/git-data" "$BIN_DIR/git-data"
say "linked $BIN_DIR/git-data"
if ! on_path "$BIN_DIR"; then
  say "add $BIN_DIR to your PATH (e.g. in ~/.profile): export PATH=\"$BIN_DIR:\$PATH\""
  export PATH="$BIN_DIR:$PATH"
fi

# The command reference (docs/commands.md) as a man page: `git help data` and `git data --help`
# (which git turns into `git help data`) run `man git-data`. man-db looks in <dir>/../share/man
# for every <dir>/bin on PATH, so beside BIN_DIR needs no MANPATH.
MAN_DIR=${MAN_DIR:-$(dirname "$BIN_DIR")/share/man}
if mkdir -p "$MAN_DIR/man1" 2>/dev/null \
  && "$venv/bin/git-data" help --man >"$MAN_DIR/man1/git-data.1.tmp" 2>/dev/null \
  && mv "$MAN_DIR/man1/git-data.1.tmp" "$MAN_DIR/man1/git-data.1"; then
  say "installed the man page $MAN_DIR/man1/git-data.1 (git help data)"
else
  rm -f "$MAN_DIR/man1/git-data.1.tmp" 2>/dev/null || true
  say "could not install the man page into $MAN_DIR/man1 (set MAN_DIR); git data help works anyway"
fi

say "git data install"
(cd / && git data install)  # not from inside this checkout: no hooks in it

if [ "$quickstart" = 1 ]; then
  "$here/quickstart.sh"
fi
