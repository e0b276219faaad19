"""`git data …`: argparse and dispatch only. Command modules are imported when run, so that
`git-data filter-process` loads only what it uses."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__, output
from .errors import EXIT_BUG, EXIT_INTERRUPTED, GitDataError, UsageError


class Parser(argparse.ArgumentParser):
    """As git does: `-h` prints a short usage, `--help` the command's reference (its section of
    docs/commands.md, the text `git data help COMMAND` shows)."""

    def __init__(self, *args: Any, add_help: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "add_help": False})
        if add_help:
            self.add_argument("-h", action="help", help="show this short usage and exit")
            self.add_argument(
                "--help",
                action=_Reference,
                nargs=0,
                dest=argparse.SUPPRESS,
                default=argparse.SUPPRESS,
                help="show the reference and exit",
            )

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message, f"see `{self.prog} -h`")


class _Reference(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from .commands.help import help as show_reference

        words = parser.prog.split()[2:]  # "git data remote add" -> remote add
        parser.exit(show_reference(words))


#: Commands that take `[-- PATH...]` after their other arguments.
PATHSPEC_COMMANDS = ("diff",)


def build_parser(only: str | None = None) -> Parser:
    """The whole parser, or with `only`, the parser of that one command: git starts the filter
    and hooks often, and building every subparser costs more than parsing."""
    p = Parser(prog="git data", description="Version large data files inside ordinary Git.")
    p.add_argument("--version", action="version", version=f"git-data {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    names: list[str] = []

    def cmd(name: str, help: str) -> Parser:
        names.append(name)
        if only is not None and name != only:
            return Parser(add_help=False)  # a stand-in that is never parsed with
        return sub.add_parser(name, help=help, description=help)  # type: ignore[return-value]

    def scope(sp: Parser) -> None:
        g = sp.add_mutually_exclusive_group()
        g.add_argument(
            "--local",
            dest="scope",
            action="store_const",
            const="local",
            help="this repository's config",
        )
        g.add_argument(
            "--system", dest="scope", action="store_const", const="system", help="the system config"
        )

    sp = cmd("install", "register the data filter in git config and install the hooks here")
    scope(sp)
    sp.add_argument(
        "--skip-smudge",
        action="store_true",
        help="leave pointers on checkout; `git data pull` fills them",
    )
    sp = cmd("uninstall", "remove the data filter from git config and the hooks from here")
    scope(sp)
    sp = cmd("track", "track files matching PATTERN with gitdata (.gitattributes)")
    sp.add_argument("patterns", nargs="*", metavar="PATTERN")
    sp = cmd("untrack", "stop tracking PATTERN")
    sp.add_argument("patterns", nargs="*", metavar="PATTERN")
    sp = cmd("ls-files", "list the data files in HEAD")
    sp.add_argument("--all", dest="all_history", action="store_true", help="all history")
    sp.add_argument("--long", action="store_true", help="full oid and size")
    sp.add_argument("--json", dest="as_json", action="store_true")
    sp = cmd("diff", "data files added, deleted, modified and renamed, with sizes")
    sp.usage = "%(prog)s [-h] [--cached] [--stat] [--json] [REV [REV]] [-- PATH ...]"
    sp.add_argument(
        "revs",
        nargs="*",
        metavar="REV",
        help="none: HEAD against the worktree; one: REV against the worktree (the index with "
        "--cached); two, A..B or A...B: two revisions",
    )
    sp.add_argument("--cached", action="store_true", help="compare with the index")
    sp.add_argument("--stat", action="store_true", help="only the totals")
    sp.add_argument("--json", dest="as_json", action="store_true")
    sp = cmd("status", "what the next push uploads; which files are still pointers")
    sp.add_argument("--json", dest="as_json", action="store_true")
    sp.add_argument(
        "--remote",
        nargs="?",
        const="",
        metavar="NAME",
        help="also ask the store of Git remote NAME (default: the download remote) which data "
        "files of HEAD it lacks",
    )
    sp = cmd("push", "upload what REF… need and the store lacks")
    sp.add_argument("remote", nargs="?", metavar="REMOTE")
    sp.add_argument("refs", nargs="*", metavar="REF")
    sp.add_argument("--all", dest="all_refs", action="store_true", help="every ref")
    sp.add_argument("--dry-run", action="store_true")
    for name, help in (
        ("fetch", "download into the cache what HEAD needs"),
        ("pull", "fetch, then write the bytes over pointer files"),
    ):
        sp = cmd(name, help)
        sp.add_argument("remote", nargs="?", metavar="REMOTE")
        if name == "fetch":
            sp.add_argument(
                "--all", dest="all_refs", action="store_true", help="every ref's whole history"
            )
        sp.add_argument("--include", action="append", metavar="GLOB")
        sp.add_argument("--exclude", action="append", metavar="GLOB")
    sp = cmd("get", "write a file or folder of another repository here, without cloning it")
    sp.add_argument("url", metavar="URL", help="the repository, as for git clone")
    sp.add_argument("path", metavar="PATH", help="a file or folder, from the top of it")
    sp.add_argument("-o", "--out", metavar="OUT", help="where to write it (default: its name)")
    sp.add_argument("--rev", metavar="REV", help="a branch, tag or commit id (default: HEAD)")
    sp = cmd("ls", "list the files of another repository, without cloning it")
    sp.add_argument("url", metavar="URL", help="the repository, as for git clone")
    sp.add_argument("path", nargs="?", metavar="PATH", help="a file or folder (default: all)")
    sp.add_argument("--rev", metavar="REV", help="a branch, tag or commit id (default: HEAD)")
    sp.add_argument("--json", dest="as_json", action="store_true")
    sp = cmd("migrate", "convert history from plain Git, git-lfs or DVC to data files, or back")
    msub = sp.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser, required=True)
    for action, help in (
        ("info", "which paths take how much space in history; what import would convert"),
        ("import", "rewrite history so that matching files become data files"),
        ("export", "rewrite history so that data files become ordinary files again"),
    ):
        m = msub.add_parser(action, help=help, description=help)
        if action != "export":
            m.add_argument("--above", metavar="SIZE", help="only files larger than SIZE (10m)")
        m.add_argument("--include", action="append", metavar="GLOB", help="only these paths")
        m.add_argument("--exclude", action="append", metavar="GLOB", help="not these paths")
        m.add_argument("--everything", action="store_true", help="every branch and tag")
        m.add_argument("refs", nargs="*", metavar="REF", help="default: the current branch")
        if action == "info":
            m.add_argument("--json", dest="as_json", action="store_true")
        if action == "import":
            m.add_argument(
                "--no-rewrite", action="store_true", help="convert HEAD's tree in one new commit"
            )
            m.add_argument("--from-lfs", action="store_true", help="git-lfs pointers and objects")
            # --from-dvc, --dvc-remote: gitdata/migrate/dvc.py (dispatched in commands/migrate.py)
            m.add_argument("--from-dvc", action="store_true", help="a DVC project's .dvc files")
            m.add_argument(
                "--dvc-remote", metavar="URL", help="where DVC's bytes are, if not cached"
            )
            m.add_argument(
                "--keep-remote",
                action="store_true",
                help="with --from-dvc: the DVC remote becomes the default data remote",
            )
            m.add_argument(
                "--rewrite",
                action="store_true",
                help="with --from-dvc: rewrite history instead of one new commit",
            )
    sp = cmd("checkout", "replace pointer files by their bytes from the cache")
    sp.add_argument("pathspecs", nargs="*", metavar="PATH")
    sp = cmd("gc", "delete cache objects nothing references (--remote: store objects)")
    sp.add_argument("--dry-run", action="store_true", help="list what would go; delete nothing")
    sp.add_argument("--json", dest="as_json", action="store_true")
    sp.add_argument(
        "--grace", metavar="DURATION", help="keep younger objects (default 1h, 14d with --remote)"
    )
    sp.add_argument(
        "--keep-recent",
        type=int,
        metavar="DAYS",
        help="also delete what only older history needs, once the data remote confirms it",
    )
    sp.add_argument("--remote", metavar="NAME", help="collect the store of Git remote NAME")
    sp.add_argument("--yes", action="store_true", help="confirm deleting from the store")
    sp = cmd("fsck", "verify cached bytes, and that every pointer has its bytes")
    sp.add_argument(
        "--remote", metavar="NAME", help="check that this remote's store itself holds the bytes"
    )
    sp.add_argument("--all", dest="all_history", action="store_true", help="all history")
    sp.add_argument(
        "--full", action="store_true", help="with --remote: also read and hash the stored bytes"
    )
    sp = cmd("help", "show the reference of COMMAND, or a guide; with none, list them")
    sp.add_argument("topic", nargs="*", metavar="COMMAND")
    sp.add_argument("--man", action="store_true", help="print the command reference as a man page")
    sp = cmd("pointer", "print the pointer FILE would get")
    sp.add_argument("file", metavar="FILE")
    sp = cmd("remote", "manage data remotes: .gitdata.toml, or git config with --local")
    rsub = sp.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser, required=True)
    local_help = "this repository's git config instead of .gitdata.toml"
    r = rsub.add_parser("add", help="add data remote NAME at URL", description="add a data remote")
    r.add_argument("name", metavar="NAME")
    r.add_argument("url", metavar="URL", help="s3://bucket[/prefix], /abs/path or file:///abs/path")
    r.add_argument("--endpoint-url", metavar="U", help="an S3-compatible service's address")
    r.add_argument("--region", metavar="R")
    r.add_argument("--default", action="store_true", help="make it the default data remote")
    r.add_argument("--local", action="store_true", help=local_help)
    r = rsub.add_parser("list", help="list the data remotes", description="list the data remotes")
    r.add_argument("--json", dest="as_json", action="store_true")
    for action, help in (("remove", "remove data remote NAME"), ("default", "set the default")):
        r = rsub.add_parser(action, help=help, description=help)
        r.add_argument("name", metavar="NAME", nargs=None if action == "remove" else "?")
        r.add_argument("--local", action="store_true", help=local_help)
    sp = cmd("env", "print the resolved configuration")
    sp.add_argument("--json", dest="as_json", action="store_true")
    sp = cmd("textconv", "plumbing: the diff driver's one line for a data file")
    sp.add_argument("file", metavar="FILE")
    sp = cmd("clean", "plumbing: clean filter (stdin to stdout)")
    sp.add_argument("path", nargs="?", metavar="PATH")
    sp = cmd("smudge", "plumbing: smudge filter (stdin to stdout)")
    sp.add_argument("--skip", action="store_true")
    sp.add_argument("path", nargs="?", metavar="PATH")
    sp = cmd("filter-process", "plumbing: the long-running filter git starts")
    sp.add_argument("--skip-smudge", action="store_true")
    cmd("fetch-worker", "plumbing: the filter's download process")
    sp = cmd("merge-driver", "plumbing: the merge=data driver git runs on a conflict")
    for arg in ("base", "ours", "theirs"):
        sp.add_argument(arg)
    sp.add_argument("path", nargs="?", default="")
    sp = cmd("hook", "plumbing: run by the hook shims")
    sp.add_argument("name", metavar="HOOK")
    sp.add_argument("args", nargs=argparse.REMAINDER, metavar="ARG")
    if only is not None and only not in names:
        return build_parser()  # not a command: the full parser says so, with the choices
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `git-data clean -- %f`: argparse would take `--` as the end of options, which it is.
    try:
        first = argv[0] if argv and not argv[0].startswith("-") else None
        # `git data diff REV -- PATH`: argparse cannot tell revisions from paths once `--` is
        # gone, so the paths are cut off first, as git itself reads them
        pathspecs = None
        if first in PATHSPEC_COMMANDS and "--" in argv:
            cut = argv.index("--")
            argv, pathspecs = argv[:cut], argv[cut + 1 :]
        args = build_parser(first).parse_args(argv)
        if not args.command:
            build_parser().print_help(sys.stderr)
            return 2
        kwargs = {k: v for k, v in vars(args).items() if k != "command"}
        if args.command in PATHSPEC_COMMANDS:
            kwargs["pathspecs"] = pathspecs or []
        module = importlib.import_module(f".commands.{args.command.replace('-', '_')}", __package__)
        func = getattr(module, args.command.replace("-", "_"))
        return int(func(**kwargs) or 0)
    except GitDataError as e:
        output.error_list(e.message, e.details, e.hint)
        return e.exit_code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`git data ls-files | head`): not an error worth a message
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except Exception as e:  # noqa: BLE001 - the one place a bug is turned into a message
        import tempfile
        import traceback

        from .config import redact_url

        # mkstemp: a fresh name, mode 0600, never through a link planted in a shared /tmp;
        # the command line may hold a URL with credentials (the pre-push hook's): redacted.
        try:
            fd, log = tempfile.mkstemp(prefix=f"git-data-crash-{os.getpid()}-", suffix=".log")
            with open(fd, "w") as f:
                f.write(f"git-data {__version__} {' '.join(map(redact_url, argv))}\n")
                traceback.print_exc(file=f)
        except OSError:
            log = "(could not write a crash log)"
        output.error(
            f"internal error: {type(e).__name__}: {e}",
            f"this is a bug in gitdata; please report it with {log}",
        )
        return EXIT_BUG


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
