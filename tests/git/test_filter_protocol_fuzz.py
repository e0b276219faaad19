"""Fuzzing the filter-process request loop (hypothesis): bad requests with valid framing get
`status=error` and the well-formed requests around them get exactly their answers; broken framing
ends the conversation with ProtocolError and nothing else; no input hangs the server. The last
tests drive the real FilterHandler over a real repository, and a real `git-data filter-process`.
"""

from __future__ import annotations

import io
import os
import subprocess
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitdata.git.filter_protocol import FilterServer
from gitdata.git.pktline import MAX_DATA, PktReader, PktWriter, ProtocolError

CAPS = (b"clean", b"smudge", b"delay")


class Echo:
    """clean upper-cases, smudge lower-cases (as a stream); pathnames with 'bad' fail."""

    def clean(self, req, content):
        if "bad" in req.pathname:
            content.read(3)
            raise ValueError("cannot clean")
        return content.read().upper()

    def smudge(self, req, content):
        if "bad" in req.pathname:
            raise ValueError("cannot smudge")
        return io.BytesIO(content.read().lower())

    def available(self):
        return []


@dataclass
class Req:
    headers: list[bytes]
    content: bytes | None  # None: no content list follows the headers
    expect: tuple


def handshake(w: PktWriter, caps=CAPS) -> None:
    w.write_list([b"git-filter-client", b"version=2"])
    w.write_list([b"capability=" + c for c in caps])


def encode(reqs: list[Req]) -> bytes:
    out = io.BytesIO()
    w = PktWriter(out)
    handshake(w)
    for r in reqs:
        w.write_list(r.headers)
        if r.content is not None:
            w.write_data(r.content)
            w.write_flush()
    return out.getvalue()


def answers(raw: bytes) -> list[tuple]:
    """The server's output after the handshake, as one tuple per answer."""
    r = PktReader(io.BytesIO(raw))

    def lst() -> list[bytes]:
        items = []
        while (p := r.read_pkt()) is not None:
            items.append(p)
        return items

    lst(), lst()  # handshake
    out: list[tuple] = []
    while True:
        try:
            first = lst()
        except EOFError:
            return out
        if first == [b"status=success\n"]:
            body = b"".join(lst())
            final = lst()
            out.append(("ok", body) if final == [] else ("error after", body, final))
        elif first == [b"status=error\n"]:
            out.append(("error",))
        elif first == [b"status=delayed\n"]:
            out.append(("delayed",))
        else:
            assert all(p.startswith(b"pathname=") for p in first), first
            out.append(("list", first, lst()))


def serve(raw: bytes, handler=None) -> tuple[bytes, str]:
    out, err = io.BytesIO(), io.StringIO()
    FilterServer(io.BytesIO(raw), out, handler or Echo(), stderr=err).serve()
    return out.getvalue(), err.getvalue()


# pathnames git could send: no NUL, and none of Echo's magic words
names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30
).filter(lambda s: "bad" not in s)
bodies = st.binary(max_size=600) | st.integers(MAX_DATA - 1, 2 * MAX_DATA + 1).map(
    lambda n: b"aB" * (n // 2) + b"z" * (n % 2)
)


@st.composite
def good_requests(draw) -> Req:
    kind = draw(st.sampled_from(["clean", "smudge", "list", "fail"]))
    if kind == "list":
        return Req([b"command=list_available_blobs"], None, ("list", [], [b"status=success\n"]))
    path = draw(names)
    body = draw(bodies)
    if kind == "fail":
        cmd = draw(st.sampled_from([b"clean", b"smudge"]))
        return Req([b"command=" + cmd, b"pathname=bad" + path.encode()], body, ("error",))
    headers = [b"command=" + kind.encode(), b"pathname=" + os.fsencode(path)]
    if draw(st.booleans()):
        headers.append(b"ref=refs/heads/main")
    want = body.upper() if kind == "clean" else body.lower()
    return Req(headers, body, ("ok", want))


garbage_header = st.binary(min_size=1, max_size=40).filter(lambda h: b"=" not in h)
any_header = st.one_of(
    garbage_header,
    st.builds(lambda k, v: k + b"=" + v, st.binary(max_size=12), st.binary(max_size=20)),
)


@st.composite
def bad_requests(draw) -> Req:
    """Valid framing, headers that are not a request we serve: answered with status=error."""
    command = draw(
        st.sampled_from([None, b"clean", b"smudge", b"list_available_blobs", b"", b"delete"])
        | st.binary(min_size=1, max_size=10).filter(
            lambda c: c not in (b"clean", b"smudge", b"list_available_blobs")
        )
    )
    extra = draw(st.lists(any_header, max_size=5))
    headers = list(extra)
    served = command in (b"clean", b"smudge", b"list_available_blobs")
    problem = not served
    if served and draw(st.booleans()):
        headers.append(b"pathname=x\0y")  # a NUL byte: no such path
        problem = True
    if served and (not problem or draw(st.booleans())):
        headers.insert(draw(st.integers(0, len(headers))), draw(garbage_header))
        problem = True
    assert problem
    if command is not None:
        headers.insert(draw(st.integers(0, len(headers))), b"command=" + command)
        # a later header may not say command= again (the last one wins)
        headers = [h for h in headers if not h.startswith(b"command=")] + [b"command=" + command]
    if command == b"list_available_blobs":
        return Req(headers, None, ("list", [], [b"status=error\n"]))
    content = draw(bodies) if command in (b"clean", b"smudge") else None
    return Req(headers, content, ("error",))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(good_requests(), bad_requests()), min_size=1, max_size=8))
