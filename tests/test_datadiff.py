"""Pairing renames and adding up totals: pure functions, no repository needed."""

from __future__ import annotations

from gitdata.datadiff import Change, pair_renames, top_dir, totals
from gitdata.git.diff import parse_raw
from gitdata.pointer import Pointer

P1 = Pointer("1" * 32, 100)
P2 = Pointer("2" * 32, 7)


def test_renames_pair_same_names_first_and_leave_the_rest():
    found = [
        Change("D", b"a/x.bin", P1, None),
        Change("D", b"a/y.bin", P1, None),
        Change("A", b"b/y.bin", None, P1),
        Change("A", b"c/z.bin", None, P1),
        Change("A", b"c/w.bin", None, P1),  # a third copy: stays an addition
        Change("D", b"gone.bin", P2, None),
    ]
    out = {(c.status, c.old_path, c.path) for c in pair_renames(found)}
    assert out == {
        ("R", b"a/y.bin", b"b/y.bin"),  # same base name
        ("R", b"a/x.bin", b"c/w.bin"),  # then in path order
        ("A", None, b"c/z.bin"),
        ("D", None, b"gone.bin"),
    }


def test_totals_count_a_rename_where_it_left_and_where_it_arrived():
    found = [
        Change("R", b"new/x.bin", P1, P1, old_path=b"old/x.bin"),
        Change("M", b"top.bin", P2, P1),
    ]
    overall, dirs = totals(found)
    assert (overall.files, overall.old_size, overall.new_size, overall.delta) == (2, 107, 200, 93)
    assert overall.by_status == {"R": 1, "M": 1}
    assert {d: (t.files, t.old_size, t.new_size) for d, t in dirs.items()} == {
        b"./": (1, 7, 100),
        b"new/": (1, 0, 100),
        b"old/": (1, 100, 0),
    }
    assert top_dir(b"a/b/c.bin") == b"a/" and top_dir(b"c.bin") == b"./"


def test_raw_records_with_any_bytes_in_names():
    z = "0" * 40
    out = (
        f":000000 100644 {z} {'a' * 40} A\0".encode() + b"new\nline \xff.bin\0"
        + f":100644 120000 {'b' * 40} {'c' * 40} T\0".encode() + b"link.bin\0"
    )  # fmt: skip
    a, t = parse_raw(out)
    assert (a.status, a.path) == ("A", b"new\nline \xff.bin")
    assert (a.old_is_file, a.new_is_file) == (False, True)
    assert (t.status, t.old_is_file, t.new_is_file, t.old_blob) == ("T", True, False, "b" * 40)
