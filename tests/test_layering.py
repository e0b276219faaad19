"""The architecture, asserted: imports point down; git/ and storage/ never meet but in services;
boto3 only in storage/s3.py; no pygit2 (git/scan.py says why); commands never import each other;
the chunked store's libraries (blake3, pyfastcdc, zstandard) only inside storage/chunked/, only
when used, and storage/chunked/ below the services."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "gitdata"


def imports(path: Path) -> set[str]:
    """Absolute module names imported by `path` (relative imports resolved)."""
    mod = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
    package = mod.rsplit(".", 1)[0] if path.name != "__init__.py" else mod
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
                out.add(name)
                out |= {f"{name}.{a.name}" for a in node.names}
            else:
                out.add(node.module or "")
    return out


def modules(sub: str = "") -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


def test_git_and_storage_never_import_each_other():
    for p in modules("git"):
        assert not any(m.startswith("gitdata.storage") for m in imports(p)), p
    for p in modules("storage"):
        assert not any(m.startswith("gitdata.git") for m in imports(p)), p


def test_heavy_libraries_stay_in_their_corner():
    for p in modules():
        mods = imports(p)
        if any(m.split(".")[0] in ("boto3", "botocore") for m in mods):
            assert p.parent.name == "storage", p
        # importing pygit2 costs 70 ms, half of a push with nothing to copy: git reads instead
        assert not any(m.split(".")[0] == "pygit2" for m in mods), p


def test_commands_do_not_import_each_other():
    for p in modules("commands"):
        assert not any(m.startswith("gitdata.commands.") for m in imports(p)), p


def test_lower_layers_do_not_import_services():
    services = {"gitdata.sync", "gitdata.filters", "gitdata.transfer", "gitdata.resolve",
                "gitdata.commands", "gitdata.cli"}  # fmt: skip
    for sub in ("git", "storage"):
        for p in modules(sub):
            assert not (imports(p) & services), p


# --- the chunked store (docs/chunked-store.md 8.1) -------------------------------------------

CHUNK_LIBS = {"blake3", "pyfastcdc", "zstandard"}
CHUNKED = PKG / "storage" / "chunked"


def module_level_imports(path: Path) -> set[str]:
    """Top-level names of what `path` imports when it is imported (not inside functions)."""
    out: set[str] = set()

    def visit(nodes: list[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                out.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                out.add((node.module or "").split(".")[0])
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for field in ("body", "orelse", "finalbody", "handlers"):  # if, try, class, with...
                visit(list(getattr(node, field, [])))

    visit(list(ast.parse(path.read_text()).body))
    return out


def test_chunked_store_never_imports_git_cache_transfer_or_sync():
    forbidden = ["gitdata.git", "gitdata.cache", "gitdata.transfer", "gitdata.sync"]
    forbidden += ["gitdata.filters", "gitdata.resolve", "gitdata.commands", "gitdata.cli"]
    chunked = modules("storage/chunked")
    assert chunked
    for p in chunked:
        for m in imports(p):
            assert not any(m == f or m.startswith(f + ".") for f in forbidden), (p, m)


def test_chunk_format_imports_nothing_of_gitdata_but_errors():
    for p in modules("storage/chunked/format"):
        for m in imports(p):
            if m.startswith("gitdata."):
                assert m.startswith(("gitdata.errors", "gitdata.storage.chunked.format")), (p, m)


def test_chunk_libraries_only_in_the_chunked_store_and_only_when_used():
    for p in modules():
        if any(m.split(".")[0] in CHUNK_LIBS for m in imports(p)):
            assert CHUNKED in p.parents, p
        assert not module_level_imports(p) & CHUNK_LIBS, f"{p} imports a chunk library at load"


def test_filters_and_cli_load_no_chunk_library():
    """What `git-data filter-process` and every command load: none of the three (17-19 ms
    of import each for zstandard and pyfastcdc), even with the chunked modules imported."""
    loaded = f"print(sorted(m for m in sys.modules if m.split('.')[0] in {CHUNK_LIBS!r}))\n"
    code = (
        "import sys\n"
        "import gitdata.filters, gitdata.filter_handler, gitdata.cli\n"
        + loaded
        + "import gitdata.storage.chunked.packer, gitdata.storage.chunked.format.manifest\n"
        + loaded
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


def test_chunked_store_modules_import_downward():
    """8.1: `index` imports `format` (and `indexdb`, which opens its file); `manifests`
    imports `index`, `format` and `storage`; `reader` imports those. Nothing of gitdata else
    but errors (and retry for threads)."""
    allowed = {
        "rows": {"format"},
        "indexdb": set(),
        "index": {"format", "rows", "indexdb"},
        "manifests": {"format", "index"},
        "packindex": {"format", "index"},
        "plan": {"format", "index", "manifests", "packindex", "chunker"},
        "reader": {"format", "index", "manifests", "packindex", "plan"},
    }
    for name, own in allowed.items():
        path = CHUNKED / f"{name}.py"
        if not path.exists():
            continue
        for m in imports(path):
            if not m.startswith("gitdata."):
                continue
            inner = m.removeprefix("gitdata.storage.chunked.").split(".")[0]
            if m.startswith("gitdata.storage.chunked."):
                assert inner in own, (path, m)
            elif name in ("index", "indexdb"):
                assert m.startswith("gitdata.errors"), (path, m)
            else:
                assert m.startswith(("gitdata.errors", "gitdata.storage")), (path, m)
