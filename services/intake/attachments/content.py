"""What a file is, decided by its bytes: the sender's name and declared type are claims
to check, not facts. A photo named leak.jpg whose bytes open with `MZ` is a Windows
program, and is refused as one.

Accepted: photos (JPEG, PNG, GIF, WebP, HEIC/HEIF as iPhones take them), PDF, plain
UTF-8 text, and Word and Excel documents without macros (.docx, .xlsx: a ZIP whose
`[Content_Types].xml` names the document's main part). Anything else is named as what it
looks like ("a Windows executable", "a ZIP archive", "an HTML page") so the refusal says
why. Images are stored as sent: nothing is stripped from them (EXIF included), and they
are served only to those who may see the complaint.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """A type of file that may be attached."""

    mime: str
    label: str
    extensions: tuple[str, ...]  # the first is added to a name that has none
    # Shown in the browser (images); the others are only ever downloaded.
    inline: bool = False

    @property
    def extension(self) -> str:
        return self.extensions[0]


JPEG = Kind("image/jpeg", "a JPEG image", (".jpg", ".jpeg", ".jpe", ".jfif"), inline=True)
PNG = Kind("image/png", "a PNG image", (".png",), inline=True)
GIF = Kind("image/gif", "a GIF image", (".gif",), inline=True)
WEBP = Kind("image/webp", "a WebP image", (".webp",), inline=True)
# Browsers do not show HEIC: it is downloaded like a document.
HEIC = Kind("image/heic", "a HEIC photo", (".heic", ".heif"))
HEIF = Kind("image/heif", "a HEIF image", (".heif", ".heic"))
PDF = Kind("application/pdf", "a PDF document", (".pdf",))
TEXT = Kind("text/plain", "plain text", (".txt", ".text", ".csv", ".log"))
DOCX = Kind(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "a Word document",
    (".docx",),
)
XLSX = Kind(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "an Excel workbook",
    (".xlsx",),
)

KINDS: tuple[Kind, ...] = (JPEG, PNG, GIF, WEBP, HEIC, HEIF, PDF, TEXT, DOCX, XLSX)
BY_MIME = {kind.mime: kind for kind in KINDS}


@dataclass(frozen=True)
class Foreign:
    """Bytes of a kind that is never attached, and what they look like."""

    label: str


# Signatures of what is refused whatever it is called: programs, scripts, archives and
# documents that can carry macros. Checked before the text test: each is binary.
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows executable (MZ header)"),
    (b"\x7fELF", "a Linux executable (ELF)"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable (Mach-O)"),
    (b"\xce\xfa\xed\xfe", "a macOS executable (Mach-O)"),
    (b"\xfe\xed\xfa\xcf", "a macOS executable (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "a Java class or macOS program"),
    (b"\x00asm", "a WebAssembly program"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (.doc/.xls: may carry macros)"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"{\\rtf", "an RTF document"),
    (b"\x00\x00\x01\x00", "a Windows icon"),
    (b"OggS", "an Ogg audio or video file"),
    (b"ID3", "an MP3 audio file"),
    (b"fLaC", "a FLAC audio file"),
)
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})
_OFFICE_PARTS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
}
_MACRO_PARTS = re.compile(rb"macroEnabled|vbaProject", re.IGNORECASE)
_CONTENT_TYPE = re.compile(rb'ContentType\s*=\s*"([^"]+)"')
# Markup a browser would run, whatever the name: refused rather than served as text.
_MARKUP = re.compile(
    r"^\s*(<\?xml|<!doctype\s+html|<html|<head|<body|<script|<svg|<iframe)", re.IGNORECASE
)


def identify(data: bytes) -> Kind | Foreign:
    """What `data` is, by its own bytes."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF":
        return Foreign("a RIFF media file (WAV or AVI)")
    if head[4:8] == b"ftyp":
        return _iso_media(data)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return _zip(data)
    if head.startswith((b"PK\x05\x06", b"PK\x07\x08")):
        return Foreign("a ZIP archive")
    for magic, label in _REFUSED_MAGIC:
        if head.startswith(magic):
            return Foreign(label)
    return _text(data)


