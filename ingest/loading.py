"""Reading documents from disk: text, Markdown, HTML and PDF, each to plain text."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024
"""Larger files are skipped unread: a news article is kilobytes; a file this big is a dump to split first."""


class SkipFile(Exception):
    """A file that cannot be ingested; the message is the reason shown to the user."""


def decode_text(data: bytes) -> str:
    """UTF-8 text with or without BOM, line endings unified to \\n; binary data is refused."""
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SkipFile(f"not valid UTF-8 (byte {error.start}); save the file as UTF-8 and ingest again") from error
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_html(data: bytes) -> str:
    """Visible text of an HTML page, one block element per line."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data), "lxml")
    for element in soup(["script", "style", "noscript", "template", "head", "svg", "iframe", "nav", "footer"]):
        element.decompose()
    return soup.get_text("\n")


def read_pdf(data: bytes) -> str:
    """The text layer of a PDF; a scanned PDF without one is refused."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as error:
        raise SkipFile(f"unreadable PDF ({error})") from error
    text = "\n".join(pages).replace("\r\n", "\n")
    if not text.strip():
        raise SkipFile("PDF has no text layer (scanned?); run OCR on it first")
    return text


READERS: dict[str, Callable[[bytes], str]] = {
    ".txt": decode_text,
    ".md": decode_text,
    ".markdown": decode_text,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
}


def is_supported(path: Path) -> bool:
    """True when the extension is one ingest reads."""
    return path.suffix.lower() in READERS


def read_document(path: Path, data: bytes) -> str:
    """Plain text of a document whose bytes are `data`; raises SkipFile with the reason."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise SkipFile(f"unsupported file type {path.suffix or '(none)'}; use .txt, .md, .html or .pdf")
    if not data.strip():
        raise SkipFile("empty file")
    if len(data) > MAX_FILE_BYTES:
        raise SkipFile(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it into smaller files")
    try:
        text = reader(data)
    except SkipFile:
        raise
    except RecursionError as error:
        raise SkipFile("HTML nested too deeply to parse") from error
    if not text.strip():
        raise SkipFile("no text found")
    return text
