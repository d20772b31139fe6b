"""What a file is, by its bytes; whether its name agrees; and what the virus scanner says
(a stand-in clamd on a real socket, and a command). No database, no object store."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from services.intake.attachments import content
from services.intake.attachments.content import Foreign
from services.intake.attachments.flows import Attachments, TooLarge, Unavailable, UnsupportedType
from services.intake.attachments.scan import (
    ClamdScanner,
    CommandScanner,
    NoScanner,
    Scanner,
    ScannerUnavailable,
)
from services.intake.attachments.store import FilesystemStore
from shared.errors import Unprocessable
from tests.support import files
from tests.support.clamd import EICAR, EICAR_SIGNATURE, FakeClamd, closed_port


def rules(tmp_path: Path, scanner: Scanner | None = None, **changes: object) -> Attachments:
    values: dict[str, object] = {
        "store": FilesystemStore(tmp_path),
        "scanner": scanner or NoScanner(),
        "kinds": content.KINDS,
        "max_bytes": 1024 * 1024,
        "max_per_complaint": 5,
    }
    values.update(changes)
    return Attachments(**values)  # type: ignore[arg-type]


# --- what the bytes are ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "mime"),
    [
        (files.jpeg, "image/jpeg"),
        (files.png, "image/png"),
        (files.gif, "image/gif"),
        (files.webp, "image/webp"),
        (files.heic, "image/heic"),
        (files.pdf, "application/pdf"),
        (files.docx, content.DOCX.mime),
        (files.xlsx, content.XLSX.mime),
        (lambda: "客户补充：漏水从 11 月 3 日开始。\n".encode(), "text/plain"),
    ],
)
def test_a_file_is_known_by_its_bytes(make: Callable[[], bytes], mime: str) -> None:
    found = content.identify(make())
    assert not isinstance(found, Foreign), found
    assert found.mime == mime


@pytest.mark.parametrize(
    ("make", "looks_like"),
    [
        (files.windows_exe, "Windows executable"),
        (files.elf, "Linux executable"),
        (files.docm, "Office document with macros"),
        (files.plain_zip, "ZIP archive"),
        (files.mp4, "MP4 video"),
        (lambda: b"<!DOCTYPE html><html><script>alert(1)</script>", "HTML page"),
        (lambda: b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "SVG image"),
        (lambda: b"#!/bin/sh\nrm -rf /\n", "script"),
        (lambda: bytes(range(256)) * 4, "binary data"),
    ],
)
def test_what_is_never_attached_is_named_for_what_it_is(
    make: Callable[[], bytes], looks_like: str
) -> None:
    found = content.identify(make())
    assert isinstance(found, Foreign)
    assert looks_like in found.label


def test_a_file_named_jpg_whose_bytes_are_a_windows_program_is_refused_for_its_bytes(
    tmp_path: Path,
) -> None:
    with pytest.raises(UnsupportedType) as refused:
        rules(tmp_path).judge(files.windows_exe(), "leak.jpg")
    assert refused.value.status == 415
    message = refused.value.message
    assert "named .jpg but the content is a Windows executable" in message, message
    assert refused.value.details["fields"][0]["field"] == "file"
    assert refused.value.details["looks_like"] == "a Windows executable (MZ header)"


def test_a_photo_named_as_another_kind_of_photo_is_refused_with_what_it_is(
    tmp_path: Path,
) -> None:
    with pytest.raises(Unprocessable) as refused:
        rules(tmp_path).judge(files.jpeg(), "pipe.png")
    assert refused.value.status == 422
    assert "named .png but the content is a JPEG image (.jpg)" in refused.value.message


def test_the_name_is_kept_as_sent_an_extension_added_where_it_had_none(tmp_path: Path) -> None:
    judge = rules(tmp_path).judge
    assert judge(files.jpeg(), "漏水照片.JPG") == (content.JPEG, "漏水照片.JPG")
    assert judge(files.jpeg(), "C:\\fakepath\\IMG_0001.jpeg")[1] == "IMG_0001.jpeg"
    assert judge(files.pdf(), "回复函")[1] == "回复函.pdf"
    assert judge(files.heic(), None)[1] == "attachment.heic"
    assert judge(files.docx(), "../../etc/答复.docx")[1] == "答复.docx"


def test_a_file_over_the_limit_and_an_empty_one_are_refused(tmp_path: Path) -> None:
    attachments = rules(tmp_path, max_bytes=64 * 1024)
    with pytest.raises(TooLarge) as large:
        attachments.judge(files.jpeg(64 * 1024 + 1), "big.jpg")
    assert large.value.status == 413
    assert "over the limit of 64 KB" in large.value.message
    attachments.judge(files.jpeg(64 * 1024), "just-fits.jpg")
    with pytest.raises(Unprocessable, match="empty"):
        attachments.judge(b"", "nothing.jpg")


def test_a_centre_may_take_fewer_kinds(tmp_path: Path) -> None:
    kinds = content.accepted_kinds("image/jpeg, application/pdf")
    assert kinds == (content.JPEG, content.PDF)
    with pytest.raises(UnsupportedType, match="the content is a PNG image, which is not accepted"):
        rules(tmp_path, kinds=kinds).judge(files.png(), "a.png")
    with pytest.raises(ValueError, match="unknown types image/bmp"):
        content.accepted_kinds("image/bmp")


# --- the virus scanner -----------------------------------------------------------------


def test_clamd_passes_a_clean_photo_and_names_the_eicar_test_file() -> None:
    with FakeClamd() as clamd:
        scanner = ClamdScanner(clamd.address, timeout=5)
        photo = files.jpeg(300 * 1024)  # several INSTREAM chunks
        assert scanner.scan(photo, name="pipe.jpg").infected is False
        found = scanner.scan(b"note " + EICAR + b" end", name="eicar.txt")
    assert found.infected is True
    assert found.signature == EICAR_SIGNATURE
    assert clamd.scanned[0] == photo  # every byte reached the scanner, in order


def test_clamd_down_or_refusing_is_no_answer() -> None:
    with pytest.raises(ScannerUnavailable, match="ConnectionRefused"):
        ClamdScanner(f"127.0.0.1:{closed_port()}", timeout=2).scan(files.jpeg(), name="a.jpg")
    with FakeClamd(stream_max=1024) as clamd, pytest.raises(ScannerUnavailable, match="limit"):
        ClamdScanner(clamd.address, timeout=5).scan(files.jpeg(8192), name="a.jpg")


def test_an_infected_file_is_refused_and_a_silent_scanner_refuses_it_too(tmp_path: Path) -> None:
    with FakeClamd() as clamd:
        attachments = rules(tmp_path, ClamdScanner(clamd.address, timeout=5))
        with pytest.raises(Unprocessable) as infected:
            attachments.scan(EICAR, "readme.txt")
    assert infected.value.message == f"file: refused by the virus scanner: {EICAR_SIGNATURE}"
    down = ClamdScanner(f"127.0.0.1:{closed_port()}", timeout=2)
    with pytest.raises(Unavailable) as closed:
        rules(tmp_path, down).scan(files.jpeg(), "a.jpg")
    assert closed.value.status == 503
    assert rules(tmp_path, down, fail_open=True).scan(files.jpeg(), "a.jpg").scan == "unscanned"


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "scanner.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_a_scanning_command_says_clean_infected_or_nothing(tmp_path: Path) -> None:
    # As clamdscan answers: exit 0 clean, 1 with "<file>: <signature> FOUND", 2 an error.
    command = _script(
        tmp_path,
        'if grep -q EICAR "$1"; then echo "$1: Eicar-Test-Signature FOUND"; exit 1; fi\n'
        'if grep -q BROKEN "$1"; then echo "cannot connect to clamd" >&2; exit 2; fi\n'
        "exit 0\n",
    )
    scanner = CommandScanner(command, timeout=10)
    assert scanner.scan(files.pdf(), name="reply.pdf").infected is False
    found = scanner.scan(EICAR, name="eicar.txt")
    assert (found.infected, found.signature) == (True, "Eicar-Test-Signature")
    with pytest.raises(ScannerUnavailable, match="exited 2: cannot connect to clamd"):
        scanner.scan(b"BROKEN", name="x.txt")
    with pytest.raises(ScannerUnavailable):
        CommandScanner(str(tmp_path / "no-such-scanner"), timeout=5).scan(b"x", name="x.txt")