def _iso_media(data: bytes) -> Kind | Foreign:
    """An ISO base media file (HEIC, AVIF, MP4, QuickTime): by its brands."""
    size = int.from_bytes(data[:4], "big")
    box = data[8 : min(max(size, 16), 256)]
    brands = {box[i : i + 4] for i in range(0, len(box) - 3, 4)} - {b"\x00\x00\x00\x00"}
    brands.discard(box[4:8])  # the minor version, not a brand
    brands.add(box[:4])
    if b"avif" in brands or b"avis" in brands:
        return Foreign("an AVIF image")
    if brands & _HEIC_BRANDS:
        return HEIC
    if brands & _HEIF_BRANDS:
        return HEIF
    if b"qt  " in brands:
        return Foreign("a QuickTime video")
    return Foreign("an MP4 video or audio file")


def _zip(data: bytes) -> Kind | Foreign:
    """A Word or Excel document (without macros), or some other ZIP archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "[Content_Types].xml" not in names:
                return Foreign("a ZIP archive")
            # Read a bounded prefix: the part is a few KB; a bomb gets no further.
            with archive.open("[Content_Types].xml") as part:
                types = part.read(256 * 1024)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError, EOFError):
        return Foreign("a damaged ZIP archive")
    except NotImplementedError:  # a compression method zipfile cannot read
        return Foreign("a ZIP archive")
    if _MACRO_PARTS.search(types) or any(n.lower().endswith("vbaproject.bin") for n in names):
        return Foreign("an Office document with macros")
    for found in _CONTENT_TYPE.findall(types):
        kind = _OFFICE_PARTS.get(found.decode("ascii", "replace"))
        if kind is not None:
            return kind
    return Foreign("an Office document other than Word or Excel (.pptx or another)")


def _text(data: bytes) -> Kind | Foreign:
    """Plain text in UTF-8 (with or without a byte-order mark), and not markup."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Foreign("text in UTF-16 (save it as UTF-8)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Foreign("binary data of no known kind")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f" for ch in text):
        return Foreign("binary data of no known kind")
    if text.startswith("#!"):
        return Foreign("a script")
    found = _MARKUP.match(text[:512])
    if found:
        what = found.group(1).lower()
        if what == "<svg":
            return Foreign("an SVG image (it can carry scripts)")
        if what == "<?xml":
            return Foreign("an XML document")
        return Foreign("an HTML page")
    return TEXT


def accepted_kinds(configured: str) -> tuple[Kind, ...]:
    """The kinds a centre accepts: INTAKE_ATTACHMENT_TYPES, or every kind when empty."""
    wanted = [m.strip().lower() for m in configured.split(",") if m.strip()]
    if not wanted:
        return KINDS
    unknown = [m for m in wanted if m not in BY_MIME]
    if unknown:
        raise ValueError(
            f"INTAKE_ATTACHMENT_TYPES: unknown types {', '.join(unknown)}; "
            f"known: {', '.join(BY_MIME)}"
        )
    return tuple(BY_MIME[m] for m in dict.fromkeys(wanted))


def describe(kinds: tuple[Kind, ...]) -> str:
    """The accepted kinds by their usual extensions: .jpg, .png, …"""
    return ", ".join(dict.fromkeys(kind.extension for kind in kinds))


# --- names ---------------------------------------------------------------------------

NAME_MAX = 200


def clean_name(raw: str | None) -> str:
    """The file's own name as a person would read it: no folders (a browser may send
    C:\\fakepath\\photo.jpg), NFC, no control characters, at most NAME_MAX characters
    with the extension kept. Empty when nothing is left."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = name.strip().strip(".").strip()
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: NAME_MAX - len(ext) - 1] + "." + ext
        else:
            name = name[:NAME_MAX]
    return name


def extension_of(name: str) -> str:
    """`.jpg` of `Photo.JPG`; empty for a name without one."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext or " " in ext or len(ext) > 10:
        return ""
    return "." + ext.lower()
