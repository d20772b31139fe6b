"""A stand-in for ClamAV's daemon that speaks its protocol on a real TCP socket, as the
intake's scanner meets clamd in production: `zINSTREAM\\0` (or `nINSTREAM\\n`), then
chunks each led by its length as 4 bytes in network order, closed by a zero length;
the answer `stream: OK`, `stream: <signature> FOUND` or `INSTREAM size limit exceeded.
ERROR`, ended by the command's delimiter. `zPING\\0` answers `PONG`.

It finds what ClamAV finds in a test: the EICAR test file, whose signature ClamAV's own
database names Win.Test.EICAR_HDB-1. It keeps what it was sent, so a test can tell
that the bytes did reach the scanner.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

# The EICAR anti-virus test file: every scanner reports it, none is harmed by it.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Win.Test.EICAR_HDB-1"


class FakeClamd:
    def __init__(self, *, stream_max: int = 25 * 1024 * 1024) -> None:
        self.stream_max = stream_max
        self.scanned: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-clamd", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeClamd:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            with conn, contextlib.suppress(OSError, ValueError):
                conn.settimeout(5)
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        reader = _Reader(conn)
        first = reader.exactly(1)
        if first == b"z":
            command, end = reader.until(b"\0"), b"\0"
        elif first == b"n":
            command, end = reader.until(b"\n"), b"\n"
        else:
            raise ValueError("clamd commands start with z or n")
        if command == b"PING":
            conn.sendall(b"PONG" + end)
            return
        if command != b"INSTREAM":
            conn.sendall(b"UNKNOWN COMMAND" + end)
            return
        received = bytearray()
        while True:
            (length,) = struct.unpack("!I", reader.exactly(4))
            if length == 0:
                break
            if len(received) + length > self.stream_max:
                conn.sendall(b"INSTREAM size limit exceeded. ERROR" + end)
                return
            received += reader.exactly(length)
        self.scanned.append(bytes(received))
        if EICAR in received:
            conn.sendall(f"stream: {EICAR_SIGNATURE} FOUND".encode() + end)
        else:
            conn.sendall(b"stream: OK" + end)


class _Reader:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def _fill(self) -> None:
        part = self.conn.recv(65536)
        if not part:
            raise ValueError("connection closed mid-command")
        self.buffer += part

    def exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def until(self, delimiter: bytes) -> bytes:
        while delimiter not in self.buffer:
            if len(self.buffer) > 1024:
                raise ValueError("command too long")
            self._fill()
        out, _, self.buffer = self.buffer.partition(delimiter)
        return out


def closed_port() -> int:
    """A port nobody listens on: a scanner that is down."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])
