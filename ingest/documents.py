"""From what the scan found to an Article: a file (with its sidecar) or one row of an archive export.

A document's identity hash covers everything that makes its Article: the file's bytes and, when it
has one, its sidecar's (so editing only the sidecar re-indexes the document). A row's is the hash of
its indexed fields (ingest.archives).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from ingest.archives import BadRow, Row, read_rows, row_source
from ingest.cleaning import clean_text, find_title, find_title_in_raw
from ingest.loading import READERS, SkipFile, load_document
from ingest.metadata import SIDECAR_SUFFIX, parse_sidecar, sidecar_path, with_outlet_from_url
from ingest.records import Article

SIDECAR_SEPARATOR = b"\x00sidecar\x00"


def is_sidecar(name: str, names: Collection[str]) -> bool:
    """True when `name` (in a folder holding `names`) is the sidecar of a document beside it."""
    if not name.lower().endswith(SIDECAR_SUFFIX):
        return False
    stem = name[: -len(SIDECAR_SUFFIX)]
    if stem in names and _has_sidecars(stem):
        return True  # NAME.EXT.json
    return any(other != name and Path(other).stem == stem and _has_sidecars(other) for other in names)  # NAME.json


def _has_sidecars(name: str) -> bool:
    """Documents take a sidecar; archive exports do not (their rows carry their own fields)."""
    return Path(name).suffix.lower() in READERS


def document_hash(data: bytes, sidecar: bytes | None = None) -> str:
    """The identity of a file document: SHA-256 of its bytes, and of its sidecar's when it has one."""
    digest = hashlib.sha256(data)
    if sidecar is not None:
        digest.update(SIDECAR_SEPARATOR + sidecar)
    return digest.hexdigest()


def read_sidecar_bytes(path: Path) -> bytes | None:
    """The bytes of the sidecar of the document at `path`, if it has one (unreadable counts as none)."""
    sidecar = sidecar_path(path)
    if sidecar is None:
        return None
    try:
        return sidecar.read_bytes()
    except OSError:
        return None


def sidecar_name(path: Path) -> str:
    """The file name of the sidecar of `path` (for messages)."""
    found = sidecar_path(path)
    return found.name if found is not None else path.name + SIDECAR_SUFFIX


def file_article(source: str, path: Path, data: bytes, sidecar: bytes | None = None) -> tuple[Article, list[str]]:
    """The Article of a file document and any warnings (a sidecar that could not be used); raises SkipFile.

    Metadata: the sidecar's values first, then what the file itself says; an outlet from the URL's host when
    neither names one. The title: the metadata's, else a headline the scraper repeated, else the first line.
    """
    loaded = load_document(path, data)
    text = clean_text(loaded.text)
    if not text:
        raise SkipFile("nothing left after removing boilerplate")
    warnings: list[str] = []
    meta = loaded.meta
    if sidecar is not None:
        given, problem = parse_sidecar(sidecar, sidecar_name(path))
        if problem:
            warnings.append(f"{source}: {problem}")
        meta = given.or_else(meta)
    meta = with_outlet_from_url(meta)
    title = meta.title or find_title_in_raw(loaded.text, text, Path(source).stem)
    return Article(source, title, text, document_hash(data, sidecar), meta), warnings


def row_article(file_source: str, row: Row) -> Article:
    """The Article of one archive row; raises SkipFile when cleaning leaves nothing."""
    source = row_source(file_source, row.key)
    text = clean_text(row.text)
    if not text:
        raise SkipFile("nothing left after removing boilerplate")
    meta = with_outlet_from_url(row.meta)
    title = meta.title or find_title(text, row.key)
    return Article(source, title, text, row.hash, meta)


def archive_rows(
    path: Path, file_source: str, fields: Mapping[str, str] | None = None, only: Collection[str] | None = None
) -> Iterator[tuple[str, Row | BadRow]]:
    """(document name, row) of every row of an archive file, or only of the rows named in `only`.

    A bad row's name is `<file> line <n>`. Raises SkipFile when the whole file cannot be read.
    """
    for row in read_rows(path, fields):
        if isinstance(row, BadRow):
            if only is None:
                yield f"{file_source} line {row.line}", row
            continue
        source = row_source(file_source, row.key)
        if only is None or source in only:
            yield source, row
