"""pkt-line framing (gitprotocol-common(5)): a 4-hex-digit length that counts itself, then data.

"0000" is a flush packet. A data packet carries at most 65516 bytes. The reader and writer work
on any binary stream so that they are tested with io.BytesIO; content is moved with readinto()
into reused buffers and written with few, large write() calls: this is the hot path of `git add`.
"""

from __future__ import annotations

from typing import BinaryIO

MAX_DATA = 65516
MAX_PKT = MAX_DATA + 4
FLUSH = b"0000"
_HEX = frozenset(b"0123456789abcdefABCDEF")


class ProtocolError(Exception):
    """The peer broke the framing; the conversation cannot go on."""


class PktReader:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._scratch: bytearray | None = None

    def scratch(self) -> bytearray:
        """A buffer for content read and thrown away or joined, made once: a fresh 1 MiB
        bytearray is an mmap and a memset, which every delayed file's second request paid."""
        if self._scratch is None:
            self._scratch = bytearray(MAX_DATA * 16)
        return self._scratch

    def _header(self) -> int:
        hdr = self._stream.read(4)
        if len(hdr) != 4:
            if not hdr:
                raise EOFError
            raise ProtocolError("truncated pkt-line header")
        if not all(c in _HEX for c in hdr):
            raise ProtocolError(f"bad pkt-line header {hdr!r}")
        n = int(hdr, 16)
        if n == 0:
            return 0
        if n <= 4 or n > MAX_PKT:
            raise ProtocolError(f"bad pkt-line length {n}")
        return n - 4

    def read_pkt(self) -> bytes | None:
        """The next packet's data, or None for a flush packet. EOFError at a clean end."""
        n = self._header()
        if n == 0:
            return None
        data = self._stream.read(n)
        if len(data) != n:
            raise ProtocolError("truncated pkt-line")
        return data

    def read_text_list(self) -> list[bytes]:
        """Text packets up to the next flush, each without its trailing LF."""
        items: list[bytes] = []
        while True:
            pkt = self.read_pkt()
            if pkt is None:
                return items
            items.append(pkt[:-1] if pkt.endswith(b"\n") else pkt)

    def content(self) -> ContentReader:
        return ContentReader(self)


class ContentReader:
    """The packets up to the next flush, read as one binary stream (readinto/read).

    Packet payloads go straight from the pipe into the caller's buffer: no per-packet bytes
    objects on the clean path.
    """

    def __init__(self, pkt: PktReader) -> None:
        self._pkt = pkt
        self._stream = pkt._stream
        self._left = 0  # bytes of the current packet not yet read
        self.done = False
        self.size = 0

    def readinto(self, buf: bytearray | memoryview) -> int:
        view = memoryview(buf).cast("B")
        pos = 0
        end = len(view)
        while pos < end and not self.done:
            if self._left == 0:
                try:
                    n = self._pkt._header()
                except EOFError:
                    raise ProtocolError("input ended inside content, before its flush") from None
                if n == 0:
                    self.done = True
                    break
                self._left = n
            want = min(self._left, end - pos)
            got = self._stream.readinto(view[pos : pos + want])  # type: ignore[attr-defined]
            if not got:
                raise ProtocolError("truncated pkt-line content")
            pos += got
            self._left -= got
        self.size += pos
        return pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            chunks: list[bytes] = []
            buf = self._pkt.scratch()
            while True:
                k = self.readinto(buf)
                if not k:
                    return b"".join(chunks)
                chunks.append(bytes(buf[:k]))
        buf = bytearray(n)
        k = self.readinto(buf)
        return bytes(buf[:k])

    def drain(self) -> None:
        """Consume whatever is left up to the flush (after a handler stopped reading)."""
        if self.done:
            return
        buf = self._pkt.scratch()
        while self.readinto(buf):
            pass


class PktWriter:
    def __init__(self, stream: BinaryIO, chunk_pkts: int = 16) -> None:
        self._stream = stream
        self._buf = bytearray(MAX_PKT * chunk_pkts)

    def write_pkt(self, data: bytes | memoryview) -> None:
        if not data or len(data) > MAX_DATA:
            raise ValueError("pkt-line data must be 1..65516 bytes")
        self._stream.write(b"%04x" % (len(data) + 4))
        self._stream.write(data)

    def write_text(self, text: bytes) -> None:
        self.write_pkt(text + b"\n")

    def write_list(self, items: list[bytes]) -> None:
        for item in items:
            self.write_text(item)
        self.write_flush()

    def write_flush(self) -> None:
        self._stream.write(FLUSH)

    def write_data(self, data: bytes | memoryview) -> None:
        """Content held in memory, split into packets (no flush)."""
        view = memoryview(data)
        for i in range(0, len(view), MAX_DATA):
            self.write_pkt(view[i : i + MAX_DATA])  # no copy: the stream's buffer takes it

    def write_stream(self, src: BinaryIO) -> int:
        """Copy `src` to packets (no flush), filling each buffer with several whole packets
        read straight into place, so a large file costs one write() per ~1 MiB."""
        view = memoryview(self._buf)
        cap = len(view)
        total = 0
        while True:
            pos = 0
            eof = False
            while pos + MAX_PKT <= cap:
                n = src.readinto(view[pos + 4 : pos + MAX_PKT])  # type: ignore[attr-defined]
                if not n:
                    eof = True
                    break
                view[pos : pos + 4] = b"%04x" % (n + 4)
                pos += n + 4
                total += n
                if n < MAX_DATA:
                    break  # a short read: send what we have, then read on
            if pos:
                self._stream.write(view[:pos])
            if eof:
                return total

    def flush(self) -> None:
        self._stream.flush()
