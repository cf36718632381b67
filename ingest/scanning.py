"""Finding the documents: which files are under the folders, what they are called, and their content hashes.

A file whose size, modification and change times and inode are those recorded when it was last hashed
(and that was not modified within two seconds of that hashing) keeps its recorded hash without being
read: git's rule for a clean work tree. Any write to a file changes its change time, which no program
can set back, so an edited file is always read and hashed again.

A document with a sidecar (ingest.metadata) is hashed with it and is read on every scan (its record is
never trusted), so adding, editing or removing only the sidecar is seen. An archive export is read on
every scan too: each of its rows is a document of its own (ingest.archives), named `file#key`.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.archives import ARCHIVE_SUFFIXES, BadRow
from ingest.catalog import FileStat
from ingest.documents import archive_rows, document_hash, is_sidecar, read_sidecar_bytes
from ingest.loading import MAX_FILE_BYTES, READERS, SkipFile, supported_types
from ingest.metadata import SIDECAR_SUFFIX
from ingest.reports import Skipped

RACY_NS = 2_000_000_000
"""A file modified this close to (or after) the moment it was hashed is hashed again on every scan."""


@dataclass(frozen=True, slots=True)
class Scanned:
    """A readable document found under the folders."""

    source: str
    origin: str
    """The file's real path (a symbolic link's target)."""
    hash: str
    stat: FileStat
    archive: str | None = None
    """For a row of an archive export: the export's own document name (the row is read from `origin`)."""


@dataclass(frozen=True, slots=True)
class Scan:
    """Every document found, the files skipped, and how many were read to be hashed."""

    files: dict[str, Scanned]
    skipped: tuple[Skipped, ...]
    hashed: int


def scan(
    roots: Sequence[Path],
    docs_dir: Path,
    known: Mapping[str, FileStat],
    fields: Mapping[str, str] | None = None,
) -> Scan:
    """Walk `roots`; `known` holds the recorded stat of each indexed source (hashes of unchanged files are reused).

    `fields` names the columns of archive exports (ingest.archives.parse_field_spec).
    """
    docs_dir = docs_dir.resolve()
    scanned: dict[str, Scanned] = {}
    skipped: list[Skipped] = []
    hashed = 0
    for root in roots:
        if root.is_file():
            base = root.resolve().parent
            entries: Iterable[tuple[str, str, bool]] = [(str(base), root.name, root.is_symlink())]
        else:
            base = root.resolve()
            entries = walk(base)
        anchor = docs_dir if base.is_relative_to(docs_dir) else base
        single = root.is_file()
        for folder, group in itertools.groupby(entries, key=lambda entry: entry[0]):
            listed = [(name, link) for _, name, link in group]
            names = {name for name, _ in listed}
            # most folders hold no sidecar at all: then no name needs to be looked at for one
            sidecars = any(name.lower().endswith(SIDECAR_SUFFIX) for name in names)
            for name, link in listed:
                if sidecars and not single and is_sidecar(name, names):
                    continue  # read with its document
                full = os.path.join(folder, name)
                source = _relative(folder, name, anchor)
                suffix = os.path.splitext(name)[1].lower()  # once per file: a scan visits every file
                stat, reason = _stat(full, base, link, suffix)
                if stat is None:
                    skipped.append(Skipped(source, reason))
                    continue
                origin = str(Path(full).resolve()) if link else full
                if suffix in ARCHIVE_SUFFIXES:
                    hashed += 1
                    try:
                        _scan_rows(source, origin, stat, fields, scanned, skipped)
                    except SkipFile as error:
                        skipped.append(Skipped(source, str(error)))
                    except OSError as error:
                        skipped.append(Skipped(source, f"cannot be read ({error.strerror})"))
                    continue
                if source in scanned and scanned[source].origin != origin:
                    skipped.append(Skipped(source, f"another file named {source} is already being indexed"))
                    continue
                sidecar = sidecars and _has_sidecar(name, names)
                recorded = known.get(source)
                if recorded is not None and not sidecar and _trusted(recorded, stat):
                    scanned[source] = Scanned(source, origin, recorded.hash, recorded)
                    continue
                started = time.time_ns()
                try:
                    with open(full, "rb") as handle:
                        data = handle.read()
                except OSError as error:
                    skipped.append(Skipped(source, f"cannot be read ({error.strerror})"))
                    continue
                hashed += 1
                if sidecar:
                    digest = document_hash(data, read_sidecar_bytes(Path(full)))
                    stat_record = FileStat.of(stat, digest, 0)  # never trusted: the sidecar may change alone
                else:
                    digest = document_hash(data)
                    stat_record = FileStat.of(stat, digest, started)
                scanned[source] = Scanned(source, origin, digest, stat_record)
    return Scan(scanned, tuple(sorted(skipped, key=lambda s: s.path)), hashed)


