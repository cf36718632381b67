"""Files added through the chat: checked, named safely and saved into the documents folder, never outside it."""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ingest.archives import ARCHIVE_SUFFIXES
from ingest.files import hash_bytes
from ingest.loading import MAX_FILE_BYTES, READERS
from ingest.sync import NoDocumentsError

MAX_UPLOAD_MB = MAX_FILE_BYTES // (1024 * 1024)
UPLOAD_TYPES = sorted({*READERS, *ARCHIVE_SUFFIXES})
"""Articles, and archive exports with one article a row."""
Outcome = Literal["saved", "duplicate", "refused"]


@dataclass(frozen=True, slots=True)
class SavedUpload:
    """What happened to one uploaded file: saved (under `name`), a duplicate of a file there, or refused."""

    name: str
    outcome: Outcome
    message: str


class DocumentsFolderMissingError(NoDocumentsError):
    """The documents folder does not exist: nothing is saved (re-creating it empty would empty the index)."""


def sanitize_filename(name: str) -> str:
    """A safe file name: no folders, no control or bidi characters, no leading dots; Arabic letters kept."""
    name = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[\s]+", " ", re.sub(r'[<>:"/|?*]', "_", name)).strip(" .")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = stem[:120] or "document"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def save_uploads(
    paths: Sequence[str | os.PathLike[str]], docs_dir: Path, max_mb: int = MAX_UPLOAD_MB
) -> tuple[SavedUpload, ...]:
    """Copy uploaded files into `docs_dir`; refuse bad types and sizes; report duplicates of files already there.

    Raises DocumentsFolderMissingError when `docs_dir` does not exist: the folder is never re-created, since an
    ingest of an empty folder would remove every document from the index.
    """
    if not docs_dir.is_dir():
        raise DocumentsFolderMissingError(
            f"The documents folder {docs_dir} does not exist, so nothing was saved and the index is unchanged. "
            "Restore the folder (or mount its disk), or restart with --docs DIR / ASSISTANT_DOCS_DIR pointing at it."
        )
    root = docs_dir.resolve()
    existing = {hash_bytes(p.read_bytes()): p.name for p in root.iterdir() if p.is_file()}
    results = []
    for raw in paths:
        path = Path(raw)
        name = sanitize_filename(path.name)
        if Path(name).suffix.lower() not in READERS:
            results.append(SavedUpload(name, "refused", f"only {', '.join(UPLOAD_TYPES)} files can be indexed"))
            continue
        if path.stat().st_size > max_mb * 1024 * 1024:
            results.append(SavedUpload(name, "refused", f"larger than {max_mb} MB; split it into smaller files"))
            continue
        data = path.read_bytes()
        digest = hash_bytes(data)
        if digest in existing:
            results.append(SavedUpload(name, "duplicate", f"same content as {existing[digest]}, which is kept"))
            continue
        target = _free_name(root, name)
        if target.resolve().parent != root:  # belt and braces: the sanitized name has no folders
            results.append(SavedUpload(name, "refused", "invalid file name"))
            continue
        shutil.copyfile(path, target)
        existing[digest] = target.name
        results.append(SavedUpload(target.name, "saved", "saved"))
    return tuple(results)


def _free_name(root: Path, name: str) -> Path:
    target = root / name
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 1
    while target.exists():
        target = root / f"{stem}-{number}{suffix}"
        number += 1
    return target
