"""The virus scanner every attachment passes before it is stored, behind one interface:

- `none`: nothing is scanned (a centre without a scanner; each row says `unscanned`);
- `command`: a program run on a temporary file holding the bytes, exit 0 clean and
  1 infected, as ClamAV's `clamscan`/`clamdscan` and most command-line scanners answer;
- `clamd`: ClamAV's daemon over TCP, the bytes sent with its INSTREAM command.

A scanner that cannot give an answer (not running, timed out, an error) raises
`ScannerUnavailable`: the caller refuses the file (fail closed) unless the centre chose
to store it unscanned.
"""

from __future__ import annotations

import os
import shlex
import socket
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Protocol

from services.intake.config import IntakeConfig

# clamd reads INSTREAM in chunks; 64 KiB keeps each send well under its buffers.
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Verdict:
    infected: bool
    # What the scanner found (its signature name), when infected.
    signature: str | None = None
    # How the file was checked, as the attachment's row records it.
    scan: str = "clean"


CLEAN = Verdict(infected=False)
UNSCANNED = Verdict(infected=False, scan="unscanned")


class ScannerUnavailable(Exception):
    """The scanner gave no answer: the file's fate is the caller's policy."""


class Scanner(Protocol):
    def scan(self, data: bytes, *, name: str) -> Verdict: ...


class NoScanner:
    def scan(self, data: bytes, *, name: str) -> Verdict:
        return UNSCANNED


class CommandScanner:
    """Runs `command` with a temporary file's path appended."""

    def __init__(self, command: str, *, timeout: float) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("INTAKE_ATTACHMENT_SCAN_COMMAND is empty")
        self.timeout = timeout

    def scan(self, data: bytes, *, name: str) -> Verdict:
        # Owner-only, and gone when the scan is over: the bytes may be someone's ID card.
        with tempfile.TemporaryDirectory(prefix="attachment-scan-") as folder:
            path = os.path.join(folder, "upload")
            with open(path, "wb") as out:
                out.write(data)
            try:
                done = subprocess.run(  # noqa: S603 - the centre's configured scanner
                    [*self.argv, path],
                    capture_output=True,
                    timeout=self.timeout,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ScannerUnavailable(f"{self.argv[0]}: {type(exc).__name__}: {exc}") from None
        output = done.stdout.decode("utf-8", "replace").strip()
        if done.returncode == 0:
            return CLEAN
        if done.returncode == 1:
            return Verdict(infected=True, signature=_found(output.replace(path, name)))
        error = done.stderr.decode("utf-8", "replace").strip() or output
        raise ScannerUnavailable(f"{self.argv[0]} exited {done.returncode}: {error[:200]}")


class ClamdScanner:
    """ClamAV's daemon at `host:port`, spoken to as its clients do (INSTREAM)."""

    def __init__(self, address: str, *, timeout: float) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"INTAKE_ATTACHMENT_CLAMD_ADDRESS: {address!r} is not host:port")
        self.host, self.port, self.timeout = host, int(port), timeout

    def scan(self, data: bytes, *, name: str) -> Verdict:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as conn:
                conn.sendall(b"zINSTREAM\0")
                for start in range(0, len(data), _CHUNK):
                    chunk = data[start : start + _CHUNK]
                    conn.sendall(struct.pack("!I", len(chunk)) + chunk)
                conn.sendall(struct.pack("!I", 0))
                reply = _read_reply(conn)
        except OSError as exc:
            # clamd closes the connection on a stream over its StreamMaxLength: the
            # reply it wrote first says so, when it could be read.
            raise ScannerUnavailable(
                f"clamd at {self.host}:{self.port}: {type(exc).__name__}: {exc}"
            ) from None
        # "stream: OK", "stream: Eicar-Signature FOUND", "… ERROR"
        answer = reply.split(":", 1)[1].strip() if ":" in reply else reply.strip()
        if answer == "OK":
            return CLEAN
        if answer.endswith(" FOUND"):
            return Verdict(infected=True, signature=answer.removesuffix(" FOUND").strip())
        raise ScannerUnavailable(f"clamd at {self.host}:{self.port} answered {reply!r}")


def _read_reply(conn: socket.socket) -> str:
    received = b""
    while not received.endswith(b"\0"):
        part = conn.recv(4096)
        if not part:
            break
        received += part
        if len(received) > 64 * 1024:
            break
    if not received:
        raise ConnectionResetError("clamd closed the connection without an answer")
    return received.rstrip(b"\0").decode("utf-8", "replace")


def _found(output: str) -> str | None:
    """The signature name in a scanner's `<file>: <signature> FOUND` line."""
    for line in output.splitlines():
        line = line.strip()
        if line.endswith(" FOUND"):
            found = line.removesuffix(" FOUND")
            return found.split(": ", 1)[1] if ": " in found else found
    return output.splitlines()[0][:200] if output else None


def scanner_for(config: IntakeConfig) -> Scanner:
    if config.attachment_scanner == "command":
        return CommandScanner(
            config.attachment_scan_command, timeout=config.attachment_scan_timeout_seconds
        )
    if config.attachment_scanner == "clamd":
        return ClamdScanner(
            config.attachment_clamd_address, timeout=config.attachment_scan_timeout_seconds
        )
    return NoScanner()