def _scan_rows(
    source: str,
    origin: str,
    stat: os.stat_result,
    fields: Mapping[str, str] | None,
    scanned: dict[str, Scanned],
    skipped: list[Skipped],
) -> None:
    """Each row of an archive export as a document of its own (streamed: one row in memory at a time).

    A row's record is never trusted (hashed at 0): the export is read on every scan.
    """
    for name, row in archive_rows(Path(origin), source, fields):
        if isinstance(row, BadRow):
            skipped.append(Skipped(name, row.reason))
        elif name in scanned and scanned[name].origin != origin:
            skipped.append(Skipped(name, f"another document named {name} is already being indexed"))
        else:
            size = len(row.text.encode("utf-8"))
            record = FileStat(row.hash, size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, 0)
            scanned[name] = Scanned(name, origin, row.hash, record, source)


def _has_sidecar(name: str, names: set[str]) -> bool:
    """True when the folder listing `names` holds a sidecar of document `name` (ingest.metadata.sidecar_path)."""
    candidates = {name + SIDECAR_SUFFIX, os.path.splitext(name)[0] + SIDECAR_SUFFIX}
    candidates.discard(name)
    return any(c in names for c in candidates)


def walk(root: Path) -> Iterator[tuple[str, str, bool]]:
    """(folder, name, is a symbolic link) of every file under the real folder `root`, sorted, hidden ones skipped.

    Symbolic links to folders are yielded like files (and then skipped: they are not followed).
    """
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                found = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            continue
        folders = []
        for entry in found:
            if entry.name.startswith("."):
                continue
            link = entry.is_symlink()
            if not link and entry.is_dir():
                folders.append(entry.path)
            else:
                yield folder, entry.name, link
        pending.extend(reversed(folders))


def source_name(absolute: Path, base: Path, docs_dir: Path) -> str:
    """The name a file is indexed under: relative to the documents folder, else to the folder given."""
    for anchor in (docs_dir, base):
        try:
            return absolute.relative_to(anchor).as_posix()
        except ValueError:
            continue
    return absolute.name


def _relative(folder: str, name: str, anchor: Path) -> str:
    """`folder/name` relative to `anchor` (a folder above it), with forward slashes."""
    prefix = str(anchor)
    if folder == prefix:
        return name
    if folder.startswith(prefix + os.sep):
        return folder[len(prefix) + 1 :].replace(os.sep, "/") + "/" + name
    return source_name(Path(folder, name), anchor, anchor)


def _trusted(recorded: FileStat, stat: os.stat_result) -> bool:
    """True when the file is as it was hashed, and was not modified around the time it was hashed."""
    same = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino) == (
        recorded.size,
        recorded.mtime_ns,
        recorded.ctime_ns,
        recorded.inode,
    )
    return same and max(recorded.mtime_ns, recorded.ctime_ns) < recorded.hashed_at_ns - RACY_NS


def _stat(full: str, base: Path, link: bool, suffix: str) -> tuple[os.stat_result | None, str]:
    """The file's stat, or None and why it is skipped; `suffix` is the name's, lower-cased (a file at a time:
    strings, not Path objects)."""
    if link:
        try:
            target = Path(full).resolve(strict=True)
        except (OSError, RuntimeError):
            return None, "broken symbolic link"
        if not target.is_relative_to(base):
            return None, "symbolic link pointing outside the documents folder"
        if not target.is_file():
            return None, "not a regular file"
    if suffix not in READERS and suffix not in ARCHIVE_SUFFIXES:
        shown = os.path.splitext(full)[1]
        return None, f"unsupported file type {shown or '(none)'}; use {supported_types()}, or .jsonl/.csv/.tsv exports"
    try:
        stat = os.stat(full)
    except OSError as error:
        return None, f"cannot be read ({error.strerror})"
    if stat.st_size > MAX_FILE_BYTES and suffix not in ARCHIVE_SUFFIXES:  # an export is streamed row by row
        return None, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it into smaller files"
    return stat, ""
