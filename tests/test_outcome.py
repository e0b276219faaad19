"""gitdata/outcome.py: the settle-once slot the filter and its download process keep per delayed
file in place of a Future (a clone delays every missing file at once)."""

from __future__ import annotations

import threading

import pytest

from gitdata.outcome import Outcome


def test_callbacks_run_once_settled_or_at_once_when_already():
    o, seen = Outcome(), []
    o.add_done_callback(lambda x: seen.append(("first", x.exception())))
    assert not o.done() and seen == []
    o.set_result(None)
    assert o.done() and seen == [("first", None)]
    o.add_done_callback(lambda x: seen.append(("late", x.exception())))
    assert seen[-1] == ("late", None)


def test_an_exception_reaches_every_callback_and_the_waiter():
    o, seen = Outcome(), []
    err = OSError("no space left")
    o.add_done_callback(lambda x: seen.append(x.exception()))
    o.add_done_callback(lambda x: seen.append(x.exception()))
    o.set_exception(err)
    assert seen == [err, err] and o.exception() is err


def test_settled_twice_is_a_bug():
    o = Outcome()
    o.set_result(None)
    with pytest.raises(RuntimeError):
        o.set_exception(OSError("late"))


def test_exception_blocks_until_another_thread_settles():
    first, second = Outcome(), Outcome()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(second.exception()))
    waiter.start()
    first.set_result(None)  # the shared condition wakes the waiter, which waits on
    waiter.join(0.2)
    assert waiter.is_alive() and got == []
    err = ValueError("gone")
    second.set_exception(err)
    waiter.join(5)
    assert got == [err]


def test_a_callback_that_raises_is_said_and_the_others_still_run(capsys):
    o, seen = Outcome(), []

    def broken(_: Outcome) -> None:
        raise KeyError("bug")

    o.add_done_callback(broken)
    o.add_done_callback(lambda x: seen.append("ran"))
    o.set_result(None)
    assert seen == ["ran"]
    assert "internal error in a download's callback: KeyError('bug')" in capsys.readouterr().err


def test_an_outcome_is_small():
    # the point of it: a clone of 30,000 files keeps one per file in two processes
    import sys

    assert sys.getsizeof(Outcome()) <= 64
