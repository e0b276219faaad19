"""The architecture, asserted: imports point down; git/ and storage/ never meet but in services;
boto3 only in storage/s3.py; no pygit2 (git/scan.py says why); commands never import each other."""

from __future__ import annotations

import ast
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
