from __future__ import annotations


def test_track_writes_spec_line_once_and_lists(env):
    repo = env.new_repo(track=None)
    env.data("track", "*.parquet", "my data/*.bin", cwd=repo)
    env.data("track", "*.parquet", cwd=repo)
    text = (repo / ".gitattributes").read_text()
    assert text == (
        "*.parquet filter=data diff=data merge=data -text\n"
        "my[[:space:]]data/*.bin filter=data diff=data merge=data -text\n"
    )
    assert env.data("track", cwd=repo).stdout.decode().splitlines() == [
        "*.parquet",
        "my data/*.bin",
    ]
    # git agrees about what is tracked
    attr = env.out("check-attr", "filter", "--", "my data/x.bin", "a.parquet", "a.txt", cwd=repo)
    assert attr.splitlines() == [
        "my data/x.bin: filter: data",
        "a.parquet: filter: data",
        "a.txt: filter: unspecified",
    ]


def test_untrack_removes_only_data_lines(env):
    repo = env.new_repo(track=None)
    (repo / ".gitattributes").write_text("*.txt text\n")
    env.data("track", "*.bin", "*.pt", cwd=repo)
    env.data("untrack", "*.bin", "*.nope", cwd=repo)
    assert (repo / ".gitattributes").read_text() == (
        "*.txt text\n*.pt filter=data diff=data merge=data -text\n"
    )


def test_track_outside_a_repository_is_one_clear_error(env):
    proc = env.data("track", "*.bin", cwd=env.root, check=False)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1
    assert lines[0] == "git-data: error: not in a git repository" and lines[1].startswith("hint:")
