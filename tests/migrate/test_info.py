"""git data migrate info: per pattern, over history; what import would convert."""

from __future__ import annotations

import json

from history_check import build


def test_info_table_and_json(env):
    repo = env.root / "plain"
    build(env, repo, commits=20)
    before = env.out("for-each-ref", cwd=repo)
    out = env.data("migrate", "info", "--everything", cwd=repo).stdout.decode()
    lines = out.splitlines()
    assert lines[0].split() == ["pattern", "versions", "total", "largest"]
    assert lines[1].startswith(("*.bin", "*.pt"))  # the biggest total first
    assert "import converts only what --include or --above chooses" in out
    doc = json.loads(
        env.data("migrate", "info", "--everything", "--above", "4k", "--json", cwd=repo).stdout
    )
    assert {p["pattern"] for p in doc["patterns"]} <= {"*.bin", "*.pt"}
    assert all(p["largest"] > 4096 for p in doc["patterns"])
    imp = doc["import"]
    assert imp["versions"] == sum(p["versions"] for p in doc["patterns"])
    assert imp["bytes"] == sum(p["total"] for p in doc["patterns"])
    assert all(line.startswith("/") for line in imp["attributes"])
    doc = json.loads(env.data("migrate", "info", "--include", "*.pt", "--json", cwd=repo).stdout)
    assert doc["refs"] == ["refs/heads/main"]
    assert doc["import"]["attributes"] == ["*.pt filter=data diff=data merge=data -text"]
    assert env.out("for-each-ref", cwd=repo) == before  # nothing written
