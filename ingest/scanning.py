"""Finding the documents: which files are under the folders, what they are called, and their content hashes.

A file whose size, modification and change times and inode are those recorded when it was last hashed
(and that was not modified within two seconds of that hashing) keeps its recorded hash without being
read: git's rule for a clean work tree. Any write to a file changes its change time, which no program
can set back, so an edited file is always read and hashed again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.catalog import FileStat
from ingest.files import hash_bytes
from ingest.loading import MAX_FILE_BYTES, is_supported
from ingest.reports import Skipped

RACY_NS = 2_000_000_000
"""A file modified this close to (or after) the moment it was hashed is hashed again on every scan."""


@dataclass(frozen=True, slots=True)
class Scanned:
    """A readable document found under the folders."""

    source: str
    origin: Path
    hash: str
    stat: FileStat


@dataclass(frozen=True, slots=True)
class Scan:
    """Every document found, the files skipped, and how many were read to be hashed."""

    files: dict[str, Scanned]
    skipped: tuple[Skipped, ...]
    hashed: int


def scan(roots: Sequence[Path], docs_dir: Path, known: Mapping[str, FileStat]) -> Scan:
    """Walk `roots`; `known` holds the recorded stat of each indexed source (hashes of unchanged files are reused)."""
    docs_dir = docs_dir.resolve()
    scanned: dict[str, Scanned] = {}
    skipped: list[Skipped] = []
    hashed = 0
    folders: dict[Path, Path] = {}  # each folder resolved once per scan, not once per file
    for root in roots:
        base = root.resolve() if root.is_dir() else root.resolve().parent
        files = [root] if root.is_file() else sorted(walk(root))
        for path in files:
            folder = folders.get(path.parent)
            if folder is None:
                folder = folders[path.parent] = path.parent.resolve()
            source = source_name(folder / path.name, base, docs_dir)
            stat, reason = _stat(path, base)
            if stat is None:
                skipped.append(Skipped(source, reason))
                continue
            origin = path.resolve() if path.is_symlink() else folder / path.name
            if source in scanned and scanned[source].origin != origin:
                skipped.append(Skipped(source, f"another file named {source} is already being indexed"))
                continue
            recorded = known.get(source)
            if recorded is not None and _trusted(recorded, stat):
                scanned[source] = Scanned(source, origin, recorded.hash, recorded)
                continue
            started = time.time_ns()
            try:
                data = path.read_bytes()
            except OSError as error:
                skipped.append(Skipped(source, f"cannot be read ({error.strerror})"))
                continue
            hashed += 1
            digest = hash_bytes(data)
            scanned[source] = Scanned(source, origin, digest, FileStat.of(stat, digest, started))
    return Scan(scanned, tuple(skipped), hashed)


def walk(root: Path) -> Iterable[Path]:
    """Files under `root`, skipping hidden files and folders."""
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() or path.is_symlink():
            yield path


def source_name(absolute: Path, base: Path, docs_dir: Path) -> str:
    """The name a file is indexed under: relative to the documents folder, else to the folder given.

    `absolute` is the file's resolved folder joined with its own name (a symbolic link keeps its name).
    """
    for anchor in (docs_dir, base):
        try:
            return absolute.relative_to(anchor).as_posix()
        except ValueError:
            continue
    return absolute.name


def _trusted(recorded: FileStat, stat: os.stat_result) -> bool:
    """True when the file is as it was hashed, and was not modified around the time it was hashed."""
    same = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino) == (
        recorded.size,
        recorded.mtime_ns,
        recorded.ctime_ns,
        recorded.inode,
    )
    return same and max(recorded.mtime_ns, recorded.ctime_ns) < recorded.hashed_at_ns - RACY_NS


def _stat(path: Path, base: Path) -> tuple[os.stat_result | None, str]:
    """The file's stat, or None and why it is skipped."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None, "broken symbolic link"
        if not target.is_relative_to(base):
            return None, "symbolic link pointing outside the documents folder"
        if not target.is_file():
            return None, "not a regular file"
    if not is_supported(path):
        return None, f"unsupported file type {path.suffix or '(none)'}; use .txt, .md, .html or .pdf"
    try:
        stat = path.stat()
    except OSError as error:
        return None, f"cannot be read ({error.strerror})"
    if stat.st_size > MAX_FILE_BYTES:
        return None, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it into smaller files"
    return stat, ""
