"""Files as phones, scanners and office programs make them, built here byte by byte so
that each test knows exactly what it sends: the headers that say what a file is, and
padding to the size a test needs."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

_JFIF = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


def jpeg(size: int = 4096, *, seed: int = 0) -> bytes:
    """A JPEG as a phone's camera writes it: SOI, JFIF, then comment segments standing
    for the image data up to `size` bytes, and EOI."""
    body = bytearray(b"\xff\xd8" + _JFIF)
    filler = bytes((seed + i) % 251 for i in range(65533))
    while len(body) + 4 + 2 < size:
        room = min(65533, size - len(body) - 4 - 2)
        body += b"\xff\xfe" + struct.pack(">H", room + 2) + filler[:room]
    return bytes(body) + b"\xff\xd9"


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG (grey pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def gif() -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00"
        b"\x02\x02D\x01\x00;"
    )


def webp() -> bytes:
    payload = b"WEBPVP8 " + struct.pack("<I", 10) + b"\x00" * 10
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def heic() -> bytes:
    """An iPhone photo's opening box: ftyp, brand heic, compatible mif1 and heic."""
    ftyp = b"ftyp" + b"heic" + b"\x00\x00\x00\x00" + b"mif1" + b"heic"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + b"\x00" * 64


def mp4() -> bytes:
    ftyp = b"ftyp" + b"isom" + b"\x00\x00\x02\x00" + b"isom" + b"iso2" + b"mp41"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + b"\x00" * 64


def pdf() -> bytes:
    return (
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


_WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_EXCEL_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
_WORD_MACRO_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"


def _office(main_part: str, main_type: str, *, macros: bool = False) -> bytes:
    types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="{main_part}" ContentType="{main_type}"/>'
        "</Types>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr(main_part.lstrip("/"), "<document>答复：已退还多扣的 30 元。</document>")
        if macros:
            archive.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0macro")
    return out.getvalue()


def docx() -> bytes:
    return _office("/word/document.xml", _WORD_MAIN)


def xlsx() -> bytes:
    return _office("/xl/workbook.xml", _EXCEL_MAIN)


def docm() -> bytes:
    """A Word document with macros (.docm), whatever it is named."""
    return _office("/word/document.xml", _WORD_MACRO_MAIN, macros=True)


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return out.getvalue()


def windows_exe(size: int = 2048) -> bytes:
    """A Windows program: the MZ header and DOS stub every .exe opens with."""
    stub = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44
    stub += struct.pack("<I", 0x80) + b"This program cannot be run in DOS mode.\r\r\n$"
    return (stub + b"\x00" * size)[:size]


def elf() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120
