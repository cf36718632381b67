"""Reading documents from disk: text, Markdown, HTML, PDF and Word, each to plain text and its metadata."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.metadata import html_metadata, split_front_matter
from ingest.records import Metadata

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024
"""Larger files are skipped unread: a news article is kilobytes; a file this big is a dump to split first."""


class SkipFile(Exception):
    """A file that cannot be ingested; the message is the reason shown to the user."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """A document's plain text and the metadata the file itself carries."""

    text: str
    meta: Metadata = field(default_factory=Metadata)


def decode_text(data: bytes) -> str:
    """UTF-8 text with or without BOM, line endings unified to \\n; binary data is refused."""
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SkipFile(f"not valid UTF-8 (byte {error.start}); save the file as UTF-8 and ingest again") from error
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(data: bytes) -> Loaded:
    """A plain text file."""
    return Loaded(decode_text(data))


def read_markdown(data: bytes) -> Loaded:
    """A Markdown file; YAML (---) or TOML (+++) front matter becomes metadata, not text."""
    meta, body = split_front_matter(decode_text(data))
    return Loaded(body, meta)


def read_html(data: bytes) -> Loaded:
    """Visible text of an HTML page, one block element per line, and its metadata (JSON-LD, meta tags, ...)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data), "lxml")
    meta = html_metadata(soup)
    for element in soup(["script", "style", "noscript", "template", "head", "svg", "iframe", "nav", "footer"]):
        element.decompose()
    return Loaded(soup.get_text("\n"), meta)


def read_pdf(data: bytes) -> Loaded:
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
    return Loaded(text)


def read_docx(data: bytes) -> Loaded:
    """A Word document (python-docx): paragraphs and table cells in order; the title of its properties, if set.

    The properties' author and dates are not used: they name whoever saved the file and when (python-docx's own
    template says "python-docx", 2013-12-23), not the article's byline and publication date. A sidecar gives those.
    """
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise SkipFile(f"unreadable Word file ({error}); save it again as .docx") from error
    lines: list[str] = []
    for block in document.iter_inner_content():
        if not isinstance(block, Table):
            lines.append(block.text)
        else:
            for row in block.rows:
                lines.extend(dict.fromkeys(cell.text for cell in row.cells))  # merged cells repeat their text
    title = " ".join((document.core_properties.title or "").split())
    return Loaded("\n".join(lines), Metadata(title=title or None))


READERS: dict[str, Callable[[bytes], Loaded]] = {
    ".txt": read_text,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
}


def is_supported(path: Path) -> bool:
    """True when the extension is one ingest reads."""
    return path.suffix.lower() in READERS


def read_document(path: Path, data: bytes) -> str:
    """Plain text of a document whose bytes are `data`; raises SkipFile with the reason."""
    return load_document(path, data).text


def load_document(path: Path, data: bytes) -> Loaded:
    """Plain text and metadata of a document whose bytes are `data`; raises SkipFile with the reason."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise SkipFile(f"unsupported file type {path.suffix or '(none)'}; use {supported_types()}")
    if not data.strip():
        raise SkipFile("empty file")
    if len(data) > MAX_FILE_BYTES:
        raise SkipFile(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it into smaller files")
    try:
        loaded = reader(data)
    except SkipFile:
        raise
    except RecursionError as error:
        raise SkipFile("HTML nested too deeply to parse") from error
    if not loaded.text.strip():
        raise SkipFile("no text found")
    return loaded


def supported_types() -> str:
    """The document types ingest reads, for messages (".txt, .md, .html, .pdf or .docx")."""
    shown = [".txt", ".md", ".html", ".pdf", ".docx"]
    return ", ".join(shown[:-1]) + f" or {shown[-1]}"
