"""Memory stays flat: migrating 50 MiB files streams them (peak RSS of git-data and every
process it starts, each on its own, under 200 MiB)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import random_file

SCRIPT = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mib(args: list[str], cwd) -> float:
    out = subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=cwd, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return int(out) / 1024


@pytest.mark.slow
def test_import_and_export_of_50_mib_files_stay_under_200_mib(env):
    repo = env.new_repo("big", track=None)
    for i in range(3):
        random_file(repo / "model.bin", 50 << 20, seed=i)
        env.commit_all(repo, f"v{i}")
    before = env.out("rev-parse", "HEAD", cwd=repo)
    rss = peak_rss_mib(["git-data", "migrate", "import", "--above", "1m"], repo)
    assert rss < 200, rss
    assert env.out("status", "--porcelain", cwd=repo) == ""
    rss = peak_rss_mib(["git-data", "migrate", "export"], repo)
    assert rss < 200, rss
    assert env.out("rev-parse", "HEAD", cwd=repo) == before