def test_bad_requests_get_errors_and_the_rest_their_answers(reqs):
    raw, err = serve(encode(reqs))
    assert answers(raw) == [r.expect for r in reqs]
    assert "Traceback" not in err
    failing = (("error",), ("list", [], [b"status=error\n"]))
    assert err.count("git-data: error:") == sum(r.expect in failing for r in reqs)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(st.binary(min_size=1, max_size=30), max_size=4), max_size=10))
def test_any_framed_lists_never_kill_the_server_but_at_a_truncated_end(lists):
    """Arbitrary packets in valid framing: the server answers everything; the only way out is
    input that ends where a clean/smudge's content should be."""
    out = io.BytesIO()
    w = PktWriter(out)
    handshake(w)
    for items in lists:
        for item in items:
            w.write_pkt(item)
        w.write_flush()
    try:
        raw, err = serve(out.getvalue())
    except ProtocolError as e:
        assert "input ended inside content" in str(e)
        return
    answers(raw)  # well framed
    assert "Traceback" not in err


@st.composite
def cut_requests(draw) -> bytes:
    """Requests cut short anywhere, then anything."""
    raw = encode(draw(st.lists(good_requests(), min_size=1, max_size=3)))
    start = len(encode([]))
    cut = draw(st.integers(start, len(raw)))
    return raw[start:cut] + draw(st.binary(max_size=40))


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=300) | cut_requests())
def test_broken_framing_is_a_protocol_error_and_nothing_else(tail):
    out = io.BytesIO()
    handshake(PktWriter(out))
    try:
        serve(out.getvalue() + tail)
    except ProtocolError:
        pass


# --- the real handler over a real repository ------------------------------------------------


@pytest.fixture(scope="module")
def repo_ctx(tmp_path_factory):
    """A repository whose origin is an empty bare repository (so a store with nothing in it)."""
    root = tmp_path_factory.mktemp("fuzzrepo")
    env = dict(os.environ, HOME=str(root), GIT_CONFIG_NOSYSTEM="1")
    env.pop("GIT_DATA_SKIP_SMUDGE", None)
    for args in (
        ["init", "-q", str(root / "repo")],
        ["init", "-q", "--bare", str(root / "origin.git")],
        ["-C", str(root / "repo"), "remote", "add", "origin", str(root / "origin.git")],
    ):
        subprocess.run(["git", *args], check=True, env=env)
    from gitdata.context import Context

    ctx = Context(cwd=str(root / "repo"))
    ctx.settings  # noqa: B018 - read once, while HOME is the sandbox's
    return ctx


@st.composite
def handler_requests(draw):
    from gitdata.pointer import Pointer

    kind = draw(st.sampled_from(["clean", "smudge-known", "smudge-missing", "smudge-text", "bad"]))
    if kind == "bad":
        return draw(bad_requests()), None
    body = draw(st.binary(max_size=3000))
    return kind, body if kind != "smudge-missing" else Pointer("f" * 32, len(body)).encode()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(handler_requests(), min_size=1, max_size=6))
def test_real_handler_survives_a_mixed_conversation(repo_ctx, script):
    from gitdata.filter_handler import FilterHandler
    from gitdata.hashing import hash_bytes
    from gitdata.pointer import Pointer, parse

    reqs: list[Req] = []
    for kind, body in script:
        if isinstance(kind, Req):
            reqs.append(kind)
            continue
        passes = body == b"" or parse(body) is not None
        if kind == "clean":
            want = body if passes else Pointer(hash_bytes(body), len(body)).encode()
            reqs.append(Req([b"command=clean", b"pathname=f.bin"], body, ("ok", want)))
        elif kind == "smudge-known":
            repo_ctx.cache.store_bytes(body) if not passes else None
            ptr = body if passes else Pointer(hash_bytes(body), len(body)).encode()
            reqs.append(Req([b"command=smudge", b"pathname=f.bin"], ptr, ("ok", body)))
        elif kind == "smudge-text":  # ordinary content checked in: passes through
            reqs.append(Req([b"command=smudge", b"pathname=t.bin"], body, ("ok", body)))
        else:
            reqs.append(Req([b"command=smudge", b"pathname=gone.bin"], body, ("error",)))
    raw, err = serve(encode(reqs), FilterHandler(repo_ctx))
    assert answers(raw) == [r.expect for r in reqs], err
    assert "Traceback" not in err and "a bug in gitdata" not in err, err


def test_real_filter_process_lives_on_after_bad_requests(env):
    """`git-data filter-process` itself: garbage, then real work, then a clean exit."""
    repo = env.new_repo()
    reqs = [
        Req([b"command=clean", b"no equals sign", b"pathname=a.bin"], b"xyz", ("error",)),
        Req([b"pathname=a.bin"], None, ("error",)),
        Req([b"command=frobnicate", b"pathname=a.bin"], None, ("error",)),
        Req([b"command=list_available_blobs", b"\xff"], None, ("list", [], [b"status=error\n"])),
        Req([b"command=smudge", b"pathname=a\0.bin"], b"abc", ("error",)),
        Req([b"command=smudge", b"pathname=t.bin"], b"plain text", ("ok", b"plain text")),
    ]
    proc = env.run(["git-data", "filter-process"], cwd=repo, input=encode(reqs), timeout=30)
    assert answers(proc.stdout) == [r.expect for r in reqs]
    err = proc.stderr.decode()
    assert err.count("git-data: error:") == 5 and "Traceback" not in err, err
    # broken framing: one line, exit 1, no traceback
    proc = env.run(
        ["git-data", "filter-process"],
        cwd=repo,
        input=encode(reqs[:1]) + b"00zz",
        check=False,
        timeout=30,
    )
    assert proc.returncode == 1
    assert proc.stderr.decode().count("git-data: error: filter protocol:") == 1
    assert b"Traceback" not in proc.stderr
