"""The filter-process server, driven with byte buffers as git would drive it."""

from __future__ import annotations

import io
import threading

import pytest

from gitdata.errors import GitDataError
from gitdata.git.filter_protocol import DELAYED, FilterServer
from gitdata.git.pktline import PktReader, PktWriter, ProtocolError


def conversation(
    *requests: tuple[list[bytes], bytes | None], caps=(b"clean", b"smudge", b"delay")
) -> bytes:
    out = io.BytesIO()
    w = PktWriter(out)
    w.write_list([b"git-filter-client", b"version=2"])
    w.write_list([b"capability=" + c for c in caps])
    for headers, content in requests:
        w.write_list(headers)
        if content is not None:
            w.write_data(content)
            w.write_flush()
    return out.getvalue()


def responses(raw: bytes) -> list[list[bytes]]:
    """Split the server's output into flush-terminated lists (content packets joined)."""
    r = PktReader(io.BytesIO(raw))
    lists = []
    while True:
        try:
            items = []
            while True:
                p = r.read_pkt()
                if p is None:
                    break
                items.append(p)
            lists.append(items)
        except EOFError:
            return lists


class Echo:
    """clean upper-cases, smudge lower-cases; 'bad' paths fail; 'slow' paths are delayed."""

    def __init__(self):
        self.delayed = []
        self.sent = []

    def clean(self, req, content):
        if "bad" in req.pathname:
            content.read(3)  # a handler that gives up half-way
            raise GitDataError(f"{req.pathname}: cannot clean")
        return content.read().upper()

    def smudge(self, req, content):
        data = content.read()
        if "slow" in req.pathname and req.can_delay:
            self.delayed.append(req.pathname)
            return DELAYED
        if req.pathname in self.sent:
            return b"late:" + req.pathname.encode()
        return io.BytesIO(data.lower())

    def available(self):
        ready, self.delayed = list(self.delayed), []
        self.sent += ready
        return ready


def serve(raw: bytes, handler=None) -> tuple[list[list[bytes]], str]:
    out, err = io.BytesIO(), io.StringIO()
    FilterServer(io.BytesIO(raw), out, handler or Echo(), stderr=err).serve()
    return responses(out.getvalue()), err.getvalue()


def test_handshake_answers_only_offered_capabilities():
    lists, _ = serve(conversation(caps=(b"clean", b"smudge")))
    assert lists == [
        [b"git-filter-server\n", b"version=2\n"],
        [b"capability=clean\n", b"capability=smudge\n"],
    ]


def test_clean_and_smudge():
    lists, _ = serve(
        conversation(
            ([b"command=clean", b"pathname=a.bin"], b"hello"),
            ([b"command=smudge", b"pathname=b.bin"], b"WORLD"),
        )
    )
    assert lists[2:] == [
        [b"status=success\n"],
        [b"HELLO"],
        [],
        [b"status=success\n"],
        [b"world"],
        [],
    ]


def test_error_on_one_file_keeps_the_process_alive():
    lists, err = serve(
        conversation(
            ([b"command=clean", b"pathname=bad.bin"], b"x" * 200_000),
            ([b"command=clean", b"pathname=good.bin"], b"ok"),
        )
    )
    assert lists[2] == [b"status=error\n"]
    assert lists[3:] == [[b"status=success\n"], [b"OK"], []]
    assert "git-data: error: bad.bin: cannot clean" in err


def test_a_bug_in_a_handler_is_a_per_file_error():
    class Buggy(Echo):
        def smudge(self, req, content):
            raise ZeroDivisionError("oops")

    lists, err = serve(
        conversation(
            ([b"command=smudge", b"pathname=x"], b"p"), ([b"command=clean", b"pathname=y"], b"q")
        ),
        Buggy(),
    )
    assert lists[2] == [b"status=error\n"]
    assert lists[3:] == [[b"status=success\n"], [b"Q"], []]
    assert "ZeroDivisionError" in err and "Traceback" not in err


def test_stream_failure_half_way_reports_error_after_content():
    class Broken(io.BytesIO):
        def readinto(self, b):
            raise OSError("disk went away")

    class H(Echo):
        def smudge(self, req, content):
            content.read()
            return Broken()

    lists, err = serve(conversation(([b"command=smudge", b"pathname=x"], b"p")), H())
    assert lists[2:] == [[b"status=success\n"], [], [b"status=error\n"]]
    assert "disk went away" in err


def test_delay_then_list_available_then_deliver():
    lists, _ = serve(
        conversation(
            ([b"command=smudge", b"pathname=slow.bin", b"can-delay=1"], b"ptr"),
            ([b"command=list_available_blobs"], None),
            ([b"command=smudge", b"pathname=slow.bin"], b""),
            ([b"command=list_available_blobs"], None),
        )
    )
    assert lists[2] == [b"status=delayed\n"]
    assert lists[3:5] == [[b"pathname=slow.bin\n"], [b"status=success\n"]]
    assert lists[5:8] == [[b"status=success\n"], [b"late:slow.bin"], []]
    assert lists[8:] == [[], [b"status=success\n"]]


def test_bad_handshake_is_a_protocol_error():
    out = io.BytesIO()
    w = PktWriter(out)
    w.write_list([b"hello"])
    with pytest.raises(ProtocolError):
        FilterServer(io.BytesIO(out.getvalue()), io.BytesIO(), Echo()).serve()


def test_real_handler_round_trip(tmp_path):
    """FilterHandler over a real cache: clean stores the bytes, smudge gives them back."""
    from gitdata.cache import Cache
    from gitdata.filter_handler import FilterHandler

    class Ctx:
        cache = Cache(str(tmp_path / "objects"))
        stat_cache = None

        class settings:  # noqa: N801
            skip_smudge = False
            big_file_threshold = 1 << 30
            transfers = 2

    data = bytes(range(256)) * 1000
    lists, err = serve(conversation(([b"command=clean", b"pathname="], data)), FilterHandler(Ctx()))
    ptr = lists[3][0]
    assert ptr.startswith(b"version gitdata/1\noid xxh128:")
    lists, err = serve(
        conversation(([b"command=smudge", b"pathname=a"], ptr)), FilterHandler(Ctx())
    )
    assert b"".join(lists[3]) == data, err


def test_available_blocks_until_a_download_finishes():
    """list_available_blobs must block, not answer an empty list, while downloads run."""
    from gitdata.filter_handler import FilterHandler

    h = FilterHandler.__new__(FilterHandler)
    import queue
    from concurrent.futures import Future

    h._delayed, h._finished, h._done, h._pointers, h._fetcher = {}, {}, queue.Queue(), {}, None
    fut: Future[None] = Future()
    h._delayed["a"] = fut
    fut.add_done_callback(lambda _f: h._done.put("a"))
    threading.Timer(0.2, lambda: fut.set_result(None)).start()
    assert h.available() == ["a"]
    assert h.available() == []
